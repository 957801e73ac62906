"""mount(2), umount2(2), pivot_root(2) and the new mount API (open_tree, move_mount,
fsopen/fsconfig/fsmount, mount_setattr)."""

from __future__ import annotations

import ctypes

from fire.mountflags import *  # noqa: F403  # the flags are part of this module's interface
from fire.mountflags import (
    FSCONFIG_CMD_CREATE,
    FSCONFIG_SET_FLAG,
    FSCONFIG_SET_STRING,
    FSMOUNT_CLOEXEC,
    FSOPEN_CLOEXEC,
)
from fire.syscalls._libc import check, fsencode, libc, syscall

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
