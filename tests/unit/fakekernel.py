"""A recording double of ``fire.syscalls.kernel.Kernel`` with error injection
(youki's ``TestHelperSyscall``), for the init's setup without root.

What no unprivileged process may do (namespaces, mounts, pivot_root, chroot,
mknod, names, prctl, setresuid) is only recorded.  What any process may do inside
a temp-dir rootfs really happens: ``openat2`` (so the confined resolution, the
``mkdir -p`` walk and their fds are the real ones), symlinks, and ``mknod``
becomes an empty regular file.  Handles the kernel would return (``open_tree``,
``fsopen``, ``fsmount``) are real fds of empty directories beside the rootfs, so the
code under test uses and closes them as it would the real ones, and a leak shows in
/proc/self/fd.

Each call is recorded as ``(op, path)``; the path is the one inside the container
where the code names it (``shown``), else the fd's path relative to the rootfs.
``fail_at=N`` fails the Nth call (0-based), ``fail_op="move_mount"`` the first call
of that op; the failure is the ``KernelError(errno, op, path)`` the real wrapper
raises, and the failing call is recorded.
"""

from __future__ import annotations

import errno as errnos
import os
import tempfile

from fire.syscalls import KernelError
from fire.syscalls import ns as nsc
from fire.syscalls.kernel import Kernel


class FakeKernel(Kernel):
    def __init__(self, rootfs: str, *, fail_at: int | None = None, fail_op: str | None = None,
                 errno: int = errnos.EIO) -> None:
        self.rootfs = rootfs.rstrip("/")
        self.fail_at = fail_at
        self.fail_op = fail_op
        self.errno = errno
        self.calls: list[tuple[str, str]] = []
        self.failed: tuple[str, str] | None = None
        self.pivoted = False
        self.handles = 0

    # ------------------------------------------------------------------ helpers
    def ops(self, *names: str) -> list[tuple[str, str]]:
        """The calls of these ops, in order."""
        return [c for c in self.calls if c[0] in names]

    def _call(self, op: str, path: str) -> None:
        index = len(self.calls)
        self.calls.append((op, path))
        if self.failed is None and (index == self.fail_at or op == self.fail_op):
            self.failed = (op, path)
            raise KernelError(self.errno, op, path)

    def where(self, fd: int) -> str:
        """The path of ``fd``, inside the rootfs when it is there; a detached
        mount's as ``mount:``."""
        real = os.readlink(f"/proc/self/fd/{fd}")
        if real == self.rootfs:
            return "/"
        if real.startswith(self.rootfs + "/"):
            return real[len(self.rootfs):]
        if real.startswith(self.rootfs + ".mounts/"):
            return "mount:"
        return real

    def _target(self, target: str) -> str:
        """``/proc/self/fd/N[/rest]`` as the path of fd N (inside the rootfs)."""
        if target.startswith("/proc/self/fd/"):
            fd, _, rest = target[len("/proc/self/fd/"):].partition("/")
            return os.path.join(self.where(int(fd)), rest) if rest else self.where(int(fd))
        return target

    def _handle(self) -> int:
        """A detached mount's fd: an empty directory of its own beside the rootfs
        (fire.storage makes its scratch overlay's directories in one)."""
        os.makedirs(self.rootfs + ".mounts", exist_ok=True)
        path = tempfile.mkdtemp(dir=self.rootfs + ".mounts", prefix="mnt")
        self.handles += 1
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    # ------------------------------------------------------------------ namespaces
    def unshare(self, flags: int) -> None:
        self._call("unshare", nsc._names(flags))

    def setns(self, fd: int, nstype: int, path: str | None = None) -> None:
        self._call("setns", path or nsc._names(nstype))

    def loopback_up(self) -> None:
        self._call("loopback_up", "lo")

    # ------------------------------------------------------------------ process
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0,
              *, what: str = "prctl") -> int:
        self._call(what, str(arg2))
        return 0

    def setresuid(self, ruid: int, euid: int, suid: int, /) -> None:
        self._call("setresuid", str(ruid))

    def setresgid(self, rgid: int, egid: int, sgid: int, /) -> None:
        self._call("setresgid", str(rgid))

    def sethostname(self, name: str) -> None:
        self._call("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._call("setdomainname", name)

    # ------------------------------------------------------------------ paths
    def openat2(self, dirfd: int, path: str, flags: int, resolve: int, mode: int = 0,
                *, shown: str | None = None) -> int:
        self._call("open", shown or path)
        return Kernel.openat2(dirfd, path, flags, resolve, mode, shown=shown)

    def open(self, path: str, flags: int, mode: int = 0o777, *,  # type: ignore[override]
             dir_fd: int | None = None) -> int:
        self._call("open", path)
        if self.pivoted and path.startswith("/"):
            path = self.rootfs + path  # "/" is the rootfs now
        return os.open(path, flags, mode, dir_fd=dir_fd)

    def mknod(self, path: str, mode: int = 0o600, device: int = 0, *,  # type: ignore[override]
              dir_fd: int | None = None) -> None:
        self._call("mknod", self._at(dir_fd, path))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
        os.close(fd)

    def chown(self, path: str, uid: int, gid: int, *,  # type: ignore[override]
              dir_fd: int | None = None, follow_symlinks: bool = True) -> None:
        self._call("chown", self._at(dir_fd, path))

    def symlink(self, src: str, dst: str, target_is_directory: bool = False, *,  # type: ignore[override]
                dir_fd: int | None = None) -> None:
        self._call("symlink", self._at(dir_fd, dst))
        os.symlink(src, dst, dir_fd=dir_fd)

    def _at(self, dir_fd: int | None, name: str) -> str:
        return name if dir_fd is None else os.path.join(self.where(dir_fd), name)

    # ------------------------------------------------------------------ mounts
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None, *, shown: str | None = None) -> None:
        self._call("mount", shown or self._target(target))

    def umount2(self, target: str, flags: int = 0) -> None:
        self._call("umount", self._target(target))

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._call("pivot_root", new_root)
        self.pivoted = True

    def open_tree(self, dirfd: int, path: str, flags: int) -> int:
        self._call("open_tree", path or self.where(dirfd))
        return self._handle()

    def move_mount(self, from_fd: int, from_path: str, to_fd: int, to_path: str, flags: int,
                   *, shown: str | None = None) -> None:
        self._call("move_mount", shown or to_path)

    def mount_setattr(self, dirfd: int, path: str, flags: int, attr_set: int,
                      attr_clr: int = 0, propagation: int = 0, userns_fd: int = 0,
                      *, shown: str | None = None) -> None:
        self._call("mount_setattr", shown or path)

    def fsopen(self, fstype: str) -> int:
        self._call("fsopen", fstype)
        return self._handle()

    def fsconfig_string(self, fsfd: int, key: str, value: str) -> None:
        self._call("fsconfig", f"{key}={self._target(value)}")

    def fsconfig_flag(self, fsfd: int, key: str) -> None:
        self._call("fsconfig", key)

    def fsconfig_create(self, fsfd: int) -> None:
        self._call("fsconfig create", "")

    def fsmount(self, fsfd: int, attr_flags: int = 0) -> int:
        self._call("fsmount", "")
        return self._handle()

    # ------------------------------------------------------------------ root, cwd
    def fchdir(self, fd: int) -> None:  # type: ignore[override]
        self._call("fchdir", self.where(fd))

    def chdir(self, path: str) -> None:  # type: ignore[override]
        self._call("chdir", path)

    def chroot(self, path: str) -> None:  # type: ignore[override]
        self._call("chroot", path)
        self.pivoted = True
