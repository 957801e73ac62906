"""pidfds: a handle on a process that a reused pid cannot fool."""

from __future__ import annotations

import os

from fire.syscalls._libc import syscall


def pidfd_getfd(pidfd: int, targetfd: int) -> int:
    """A copy of ``targetfd`` of the process behind ``pidfd`` (needs ptrace access)."""
    return syscall("pidfd_getfd", pidfd, targetfd, 0, op="pidfd_getfd")


def pidfd_open(pid: int) -> int:
    return os.pidfd_open(pid)
