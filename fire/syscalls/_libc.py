"""The libc handle and the error convention of the syscall boundary.

``CDLL(None)`` is the libc the interpreter already links (no ``find_library``: that
would search the filesystem, and after ``pivot_root`` the filesystem is the
container's).  ``use_errno=True`` is required: without it ``get_errno()`` reads 0.
"""

from __future__ import annotations

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)

_syscall = libc.syscall
_syscall.restype = ctypes.c_long

MACHINE = os.uname().machine

# Numbers of the calls glibc has no wrapper for (or a wrapper newer than Debian's).
_NR: dict[str, dict[str, int]] = {
    "x86_64": {
        "pivot_root": 155, "ioprio_set": 251, "ioprio_get": 252, "keyctl": 250,
        "set_mempolicy": 238, "seccomp": 317, "bpf": 321, "open_tree": 428,
        "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "pidfd_getfd": 438, "close_range": 436, "openat2": 437, "mount_setattr": 442,
        "sched_setattr": 314, "sched_getattr": 315, "get_mempolicy": 239,
    },
    "aarch64": {
        "pivot_root": 41, "ioprio_set": 30, "ioprio_get": 31, "keyctl": 219,
        "set_mempolicy": 237, "seccomp": 277, "bpf": 280, "open_tree": 428,
        "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "pidfd_getfd": 438, "close_range": 436, "openat2": 437, "mount_setattr": 442,
        "sched_setattr": 274, "sched_getattr": 275, "get_mempolicy": 236,
    },
}


def nr(name: str) -> int:
    try:
        return _NR[MACHINE][name]
    except KeyError:
        raise KernelError(38, name) from None  # ENOSYS


class KernelError(OSError):
    """An ``OSError`` that also names the operation (``op``) that failed."""

    def __init__(self, err: int, op: str, path: str | None = None) -> None:
        super().__init__(err, os.strerror(err), path)
        self.op = op

    def __str__(self) -> str:
        where = f" {self.filename}" if self.filename else ""
        return f"{self.op}{where}: {self.strerror}"

    def __reduce__(self) -> tuple[object, ...]:
        return (KernelError, (self.errno, self.op, self.filename))


def fail(op: str, path: str | None = None) -> KernelError:
    return KernelError(ctypes.get_errno(), op, path)


def check(ret: int, op: str, path: str | None = None) -> int:
    if ret < 0:
        raise fail(op, path)
    return ret




def syscall(name: str, *args: object, op: str | None = None, path: str | None = None) -> int:
    """Call the raw syscall ``name``; raise ``KernelError(op, path)`` on failure."""
    cargs = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return check(_syscall(ctypes.c_long(nr(name)), *cargs), op or name, path)


def fsencode(path: str | bytes | None) -> bytes | None:
    if path is None or isinstance(path, bytes):
        return path
    return os.fsencode(path)
