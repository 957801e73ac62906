"""Waiting for containers, and reaping orphans, in a process that is a child subreaper.

The supervisor starts each container through ``fire create``, which forks the
container's init and exits; being a *child subreaper* (``PR_SET_CHILD_SUBREAPER``)
the supervisor then becomes the init's parent, so it can collect the container's
exit status.  It waits on a pidfd (``wait_readable`` on it, then
``waitid(P_PIDFD)``), which names that one process even if its pid is reused.

Processes whose parent died are re-parented to the supervisor too (the children a
container's process left behind when it has no pid namespace, for instance).
They must be reaped or they stay zombies, but a blanket ``waitid(P_ALL)`` would
also collect the status of processes trio is waiting for (``fire create``,
``fire delete``, health checks), and trio would then report a wrong exit code.
So ``reap_orphans`` reaps only children that are zombies *and* unknown: not a
process the supervisor started and waits for (``owned``), not a container it
watches.  And while a process is being spawned (trio's ``Popen`` runs in a
thread, so its pid is not known yet) or a ``fire create`` has not yet told the
container's pid, reaping is held off (``hold``) and done afterwards.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

from fire import procfs
from fire.syscalls import proc as p

if TYPE_CHECKING:
    from collections.abc import Iterator


class ExitStatus:
    __slots__ = ("code", "signal")

    def __init__(self, code: int | None, signal: int | None = None) -> None:
        self.code = code  # None: unknown (not our child)
        self.signal = signal

    @property
    def known(self) -> bool:
        return self.code is not None or self.signal is not None

    def __repr__(self) -> str:
        return f"ExitStatus(code={self.code}, signal={self.signal})"


def become_subreaper() -> None:
    p.prctl(p.PR_SET_CHILD_SUBREAPER, 1, what="prctl(PR_SET_CHILD_SUBREAPER)")


def status_of(info: os.waitid_result) -> ExitStatus:
    if info.si_code == os.CLD_EXITED:
        return ExitStatus(info.si_status)
    return ExitStatus(128 + info.si_status, info.si_status)


class Reaper:
    def __init__(self) -> None:
        self.owned: set[int] = set()  # processes started by us that trio waits for
        self.watched: set[int] = set()  # containers' processes, waited for by pidfd
        self.holds = 0
        self.deferred = False
        self.reaped: list[tuple[int, ExitStatus]] = []  # recent orphans (for the log)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """No orphan reaping inside: a child may exist whose pid we do not know yet."""
        self.holds += 1
        try:
            yield
        finally:
            self.holds -= 1
            if not self.holds and self.deferred:
                self.reap_orphans()

    def reap_orphans(self) -> list[tuple[int, ExitStatus]]:
        """Reap zombie children that nobody waits for; returns what was reaped."""
        if self.holds:
            self.deferred = True
            return []
        self.deferred = False
        found: list[tuple[int, ExitStatus]] = []
        for child in procfs.children(os.getpid()):
            if child in self.owned or child in self.watched:
                continue
            fields = procfs.stat_fields(child)
            if fields is None or fields[0] != "Z":
                continue
            try:
                info = os.waitid(os.P_PID, child, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                continue
            if info is not None:
                found.append((child, status_of(info)))
        self.reaped = (self.reaped + found)[-20:]
        return found

    async def wait(self, pidfd: int, pid: int) -> ExitStatus:
        """Wait for the process behind ``pidfd`` to exit; reap it if it is our child."""
        self.watched.add(pid)
        try:
            while True:
                await trio.lowlevel.wait_readable(pidfd)
                try:
                    # WNOHANG, after wait_readable: this never blocks.
                    info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)  # noqa: ASYNC222
                except ChildProcessError:
                    # Not our child (adopted after a restart of the supervisor):
                    # it has exited, but only its parent can learn how.
                    return ExitStatus(None)
                if info is not None:
                    return status_of(info)
        finally:
            self.watched.discard(pid)


def open_pidfd(pid: int, started: int) -> int | None:
    """A pidfd of ``pid`` if it is still the process that started at ``started``."""
    if pid <= 0:
        return None
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return None
    # Checked after opening: the pidfd pins the process, so a pid reused between
    # the check and the open cannot fool us.  A zombie is still ours to reap.
    fields = procfs.stat_fields(pid)
    if fields is None or int(fields[19]) != started:
        os.close(fd)
        return None
    return fd
