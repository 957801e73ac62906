"""Namespaces: unshare(2), setns(2) and the clone flags."""

from __future__ import annotations

import ctypes

from fire.syscalls._libc import check, libc

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# The spec's namespace names, the flags, and the /proc/PID/ns file of each.
FLAGS = {
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "mount": CLONE_NEWNS,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}
PROC_NAMES = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "user": "user",
    "cgroup": "cgroup",
    "time": "time",
}

libc.unshare.argtypes = [ctypes.c_int]
libc.unshare.restype = ctypes.c_int
libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
libc.setns.restype = ctypes.c_int


def unshare(flags: int) -> None:
    check(libc.unshare(flags), "unshare", _names(flags))


def setns(fd: int, nstype: int, path: str | None = None) -> None:
    check(libc.setns(fd, nstype), "setns", path or _names(nstype))


def _names(flags: int) -> str:
    return ",".join(name for name, bit in FLAGS.items() if flags & bit) or hex(flags)
