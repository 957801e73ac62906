"""Every signal the supervisor gets goes through one channel, to one handler.

``trio.open_signal_receiver`` turns signals into an async iterator (its handler
only records the signal; nothing runs inside a signal handler).  One receiver,
opened before anything is started and never closed while the supervisor runs,
feeds a single unbounded memory channel; one task reads it and acts, in arrival
order:

========================  ====================================================
SIGTERM, SIGINT           graceful stop of every container (along the reverse
                          dependency edges), then exit 0; a second one: SIGKILL
SIGHUP                    reload the TOML file
SIGUSR1                   a status table in the log
SIGCHLD                   reap orphans (``fire.supervisor.reaper``)
``forward_signals``       passed on to the containers that list them (pidfd)
any other (``CAUGHT``)    ignored, with a warning in the log: never fatal
========================  ====================================================

A supervisor killed by a stray signal would leave every container running
unsupervised (and its socket behind), so every signal whose default action ends
or stops a process is received, whatever the file says: a reload that stops
forwarding one makes it "ignored, with a log line", never fatal.  Not received:

* ``FAULTS`` (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGSYS): raised by the CPU or the
  kernel on the faulting instruction.  A handler that returns would run it again,
  for ever; a real one means the interpreter is broken, and dying is right.
* ``IGNORED`` (SIGPIPE, SIGXFSZ): Python ignores them (a write fails with EPIPE or
  EFBIG instead); catching SIGPIPE would log every client that hangs up.
* ``HARMLESS`` (SIGCHLD aside: SIGCONT, SIGURG, SIGWINCH): their default does
  nothing to the process.

Any of these that a container lists in ``forward_signals`` is received and
forwarded all the same.  trio coalesces a signal that arrives again before it is
read; that is harmless for all of these.
"""

from __future__ import annotations

import math
import signal
from typing import TYPE_CHECKING, Protocol

import trio

from fire import events as ev
from fire.signals.table import name as signal_name

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fire.supervisor.bus import Bus
    from fire.supervisor.unit import Unit


class SignalHost(Protocol):
    """What the signal channel does to the supervisor: reap, stop, reload, report,
    and forward a signal to the units that ask for it."""

    @property
    def bus(self) -> Bus: ...
    @property
    def units(self) -> dict[str, Unit]: ...
    def forwarded(self) -> set[int]: ...
    def reap_orphans(self) -> None: ...
    def start_soon(self, fn: Callable[[], Awaitable[object]]) -> None: ...
    async def shutdown(self) -> None: ...
    async def reload(self) -> None: ...
    async def report_status(self) -> None: ...

OWN = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGCHLD})
FAULTS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGSYS})
IGNORED = frozenset({signal.SIGPIPE, signal.SIGXFSZ})
HARMLESS = frozenset({signal.SIGCONT, signal.SIGURG, signal.SIGWINCH})
UNCATCHABLE = frozenset({signal.SIGKILL, signal.SIGSTOP})
# Received from the start, whatever the file says (see the module's docstring).
CAUGHT = frozenset(signal.valid_signals()) - FAULTS - IGNORED - HARMLESS - UNCATCHABLE


class SignalChannel:
    def __init__(self, sup: SignalHost) -> None:
        self.sup = sup
        self.send, self.receive = trio.open_memory_channel[int](math.inf)
        self.listening: set[int] = set()
        self.nursery: trio.Nursery | None = None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            await self.listen(set(CAUGHT) | self.sup.forwarded())
            task_status.started()
            async for signum in self.receive:
                await self.handle(signum)

    async def listen(self, signums: set[int]) -> None:
        """Start receiving ``signums`` too (those not received yet: a reload that
        forwards one of the signals left alone by default).  Receivers are never
        closed early: a signal arriving in the gap would get its default action."""
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
        name = signal_name(signum)
        sup.bus.publish(ev.Signal(id="", signal=name))
        if signum in (signal.SIGTERM, signal.SIGINT):
            sup.start_soon(sup.shutdown)
        elif signum == signal.SIGHUP:
            sup.start_soon(sup.reload)
        elif signum == signal.SIGUSR1:
            sup.start_soon(sup.report_status)
        else:
            self.forward(signum, name)

    def forward(self, signum: int, name: str) -> None:
        sup = self.sup
        listed = [u for u in sup.units.values() if signum in u.conf.forward_signums]
        if not listed:
            sup.bus.publish(ev.Log(id="", level="warning", text=(
                f"{name}: no container forwards it (forward_signals); ignored")))
            return
        sent = 0
        for unit in listed:
            if unit.kill(signum):
                sent += 1
                sup.bus.publish(ev.Signal(id=unit.id, signal=name, target="container"))
        if not sent:
            sup.bus.publish(ev.Log(id="", level="warning", text=(
                f"{name}: no container that forwards it is running; ignored")))
