"""openat2(2): path resolution the kernel confines to a root."""

from __future__ import annotations

import ctypes
import errno
import os

from fire.syscalls._libc import fail, fsencode, libc, syscall

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

O_PATH = os.O_PATH
O_CLOEXEC = os.O_CLOEXEC


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


# How often an EAGAIN of openat2 is retried (libpathrs: 128 as well).
OPENAT2_RETRIES = 128


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0,
            *, shown: str | None = None) -> int:
    """Open ``path`` relative to ``dirfd`` with ``resolve`` restrictions.

    With RESOLVE_IN_ROOT or RESOLVE_BENEATH the kernel fails with EAGAIN when a
    rename or a mount anywhere on the host raced the walk (it cannot prove a ``..``
    stayed inside): with other containers being set up next to this one that
    happens, and openat2(2) says to retry.  Retried a bounded number of times, as
    libpathrs does; only a host that mounts without pause still gets the error.
    """
    how = _OpenHow(flags | O_CLOEXEC, mode, resolve)
    raw = fsencode(path)
    for attempt in range(1, OPENAT2_RETRIES + 1):
        try:
            return syscall("openat2", dirfd, raw, ctypes.byref(how), ctypes.sizeof(how),
                           op="open", path=shown or path)
        except OSError as exc:
            if exc.errno != errno.EAGAIN or attempt == OPENAT2_RETRIES:
                raise
    raise AssertionError("unreachable")


PROC_SUPER_MAGIC = 0x9FA0
SYSFS_MAGIC = 0x62656572
TMPFS_MAGIC = 0x01021994
DEVPTS_SUPER_MAGIC = 0x1CD1
CGROUP_SUPER_MAGIC = 0x27E0EB
CGROUP2_SUPER_MAGIC = 0x63677270
OVERLAYFS_SUPER_MAGIC = 0x794C7630


class _Statfs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("f_bsize", ctypes.c_long),
                ("f_blocks", ctypes.c_ulong), ("f_bfree", ctypes.c_ulong),
                ("f_bavail", ctypes.c_ulong), ("f_files", ctypes.c_ulong),
                ("f_ffree", ctypes.c_ulong), ("f_fsid", ctypes.c_int * 2),
                ("f_namelen", ctypes.c_long), ("f_frsize", ctypes.c_long),
                ("f_flags", ctypes.c_long), ("f_spare", ctypes.c_long * 4)]


def fstatfs_type(fd: int, *, shown: str | None = None) -> int:
    """The filesystem magic number of the filesystem ``fd`` lives on."""
    buf = _Statfs()
    if _libc_fstatfs(fd, ctypes.byref(buf)) < 0:
        raise fail("fstatfs", shown)
    return int(buf.f_type)


_libc_fstatfs = libc.fstatfs
_libc_fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]
_libc_fstatfs.restype = ctypes.c_int
