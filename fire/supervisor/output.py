"""A container's output: one pipe → its rotating log file, and ``log`` events.

The write end of a fresh pipe is ``fire create``'s stdout *and* stderr, which the
init and the container's process inherit; the supervisor reads the other end, so
the log is the output as a terminal would show ``2>&1``, in order.  A container
with a terminal writes to its pty instead, whose master is pumped the same way
(``fire.supervisor.console``).  The pipe (not
the file itself) is what the container holds, so the supervisor can rotate the
file under it.  Reading stops at EOF: when every process holding the write end
has exited.

Each line also becomes a ``log`` event (``stream = "output"``, at most 1 KiB of
it), at most ``per_second`` per container (``[supervisor] output_events``,
default 20): a chatty container must not
flood the event stream or push every other event out of the replay buffer.  The
lines over the limit are counted and said in one event; the log file has them all.

A supervisor that is killed takes the read end with it: a container adopted by
the next supervisor keeps running, but its output can no longer be collected
(its writes fail with EPIPE).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import trio

from fire import events as ev
from fire.supervisor.files import RotatingLog

if TYPE_CHECKING:
    from collections.abc import Callable

LINES_PER_SECOND = 20
MAX_LINE = 1024


class Output:
    def __init__(self, root: str, cid: str, publish: Callable[[ev.AnyEvent], None],
                 max_bytes: int, files: int, per_second: int = LINES_PER_SECOND) -> None:
        self.id = cid
        self.per_second = per_second
        self.publish = publish
        self.log = RotatingLog(root, cid, max_bytes, files)
        self.window = -1.0
        self.shown = 0
        self.hidden = 0

    def pipe(self) -> tuple[int, int]:
        """(read end, write end), both close-on-exec."""
        return os.pipe2(os.O_CLOEXEC)

    async def pump(self, read_fd: int) -> None:
        """Copy ``read_fd`` (a pipe, or a terminal's master) to the log until EOF or
        EIO (a terminal whose processes are gone); the fd is taken over (closed)."""
        stream = trio.lowlevel.FdStream(read_fd)
        partial = b""  # per pump: create's own pipe and a terminal may both feed the log
        try:
            while data := await stream.receive_some(65536):
                self.log.write(data)
                partial = self.lines(partial + data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            if partial:
                self.lines(partial + b"\n")
            self.flush_hidden()
            with trio.CancelScope(shield=True):
                await stream.aclose()

    def lines(self, text: bytes) -> bytes:
        """Publish the complete lines of ``text``; returns the incomplete rest."""
        *complete, rest = text.split(b"\n")
        now = trio.current_time()
        for line in complete:
            if int(now) != int(self.window):
                self.window = now
                self.shown = 0
                self.flush_hidden()
            if self.shown >= self.per_second:
                self.hidden += 1
                continue
            self.shown += 1
            self.publish(ev.Log(id=self.id, stream="output",
                                text=line[:MAX_LINE].decode(errors="replace").rstrip("\r")))
        return rest[-MAX_LINE:]

    def flush_hidden(self) -> None:
        if self.hidden:
            self.publish(ev.Log(id=self.id, level="info",
                                text=f"{self.hidden} more lines of output (fire logs {self.id})"))
            self.hidden = 0

    def close(self) -> None:
        self.log.close()
