"""mount(2), umount2(2), pivot_root(2) and the new mount API (open_tree, move_mount,
fsopen/fsconfig/fsmount, mount_setattr)."""

from __future__ import annotations

import ctypes

from fire.syscalls._libc import check, fsencode, libc, syscall

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_POSIXACL = 0x10000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_I_VERSION = 0x800000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

MS_PROPAGATION = MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE

MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

# open_tree / move_mount / fsmount / mount_setattr
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
AT_RECURSIVE = 0x8000
AT_EMPTY_PATH = 0x1000
AT_SYMLINK_NOFOLLOW = 0x100
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR_IDMAP = 0x100000

libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]
libc.mount.restype = ctypes.c_int
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.umount2.restype = ctypes.c_int


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None, *, shown: str | None = None) -> None:
    """mount(2).  ``shown`` is the path named in an error (the target inside the
    container, when ``target`` is a ``/proc/self/fd/N`` handle)."""
    check(libc.mount(fsencode(source), fsencode(target), fsencode(fstype), flags,
                     fsencode(data)), "mount", shown or target)


def umount2(target: str, flags: int = 0) -> None:
    check(libc.umount2(fsencode(target), flags), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    syscall("pivot_root", fsencode(new_root), fsencode(put_old), op="pivot_root", path=new_root)


def open_tree(dirfd: int, path: str, flags: int) -> int:
    return syscall("open_tree", dirfd, fsencode(path), flags, op="open_tree", path=path)


def move_mount(from_fd: int, from_path: str, to_fd: int, to_path: str, flags: int,
               *, shown: str | None = None) -> None:
    syscall("move_mount", from_fd, fsencode(from_path), to_fd, fsencode(to_path), flags,
            op="move_mount", path=shown or to_path)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(dirfd: int, path: str, flags: int, attr_set: int, attr_clr: int = 0,
                  propagation: int = 0, userns_fd: int = 0, *, shown: str | None = None) -> None:
    attr = _MountAttr(attr_set, attr_clr, propagation, userns_fd)
    syscall("mount_setattr", dirfd, fsencode(path), flags, ctypes.byref(attr),
            ctypes.sizeof(attr), op="mount_setattr", path=shown or path)


def fsopen(fstype: str) -> int:
    return syscall("fsopen", fsencode(fstype), FSOPEN_CLOEXEC, op="fsopen", path=fstype)


def fsconfig_string(fsfd: int, key: str, value: str) -> None:
    syscall("fsconfig", fsfd, FSCONFIG_SET_STRING, fsencode(key), fsencode(value), 0,
            op="fsconfig", path=f"{key}={value}")


def fsconfig_flag(fsfd: int, key: str) -> None:
    syscall("fsconfig", fsfd, FSCONFIG_SET_FLAG, fsencode(key), None, 0, op="fsconfig", path=key)


def fsconfig_create(fsfd: int) -> None:
    syscall("fsconfig", fsfd, FSCONFIG_CMD_CREATE, None, None, 0, op="fsconfig create")


def fsmount(fsfd: int, attr_flags: int = 0) -> int:
    return syscall("fsmount", fsfd, FSMOUNT_CLOEXEC, attr_flags, op="fsmount")
