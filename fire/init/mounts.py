"""Mounts inside the container's mount namespace: the rootfs, config mounts, cgroup
mounts, pivot_root, masked and read-only paths.

Before ``pivot_root`` mounts target ``/proc/self/fd/N`` of an ``O_PATH`` fd resolved
inside the rootfs (``fire.init.paths``); the host's /proc is still visible then.
After it, binds use the new mount API (``open_tree`` + ``move_mount``), which needs
no /proc at all.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from fire.errors import InitError
from fire.init.paths import ensure_mountpoint, fd_path, mkdir_all, open_in_root
from fire.storage import inside as storage
from fire.syscalls import KernelError
from fire.syscalls import mount as m
from fire.syscalls.fs import (
    PROC_SUPER_MAGIC,
    RESOLVE_BENEATH,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
    fstatfs_type,
)
from fire.syscalls.kernel import KERNEL, Kernel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import CgroupMount, MountPlan, Plan

# Files under /proc that may be bind-mounted over (lxcfs and friends), as runc allows.
PROC_BIND_ALLOWED = {
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
    "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
}

# ----------------------------------------------------------------------------- rootfs


def prepare_root(plan: Plan, k: Kernel = KERNEL) -> int:
    """Give "/" the rootfs propagation, bind the rootfs onto itself (or mount the
    overlay whose lower layer it is: fire.storage); return an fd of it.

    pivot_root refuses a shared new root, or one whose parent mount is shared: with
    ``rootfsPropagation: shared`` both are made private here, and ``pivot`` gives
    the new "/" its propagation afterwards (what runc does).

    An unbindable mount cannot be the source of a bind, and the rootfs is bound
    onto itself here, the masks and read-only paths later: with ``unbindable`` the
    host's tree is made rslave (the default) and the new "/" turns unbindable only
    once the container's tree is complete (``finish_root``; crun does the same).

    Without a mount namespace (``plan["chroot"]``) this is the host's tree: "/" is
    left as it is, and the rootfs bound onto itself is the one mount everything
    else goes under; it takes the propagation itself (rslave by default: the host's
    mounts reach the container, the container's do not reach the host's peers).
    The runtime detaches that bind, and all below it, at delete
    (``fire.container.hostmounts``).
    """
    propagation = plan["propagation"]
    if propagation & m.MS_UNBINDABLE:
        propagation = m.MS_SLAVE
    rootfs = plan["rootfs"]
    if plan["chroot"]:
        if plan["overlay"] is not None:
            raise InitError("rootfs: Fire's storage needs a mount namespace "
                            "($.linux.namespaces)", stage="rootfs")
        k.mount(rootfs, rootfs, None, m.MS_BIND | m.MS_REC)
        k.mount(None, rootfs, None, (propagation & ~m.MS_SHARED) or m.MS_SLAVE)
        return _root_fd(plan, k=k)
    k.mount(None, "/", None, m.MS_REC | propagation)
    if plan["overlay"] is not None:
        storage.mount_overlay_root(rootfs, plan["overlay"], k)
    else:
        k.mount(rootfs, rootfs, None, m.MS_BIND | m.MS_REC)
    if propagation & m.MS_SHARED:
        parent = _mountpoint_of(posixpath.dirname(rootfs))
        k.mount(None, parent, None, m.MS_PRIVATE)
        k.mount(None, rootfs, None, m.MS_PRIVATE)
    return _root_fd(plan, k=k)


def _root_fd(plan: Plan, k: Kernel = KERNEL) -> int:
    rootfs = plan["rootfs"]
    rootfd = k.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    if plan["mountpoints"]:
        writable = plan["overlay"] is not None or not plan["root_readonly"]
        userns = any(kind == "user" for kind, _, _ in plan["namespaces"])
        try:
            storage.ensure_mountpoints(rootfd, plan["mountpoints"], writable, userns, k)
        except BaseException:
            os.close(rootfd)
            raise
    return rootfd


def _mountpoint_of(path: str) -> str:
    """The mount point of the mount that holds ``path`` (longest prefix match)."""
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best = point
    return best


# ----------------------------------------------------------------------------- mounts


def mount_all(rootfd: int, plan: Plan, k: Kernel = KERNEL) -> None:
    for mp in plan["mounts"]:
        try:
            if mp["kind"] == "bind":
                _bind(rootfd, mp, k=k)
            elif mp["kind"] == "cgroup":
                _cgroup(rootfd, mp, k=k)
            else:
                _fs(rootfd, mp, k=k)
        except KernelError as exc:
            raise InitError("mount {dest}: {error}", stage="mounts", dest=mp["dest"],
                            error=str(exc)) from None


def _check_proc_dest(mp: MountPlan) -> None:
    dest = posixpath.normpath(mp["dest"])
    if dest == "/proc" and mp["fstype"] != "proc":
        raise InitError("mount {dest}: cannot be mounted: not of type proc", stage="mounts",
                        dest=dest)
    if dest.startswith("/proc/") and mp["kind"] == "bind" and dest not in PROC_BIND_ALLOWED:
        raise InitError("mount {dest}: cannot be mounted: it is inside /proc", stage="mounts",
                        dest=dest)


def _ordinary_dir(rootfd: int, dest: str, k: Kernel = KERNEL) -> int:
    """proc and sysfs must land on a real directory: no symlink on the way."""
    try:
        return open_in_root(rootfd, dest, os.O_PATH | os.O_DIRECTORY, no_symlinks=True, k=k)
    except KernelError as exc:
        if exc.errno == errno.ENOENT:
            os.close(mkdir_all(rootfd, dest, k=k))
            return open_in_root(rootfd, dest, os.O_PATH | os.O_DIRECTORY, no_symlinks=True, k=k)
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
            raise InitError("mount {dest}: must be mounted on an ordinary directory",
                            stage="mounts", dest=dest) from None
        raise


def _fs(rootfd: int, mp: MountPlan, k: Kernel = KERNEL) -> None:
    _check_proc_dest(mp)
    dest = mp["dest"]
    ordinary = mp["fstype"] in ("proc", "sysfs")
    fd = _ordinary_dir(rootfd, dest, k=k) if ordinary else mkdir_all(rootfd, dest, k=k)
    try:
        old = -1
        if mp["tmpcopyup"]:
            old = os.open(fd_path(fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            k.mount(mp["source"] or mp["fstype"], fd_path(fd), mp["fstype"], mp["flags"],
                    mp["data"] or None, shown=dest)
        except KernelError as exc:
            if mp["fstype"] != "sysfs" or exc.errno != errno.EPERM:
                raise
            _sysfs_bind(fd, mp, k=k)
        if old >= 0:
            try:
                new = open_in_root(rootfd, dest, os.O_RDONLY | os.O_DIRECTORY, k=k)
                try:
                    _copy_tree(old, new)
                finally:
                    os.close(new)
            finally:
                os.close(old)
        _after(rootfd, mp, k=k)
    finally:
        os.close(fd)


def _sysfs_bind(fd: int, mp: MountPlan, k: Kernel = KERNEL) -> None:
    """sysfs where the kernel refuses it: in a user namespace that owns no network
    namespace (a rootless container sharing the host's network) mounting sysfs is
    EPERM.  Then the host's /sys is bound instead, recursively, with the mount's
    flags on every mount of the tree (as crun does; runc 1.1.5 fails, and its
    ``spec --rootless`` writes this rbind into config.json instead).  The tree is
    the init's copy of the host's /sys, read before ``pivot_root``."""
    tree = k.open_tree(-100, "/sys", m.OPEN_TREE_CLONE | m.OPEN_TREE_CLOEXEC | m.AT_RECURSIVE)
    try:
        attrs = 0
        for flag, attr in ((m.MS_RDONLY, m.MOUNT_ATTR_RDONLY), (m.MS_NOSUID, m.MOUNT_ATTR_NOSUID),
                           (m.MS_NODEV, m.MOUNT_ATTR_NODEV), (m.MS_NOEXEC, m.MOUNT_ATTR_NOEXEC)):
            if mp["flags"] & flag:
                attrs |= attr
        if attrs:
            k.mount_setattr(tree, "", m.AT_EMPTY_PATH | m.AT_RECURSIVE, attrs, shown=mp["dest"])
        k.move_mount(tree, "", fd, "", m.MOVE_MOUNT_F_EMPTY_PATH | m.MOVE_MOUNT_T_EMPTY_PATH,
                     shown=mp["dest"])
    finally:
        os.close(tree)


def _bind(rootfd: int, mp: MountPlan, k: Kernel = KERNEL) -> None:
    """Clone the source (``open_tree``), set the options' flags on the clone, move it
    into place.  An idmapped mount's clone was made by the runtime (its fd came with
    the plan): see fire.container.idmap; so was, with a user namespace, that of a
    source under --root (fire.storage.detached)."""
    _check_proc_dest(mp)
    source = mp["source"]
    idmap = mp["idmap"]
    if idmap is not None or mp["tree"] >= 0:
        # Made by the runtime: an idmapped tree, or a source under --root this
        # process may not reach (fire.storage.detached).
        tree = idmap["fd"] if idmap is not None else mp["tree"]
        is_dir = stat.S_ISDIR(os.fstat(tree).st_mode)
    else:
        try:
            is_dir = stat.S_ISDIR(os.stat(source).st_mode)
        except OSError as exc:
            raise KernelError(exc.errno or errno.ENOENT, "bind source", source) from None
        recursive = bool(mp["flags"] & m.MS_REC)
        tree = k.open_tree(-100, source, m.OPEN_TREE_CLONE | m.OPEN_TREE_CLOEXEC
                           | (m.AT_RECURSIVE if recursive else 0))
    try:
        if mp["top_set"] or mp["top_clear"]:
            k.mount_setattr(tree, "", m.AT_EMPTY_PATH, mp["top_set"], mp["top_clear"],
                            shown=mp["dest"])
        fd = ensure_mountpoint(rootfd, mp["dest"], is_dir, k=k)
        try:
            k.move_mount(tree, "", fd, "", m.MOVE_MOUNT_F_EMPTY_PATH | m.MOVE_MOUNT_T_EMPTY_PATH,
                         shown=mp["dest"])
        finally:
            os.close(fd)
    finally:
        os.close(tree)
    _after(rootfd, mp, k=k)


def _after(rootfd: int, mp: MountPlan, k: Kernel = KERNEL) -> None:
    """Propagation and recursive attributes apply to the new mount (re-resolved)."""
    if not mp["propagation"] and not (mp["attr_set"] or mp["attr_clear"]):
        return
    fd = open_in_root(rootfd, mp["dest"], k=k)
    try:
        for prop in mp["propagation"]:
            k.mount(None, fd_path(fd), None, prop, shown=mp["dest"])
        if mp["attr_set"] or mp["attr_clear"]:
            k.mount_setattr(fd, "", m.AT_EMPTY_PATH | m.AT_RECURSIVE, mp["attr_set"],
                            mp["attr_clear"], shown=mp["dest"])
    finally:
        os.close(fd)


def _cgroup(rootfd: int, mp: MountPlan, k: Kernel = KERNEL) -> None:
    """``type: cgroup``: on v1/hybrid a tmpfs with one mount per hierarchy (as runc
    does); on v2 a single cgroup2 mount.  With a cgroup namespace each hierarchy is
    mounted fresh (it shows the namespace's root, i.e. the container's cgroup);
    without one, the container's own cgroup directory is bind-mounted."""
    dest = mp["dest"]
    cgroups = mp["cgroups"]
    flags = mp["flags"] & ~m.MS_BIND
    own_ns = mp["source"] == "cgroupns"
    if len(cgroups) == 1 and cgroups[0]["name"] == "":
        _cgroup_one(rootfd, dest, cgroups[0], mp, own_ns, k=k)
        return
    fd = mkdir_all(rootfd, dest, k=k)
    try:
        k.mount("tmpfs", fd_path(fd), "tmpfs", (flags & ~m.MS_RDONLY), "mode=755", shown=dest)
    finally:
        os.close(fd)
    for cg in cgroups:
        sub = posixpath.join(dest, cg["name"])
        _cgroup_one(rootfd, sub, cg, mp, own_ns, k=k)
        for link in cg["links"]:
            dfd = open_in_root(rootfd, dest, os.O_PATH | os.O_DIRECTORY, k=k)
            try:
                k.symlink(cg["name"], link, dir_fd=dfd)
            except FileExistsError:
                pass
            finally:
                os.close(dfd)
    if flags & m.MS_RDONLY:
        fd = open_in_root(rootfd, dest, os.O_PATH | os.O_DIRECTORY, k=k)
        try:
            k.mount_setattr(fd, "", m.AT_EMPTY_PATH, m.MOUNT_ATTR_RDONLY, shown=dest)
        finally:
            os.close(fd)


def _cgroup_one(rootfd: int, dest: str, cg: CgroupMount, mp: MountPlan, own_ns: bool,
                k: Kernel = KERNEL) -> None:
    fd = mkdir_all(rootfd, dest, k=k)
    try:
        if own_ns:
            try:
                k.mount("cgroup", fd_path(fd), cg["fstype"], mp["flags"] & ~m.MS_BIND,
                        cg["options"] or None, shown=dest)
                return
            except KernelError as exc:
                # The same cgroup2 superblock already mounted right there (the host's
                # /sys bound recursively: a rootless config) is EBUSY, and a user
                # namespace may be refused a v1 hierarchy (EPERM): bind the
                # container's own directory instead, as runc does.
                if exc.errno not in (errno.EBUSY, errno.EPERM):
                    raise
        tree = k.open_tree(-100, cg["host_path"], m.OPEN_TREE_CLONE | m.OPEN_TREE_CLOEXEC)
        try:
            if mp["top_set"] or mp["top_clear"]:
                k.mount_setattr(tree, "", m.AT_EMPTY_PATH, mp["top_set"], mp["top_clear"],
                                shown=dest)
            k.move_mount(tree, "", fd, "", m.MOVE_MOUNT_F_EMPTY_PATH | m.MOVE_MOUNT_T_EMPTY_PATH,
                         shown=dest)
        finally:
            os.close(tree)
    finally:
        os.close(fd)


def _copy_tree(src: int, dst: int) -> None:
    """Copy a directory's content (tmpcopyup), keeping modes and owners."""
    for entry in os.scandir(src):
        st = entry.stat(follow_symlinks=False)
        name = entry.name
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, st.st_mode & 0o7777, dir_fd=dst)
            s = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            d = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
            try:
                _copy_tree(s, d)
            finally:
                os.close(s)
                os.close(d)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISREG(st.st_mode):
            s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            d = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, st.st_mode & 0o7777,
                        dir_fd=dst)
            try:
                while os.sendfile(d, s, None, 1 << 20):
                    pass
            finally:
                os.close(s)
                os.close(d)
        else:
            continue
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)


# ----------------------------------------------------------------------------- pivot


def pivot(rootfd: int, no_pivot: bool, propagation: int = 0, chroot: bool = False,
          k: Kernel = KERNEL) -> None:
    """Make the rootfs "/" and forget the host's tree; then "/" takes the rootfs
    propagation when it is shared (see ``prepare_root``).

    Without a mount namespace only chroot will do: pivot_root, or moving the
    rootfs onto "/", would change the root of the host itself."""
    k.fchdir(rootfd)
    if chroot:
        k.chroot(".")
        k.chdir("/")
    elif no_pivot:
        k.mount(".", "/", None, m.MS_MOVE, shown="/")
        k.chroot(".")
        k.chdir("/")
    else:
        _pivot_root(k=k)
    if propagation & m.MS_SHARED:
        k.mount(None, "/", None, propagation, shown="/")


def finish_root(propagation: int, k: Kernel = KERNEL) -> None:
    """The last step of the tree: an unbindable "/" (see ``prepare_root``)."""
    if propagation & m.MS_UNBINDABLE:
        k.mount(None, "/", None, propagation, shown="/")


def _pivot_root(k: Kernel = KERNEL) -> None:
    oldroot = k.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        k.pivot_root(".", ".")
        # The old root is now stacked on top of the new one; we stand in it.
        k.fchdir(oldroot)
        # rslave first, so that detaching it cannot propagate unmounts to the host.
        k.mount(None, ".", None, m.MS_SLAVE | m.MS_REC, shown="old root")
        k.umount2(".", m.MNT_DETACH)
    finally:
        os.close(oldroot)
    k.chdir("/")


# ----------------------------------------------------------------------------- after pivot


def verified_null(rootfd: int, k: Kernel = KERNEL) -> int:
    """An fd of the container's /dev/null, checked to be the real null device."""
    fd = open_in_root(rootfd, "/dev/null", no_symlinks=True, k=k)
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise InitError("maskedPaths: /dev/null is not the null device", stage="paths")
    return fd


def reopen_null(rootfd: int, k: Kernel = KERNEL) -> None:
    """Point stdio that is the *host's* /dev/null at the container's own (runc's
    reOpenDevNull).  The host's node lives on a mount outside the container, which
    CRIU cannot dump (``fire checkpoint``: "Can't lookup mount"); the container's
    is on its /dev and travels with it.  Only fds 0-2 that are a null device other
    than the container's are replaced; the container's node is checked first."""
    try:
        null = open_in_root(rootfd, "/dev/null", os.O_RDWR | os.O_CLOEXEC, no_symlinks=True, k=k)
    except KernelError:
        return  # no /dev/null in the container (a /dev bind without it): leave stdio
    try:
        own = os.fstat(null)
        if not stat.S_ISCHR(own.st_mode) or own.st_rdev != os.makedev(1, 3):
            return
        for fd in range(3):
            try:
                st = os.fstat(fd)
            except OSError:
                continue
            if (stat.S_ISCHR(st.st_mode) and st.st_rdev == own.st_rdev
                    and (st.st_dev, st.st_ino) != (own.st_dev, own.st_ino)):
                os.dup2(null, fd)
    finally:
        os.close(null)


def _open_existing(rootfd: int, path: str, k: Kernel) -> int:
    """``path`` opened inside the root, or -1 when it does not exist there (a masked
    or read-only path the rootfs lacks is skipped, as runc does)."""
    try:
        return open_in_root(rootfd, path, k=k)
    except KernelError as exc:
        if exc.errno == errno.ENOENT:
            return -1
        raise


def mask_paths(rootfd: int, paths: list[str], k: Kernel = KERNEL) -> None:
    null = -1
    try:
        for path in paths:
            fd = _open_existing(rootfd, path, k)
            if fd < 0:
                continue
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    fsfd = k.fsopen("tmpfs")
                    try:
                        # A read-only superblock, named "tmpfs", as runc mounts it.
                        k.fsconfig_string(fsfd, "source", "tmpfs")
                        k.fsconfig_flag(fsfd, "ro")
                        k.fsconfig_create(fsfd)
                        mnt = k.fsmount(fsfd, m.MOUNT_ATTR_RDONLY)
                    finally:
                        os.close(fsfd)
                else:
                    if null < 0:
                        null = verified_null(rootfd, k=k)
                    mnt = k.open_tree(null, "", m.OPEN_TREE_CLONE | m.OPEN_TREE_CLOEXEC
                                      | m.AT_EMPTY_PATH)
                try:
                    k.move_mount(mnt, "", fd, "", m.MOVE_MOUNT_F_EMPTY_PATH
                                 | m.MOVE_MOUNT_T_EMPTY_PATH, shown=path)
                finally:
                    os.close(mnt)
            finally:
                os.close(fd)
    finally:
        if null >= 0:
            os.close(null)


def readonly_paths(rootfd: int, paths: list[str], k: Kernel = KERNEL) -> None:
    for path in paths:
        fd = _open_existing(rootfd, path, k)
        if fd < 0:
            continue
        try:
            tree = k.open_tree(fd, "", m.OPEN_TREE_CLONE | m.OPEN_TREE_CLOEXEC | m.AT_EMPTY_PATH
                               | m.AT_RECURSIVE)
            try:
                k.mount_setattr(tree, "", m.AT_EMPTY_PATH | m.AT_RECURSIVE, m.MOUNT_ATTR_RDONLY,
                                shown=path)
                k.move_mount(tree, "", fd, "", m.MOVE_MOUNT_F_EMPTY_PATH | m.MOVE_MOUNT_T_EMPTY_PATH,
                             shown=path)
            finally:
                os.close(tree)
        finally:
            os.close(fd)


def readonly_root(k: Kernel = KERNEL) -> None:
    k.mount_setattr(-100, "/", 0, m.MOUNT_ATTR_RDONLY, shown="/")


def write_sysctls(rootfd: int, sysctls: list[tuple[str, str]], k: Kernel = KERNEL) -> None:
    """Namespaced sysctls through the container's own procfs, never via a symlink."""
    if not sysctls:
        return
    try:
        procsys = open_in_root(rootfd, "/proc/sys", os.O_PATH | os.O_DIRECTORY, no_symlinks=True, k=k)
    except KernelError as exc:
        raise InitError("sysctl: /proc/sys: {reason}", stage="paths",
                        reason=exc.strerror) from None
    try:
        if fstatfs_type(procsys) != PROC_SUPER_MAGIC:
            raise InitError("sysctl: /proc/sys is not on a procfs", stage="paths")
        for key, value in sysctls:
            rel = key.replace(".", "/")
            fd = k.openat2(procsys, rel, os.O_WRONLY,
                         RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV,
                         shown="/proc/sys/" + rel)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
    finally:
        os.close(procsys)

