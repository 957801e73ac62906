"""The init's storage steps, in the container's mount namespace, before
``pivot_root`` (called from ``fire.init.mounts.prepare_root``).

Only builtin modules and the syscall layer: this runs in the init.

* ``mount_overlay_root``: the overlay whose lower layer is the bundle's rootfs
  (with a user namespace made by the runtime and only attached here),
  mounted *on the rootfs path itself* in the container's mount namespace (its
  propagation to the host is already cut), so the host never sees it.  The
  lower path is looked up when the overlay is configured, before the mount
  covers it.  Built with the new mount API (fsopen/fsconfig/fsmount/move_mount);
  ``lowerdir+`` (Linux 6.8) takes the path as it is, the older ``lowerdir`` needs
  ``:`` and ``\\`` escaped.
* ``ensure_mountpoints``: mount points for the files and directories Fire mounts
  of its own (/etc/hosts, /etc/resolv.conf, volumes).  An existing one is used as
  it is.  A missing one is made in a writable root (the overlay's upper layer, or
  a rootfs that is not read-only).  In a read-only root it is never written into
  the image: the nearest existing directory above it gets an overlay whose upper
  layer is a small tmpfs, the mount point is made there, and that overlay is then
  made read-only like the rest of the root.
"""

from __future__ import annotations

import errno
import os
import posixpath

from fire.errors import InitError
from fire.init.paths import ensure_mountpoint, fd_path, open_in_root
from fire.syscalls import KernelError
from fire.syscalls import mount as m
from fire.syscalls.kernel import KERNEL, Kernel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import OverlayPlan

SCRATCH_SIZE = "1m"  # the tmpfs under a read-only image's directory: mount points only


def _escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(":", "\\:")


def _set_lower(fsfd: int, path: str, k: Kernel = KERNEL) -> None:
    try:
        k.fsconfig_string(fsfd, "lowerdir+", path)
    except KernelError as exc:
        if exc.errno != errno.EINVAL:
            raise
        k.fsconfig_string(fsfd, "lowerdir", _escape(path))


def overlay_mount(lower: str, upper: str, work: str, userxattr: bool,
                  k: Kernel = KERNEL) -> int:
    """A detached overlay mount (fd); also made by the runtime with a user namespace
    (fire.storage.detached)."""
    fsfd = k.fsopen("overlay")
    try:
        _set_lower(fsfd, lower, k)
        k.fsconfig_string(fsfd, "upperdir", upper)
        k.fsconfig_string(fsfd, "workdir", work)
        if userxattr:
            # In a user namespace trusted.* xattrs are out of reach (Linux 5.11+).
            k.fsconfig_flag(fsfd, "userxattr")
        k.fsconfig_create(fsfd)
        return k.fsmount(fsfd)
    finally:
        os.close(fsfd)


def mount_overlay_root(rootfs: str, plan: OverlayPlan, k: Kernel = KERNEL) -> None:
    """Mount the overlay on the rootfs path; with a user namespace the runtime made it
    already (``plan["tree"]``, an fd here: fire.storage.detached) and it is only
    attached, since the upper layer under --root is out of this process's reach."""
    try:
        tree = plan["tree"]
        mnt = tree if tree >= 0 else overlay_mount(rootfs, plan["upper"], plan["work"],
                                                   plan["userxattr"], k)
        try:
            k.move_mount(mnt, "", -100, rootfs, m.MOVE_MOUNT_F_EMPTY_PATH, shown=rootfs)
        finally:
            os.close(mnt)
    except KernelError as exc:
        raise InitError("{stage}: overlay on {path}: {error}", stage="rootfs", path=rootfs,
                        error=str(exc)) from None


def _existing_parent(rootfd: int, path: str, k: Kernel = KERNEL) -> str:
    parent = posixpath.dirname(posixpath.normpath("/" + path.lstrip("/")))
    while parent != "/":
        try:
            os.close(open_in_root(rootfd, parent, os.O_PATH | os.O_DIRECTORY, k=k))
            return parent
        except KernelError as exc:
            if exc.errno != errno.ENOENT:
                raise
        parent = posixpath.dirname(parent)
    return "/"


def _scratch_overlay(rootfd: int, directory: str, userxattr: bool, k: Kernel = KERNEL) -> None:
    """Cover ``directory`` with an overlay of itself over a small tmpfs."""
    dirfd = open_in_root(rootfd, directory, os.O_PATH | os.O_DIRECTORY, k=k)
    try:
        tfs = k.fsopen("tmpfs")
        try:
            k.fsconfig_string(tfs, "size", SCRATCH_SIZE)
            k.fsconfig_string(tfs, "mode", "0755")
            k.fsconfig_create(tfs)
            scratch = k.fsmount(tfs, m.MOUNT_ATTR_NOSUID | m.MOUNT_ATTR_NODEV)
        finally:
            os.close(tfs)
        try:
            os.mkdir("upper", 0o755, dir_fd=scratch)
            os.mkdir("work", 0o755, dir_fd=scratch)
            # The overlay's top directory shows the upper's owner and mode: the image's.
            st = os.fstat(dirfd)
            os.chmod("upper", st.st_mode & 0o7777, dir_fd=scratch)
            os.chown("upper", st.st_uid, st.st_gid, dir_fd=scratch)
            mnt = overlay_mount(fd_path(dirfd), f"{fd_path(scratch)}/upper",
                                f"{fd_path(scratch)}/work", userxattr, k)
        finally:
            os.close(scratch)
        try:
            k.move_mount(mnt, "", dirfd, "", m.MOVE_MOUNT_F_EMPTY_PATH | m.MOVE_MOUNT_T_EMPTY_PATH,
                         shown=directory)
        finally:
            os.close(mnt)
    finally:
        os.close(dirfd)


def ensure_mountpoints(rootfd: int, items: list[tuple[str, bool]], writable: bool,
                       userxattr: bool, k: Kernel = KERNEL) -> None:
    """Make sure each (path, is_dir) exists inside the root (see the module's doc)."""
    covered: list[str] = []
    for path, is_dir in items:
        try:
            try:
                os.close(open_in_root(rootfd, path, k=k))
                continue
            except KernelError as exc:
                if exc.errno != errno.ENOENT:
                    raise
            if not writable:
                parent = _existing_parent(rootfd, path, k)
                if parent == "/":
                    raise InitError("{stage}: {path} is not in the image and the root is "
                                    "read-only: use an overlay rootfs (run.fire.overlay)",
                                    stage="mount " + path, path=path)
                if not any(parent == c or parent.startswith(c + "/") for c in covered):
                    _scratch_overlay(rootfd, parent, userxattr, k)
                    covered.append(parent)
            os.close(ensure_mountpoint(rootfd, path, is_dir, k=k))
        except KernelError as exc:
            raise InitError(None, stage="mount " + path, detail=str(exc)) from None
    for directory in covered:
        fd = open_in_root(rootfd, directory, os.O_PATH | os.O_DIRECTORY, k=k)
        try:
            k.mount_setattr(fd, "", m.AT_EMPTY_PATH, m.MOUNT_ATTR_RDONLY, shown=directory)
        finally:
            os.close(fd)
