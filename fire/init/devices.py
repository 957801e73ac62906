"""/dev inside the container: device nodes and the standard symlinks.

Nodes are made with ``mknodat`` relative to an fd of the container's /dev (resolved
inside the rootfs); an existing entry is replaced, never written through.  In a user
namespace ``mknod`` is not allowed, so the host's node is bind-mounted onto an empty
file instead (runc does the same).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from fire.init.paths import mkdir_all, open_in_root
from fire.syscalls import KernelError
from fire.syscalls import mount as m
from fire.syscalls.kernel import KERNEL, Kernel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import DevicePlan

DEFAULT_DEVICES: list[DevicePlan] = [
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "mode": 0o666, "uid": 0, "gid": 0},
    {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "mode": 0o666, "uid": 0, "gid": 0},
    {"path": "/dev/full", "type": "c", "major": 1, "minor": 7, "mode": 0o666, "uid": 0, "gid": 0},
    {"path": "/dev/random", "type": "c", "major": 1, "minor": 8, "mode": 0o666, "uid": 0,
     "gid": 0},
    {"path": "/dev/urandom", "type": "c", "major": 1, "minor": 9, "mode": 0o666, "uid": 0,
     "gid": 0},
    {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0, "mode": 0o666, "uid": 0, "gid": 0},
]

SYMLINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)

_KIND = {"c": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO, "u": stat.S_IFCHR}


def setup_dev(rootfd: int, devices: list[DevicePlan], defaults: bool, bind: bool,
              k: Kernel = KERNEL) -> None:
    wanted: dict[str, DevicePlan] = {}
    if defaults:
        wanted.update((d["path"], d) for d in DEFAULT_DEVICES)
    wanted.update((posixpath.normpath(d["path"]), d) for d in devices)
    for dev in wanted.values():
        _make(rootfd, dev, bind, k=k)
    if defaults:
        devfd = mkdir_all(rootfd, "/dev", k=k)
        try:
            for name, target in SYMLINKS:
                _replace_link(devfd, name, target, k=k)
            if os.path.exists("/proc/kcore"):
                _replace_link(devfd, "core", "/proc/kcore", k=k)
        finally:
            os.close(devfd)


def _clear(dirfd: int, name: str) -> None:
    """Remove what is at ``name`` (a file, node or link; never a directory's content)."""
    try:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise KernelError(errno.EISDIR, "mknod", name)
    os.unlink(name, dir_fd=dirfd)


def _replace_link(dirfd: int, name: str, target: str, k: Kernel = KERNEL) -> None:
    try:
        if os.readlink(name, dir_fd=dirfd) == target:
            return
    except OSError:
        pass
    try:
        _clear(dirfd, name)
    except KernelError:
        return  # a directory there: leave it (runc does too)
    k.symlink(target, name, dir_fd=dirfd)


def _make(rootfd: int, dev: DevicePlan, bind: bool, k: Kernel = KERNEL) -> None:
    parent, name = posixpath.split(posixpath.normpath(dev["path"]))
    pfd = mkdir_all(rootfd, parent, k=k)
    try:
        _clear(pfd, name)
        if bind:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o644, dir_fd=pfd)
            os.close(fd)
            target = open_in_root(rootfd, dev["path"], no_symlinks=True, k=k)
            try:
                tree = k.open_tree(-100, dev["path"], m.OPEN_TREE_CLONE | m.OPEN_TREE_CLOEXEC)
                try:
                    k.move_mount(tree, "", target, "",
                                 m.MOVE_MOUNT_F_EMPTY_PATH | m.MOVE_MOUNT_T_EMPTY_PATH,
                                 shown=dev["path"])
                finally:
                    os.close(tree)
            finally:
                os.close(target)
            return
        kind = _KIND[dev["type"]]
        device = 0 if dev["type"] == "p" else os.makedev(dev["major"], dev["minor"])
        try:
            k.mknod(name, kind | (dev["mode"] & 0o7777), device, dir_fd=pfd)
        except OSError as exc:
            raise KernelError(exc.errno or errno.EPERM, "mknod", dev["path"]) from None
        k.chown(name, dev["uid"], dev["gid"], dir_fd=pfd, follow_symlinks=False)
    finally:
        os.close(pfd)
