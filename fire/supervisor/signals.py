"""Every signal the supervisor gets goes through one channel, to one handler.

``trio.open_signal_receiver`` turns signals into an async iterator (its handler
only records the signal; nothing runs inside a signal handler).  Receivers feed a
single unbounded memory channel; one task reads it and acts, in arrival order:

========================  ====================================================
SIGTERM, SIGINT           graceful stop of every container (reverse dependency
                          order), then exit 0; a second one: SIGKILL them all
SIGHUP                    reload the TOML file
SIGUSR1                   a status table in the log
SIGCHLD                   reap orphans (``fire.supervisor.reaper``)
``forward_signals``       passed on to the containers that list them (pidfd)
========================  ====================================================

trio coalesces a signal that arrives again before it is read; that is harmless
for all of these.  When a reload adds a signal to forward, a new receiver is
opened for it; receivers are never closed early, because a signal arriving in
the gap would get its default action (for most: terminating the supervisor).
"""

from __future__ import annotations

import math
import signal
from typing import TYPE_CHECKING

import trio

from fire import events as ev
from fire.signals.table import name as signal_name

if TYPE_CHECKING:
    from fire.supervisor.supervisor import Supervisor

OWN = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGCHLD})


class SignalChannel:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.send, self.receive = trio.open_memory_channel[int](math.inf)
        self.listening: set[int] = set()
        self.nursery: trio.Nursery | None = None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            await self.listen(set(OWN) | self.sup.forwarded())
            task_status.started()
            async for signum in self.receive:
                await self.handle(signum)

    async def listen(self, signums: set[int]) -> None:
        """Start receiving ``signums`` too (those not received yet)."""
        new = signums - self.listening
        if not new or self.nursery is None:
            return
        self.listening |= new
        await self.nursery.start(self._receiver, new)

    async def _receiver(self, signums: set[int],
                        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(*signums) as received:
            task_status.started()
            async for signum in received:
                self.send.send_nowait(signum)

    async def handle(self, signum: int) -> None:
        sup = self.sup
        if signum == signal.SIGCHLD:
            sup.reap_orphans()
            return
        sup.bus.publish(ev.Signal(id="", signal=signal_name(signum)))
        if signum in (signal.SIGTERM, signal.SIGINT):
            sup.start_soon(sup.shutdown)
        elif signum == signal.SIGHUP:
            sup.start_soon(sup.reload)
        elif signum == signal.SIGUSR1:
            sup.status_report()
        else:
            for unit in sup.units.values():
                if signum in unit.conf.forward_signums and unit.kill(signum):
                    sup.bus.publish(ev.Signal(id=unit.id, signal=signal_name(signum),
                                              target="container"))
