"""A container's output: its log file, followed into ``log`` events.

The container's fds 1 and 2 are its log file itself, ``<root>/@logs/<id>.log``,
opened ``O_APPEND`` by the supervisor and given to ``fire create`` as its stdout
*and* stderr, which the init and the container's process inherit: the log is the
output as a terminal would show ``2>&1``, in order.  No pipe: the container's
writes do not need the supervisor, so a container that outlives a ``kill -9`` of
its supervisor keeps writing to the file, and the supervisor that adopts it
follows it from where the file then ends (what was written before is in the file,
not re-sent as events).

Following (``Followers``, one task for all the containers): when inotify says a
file was written (or, without inotify, every ``POLL`` seconds), the new bytes are
read from the last offset (``fire.supervisor.files.LogFile``); past
``log_max_bytes`` the file is rotated
by copy-then-truncate, since the writers hold it.  A line still being
written is kept until its newline comes, or until the run ends.

A container with a terminal writes to its pty instead; the supervisor holds the
master and appends what it reads to the same file (``pump``), where the follower
finds it like the rest.  The master dies with the supervisor: a terminal
container's output is not collected after a ``kill -9`` of its supervisor.

Each line also becomes a ``log`` event (``stream = "output"``, at most 1 KiB of
it), at most ``per_second`` per container (``[supervisor] output_events``,
default 20): a chatty container must not flood the event stream or push every
other event out of the replay buffer.  The lines over the limit are counted and
said in one event; the log file has them all.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import trio

from fire import events as ev
from fire.supervisor.files import LogFile, write_all

if TYPE_CHECKING:
    from collections.abc import Callable

LINES_PER_SECOND = 20
MAX_LINE = 1024
POLL = 0.1  # seconds between looks at the file's size, while it is written
QUIET_POLL = 1.0  # ...at most, for a file that had nothing new (doubling from POLL)
GAP = 0.05  # seconds at least between two reads of the files written (told by inotify)
SAFETY = 10.0  # ...and every file is read this often all the same
SWEEP_SLICE = 100  # files read between two checkpoints in that sweep
ROTATE_RETRY = 10.0  # seconds between tries at a rotation that failed (a copy costs)


class Output:
    def __init__(self, root: str, cid: str, publish: Callable[[ev.AnyEvent], None],
                 max_bytes: int, files: int, per_second: int = LINES_PER_SECOND) -> None:
        self.id = cid
        self.per_second = per_second
        self.publish = publish
        self.log = LogFile(root, cid, max_bytes, files)  # followed from its current end
        self.partial = b""  # the start of a line whose end is not written yet
        self.pause = POLL  # between looks: POLL, doubling while nothing new, to QUIET_POLL
        self.next_look = 0.0  # trio time of the next look
        self.window = -1.0
        self.shown = 0
        self.hidden = 0
        self.closing = trio.Event()
        self.pumps = 0  # terminal pumps still appending: followed until they end
        self.rotate_error = ""  # the last rotation's error, said once
        self.rotate_again = 0.0  # trio time before which a failed rotation is not retried
        self.on_close: Callable[[], None] | None = None  # the follower's, to drop it promptly

    def writer(self) -> int:
        """A new ``O_APPEND`` descriptor of the log file (close-on-exec), for the
        container's fds 1 and 2; the caller closes it once they are made."""
        fd = self.log.writer()
        if self.log.fd >= 0 and not self.log.follows(fd):
            # The file was removed or replaced since it was opened: read the old one to
            # its end, then follow the one the container will write to.
            self.collect()
            self.log.reopen()
        return fd

    def collect(self) -> bool:
        """Read what is new in the file, rotate it if it is too big, publish the
        complete lines; whether there was anything new."""
        if self.log.fd < 0:
            return False
        data = self.log.read()
        if self.log.needs_rotation() and trio.current_time() >= self.rotate_again:
            try:
                data += self.log.rotate()
                self.rotate_error = ""
            except OSError as exc:  # a full disk, say: the file grows on; try again later
                self.rotate_again = trio.current_time() + ROTATE_RETRY
                if str(exc) != self.rotate_error:
                    self.rotate_error = str(exc)
                    self.publish(ev.Log(id=self.id, level="warning",
                                        text=f"cannot rotate {self.log.path}: {exc}"))
        if data:
            self.partial = self.lines(self.partial + data)
        return bool(data)

    def end_of_run(self) -> None:
        """The container's process has exited: what it wrote last is a line, even
        without its newline."""
        self.collect()
        if self.partial:
            self.lines(self.partial + b"\n")
            self.partial = b""
        self.flush_hidden()

    @property
    def done(self) -> bool:
        """Closed, and no terminal pump appends any more: time for the last read."""
        return self.closing.is_set() and not self.pumps

    def finish(self) -> None:
        """The last read; the file is closed."""
        if self.log.fd >= 0:
            self.end_of_run()
            self.log.close()

    async def pump(self, read_fd: int) -> None:
        """Append what a terminal's master (``read_fd``) shows to the log file, until
        EIO (a terminal whose processes are gone) or EOF; the fd is taken over."""
        stream = trio.lowlevel.FdStream(read_fd)
        out = self.writer()
        self.pumps += 1
        try:
            while data := await stream.receive_some(65536):
                write_all(out, data)  # a regular file: no waiting on a reader (see LogFile)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            self.pumps -= 1
            os.close(out)
            if self.done and self.on_close is not None:
                self.on_close()
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
        """Stop following (the follower reads the file a last time and closes it)."""
        self.closing.set()
        if self.on_close is not None:
            self.on_close()


class Followers:
    """Every container's log followed by one task.

    Told (``directory`` given, the usual case): one inotify watch on the directory of
    the log files says which file was written; the task sleeps until then, reads the
    files written, and waits ``GAP`` before the next look, so a chatty container's
    lines are read in batches (inotify merges the repeated events meanwhile).  An
    idle supervisor does nothing for its logs, whatever their number; every
    ``SAFETY`` seconds all the files are looked at all the same (a write the watch
    cannot see: through another link to the file), and after a queue overflow.

    Polling (no ``directory``, or no inotify: the limit of instances reached):
    every ``POLL`` one wake-up for all of them, an ``fstat`` for each file that is
    due.  A file is due every ``POLL`` while it is written; one that had nothing
    new is looked at half as often each time, down to every ``QUIET_POLL`` (1,000
    idle containers cost 1,000 ``fstat`` a second: docs/performance.md)."""

    def __init__(self, directory: str | None = None) -> None:
        self.outputs: list[Output] = []
        self.directory = directory
        self.told = False  # inotify works: the files are read when written
        self._by_name: dict[str, list[Output]] = {}
        self._waiting: trio.CancelScope | None = None  # the wait for news, cut short by wake()
        self._closed = False  # an output was closed: the next look drops it

    def add(self, output: Output) -> None:
        self.outputs.append(output)
        self._by_name.setdefault(os.path.basename(output.log.path), []).append(output)
        output.on_close = self.wake

    def wake(self) -> None:
        """An output was closed: read it a last time now, not at the next write."""
        self._closed = True
        if self._waiting is not None:
            self._waiting.cancel()

    async def run(self) -> None:
        fd = self._watch()
        if fd < 0:
            while True:
                await trio.sleep(POLL)
                self.sweep()
        try:
            await self._run_told(fd)
        finally:
            os.close(fd)

    def _watch(self) -> int:
        """An inotify descriptor watching the logs' directory, or -1 (then: polling)."""
        if self.directory is None:
            return -1
        from fire.syscalls import inotify

        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            fd = inotify.inotify_init()
        except OSError:
            return -1
        try:
            inotify.add_watch(fd, self.directory, inotify.IN_MODIFY | inotify.IN_ONLYDIR)
        except OSError:
            os.close(fd)
            return -1
        self.told = True
        return fd

    async def _run_told(self, fd: int) -> None:
        from fire.syscalls import inotify

        safety = trio.current_time() + SAFETY
        while True:
            if not self._closed:
                with trio.CancelScope(deadline=safety) as self._waiting:
                    await trio.lowlevel.wait_readable(fd)
                self._waiting = None
            names: set[str] = set()
            overflow = False
            while True:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    break
                for _wd, mask, name in inotify.events(data):
                    overflow = overflow or bool(mask & inotify.IN_Q_OVERFLOW)
                    names.add(name)
            now = trio.current_time()
            if overflow or now >= safety:
                safety = now + SAFETY
                for i in range(0, len(self.outputs), SWEEP_SLICE):
                    # 1,000 files read in one go would hold the loop for ~20 ms
                    self.sweep(everything=True, outputs=self.outputs[i:i + SWEEP_SLICE])
                    await trio.lowlevel.checkpoint()
            else:
                self._read(names)
            await trio.sleep(GAP)

    def _read(self, names: set[str]) -> None:
        """Read the files named; drop the outputs that are done."""
        if self._closed:
            self._closed = False
            self._drop_done()
        for name in names:
            for output in self._by_name.get(name, ()):
                output.collect()

    def _drop_done(self) -> None:
        for output in [o for o in self.outputs if o.done]:
            self._remove(output)
            output.finish()

    def _remove(self, output: Output) -> None:
        if output not in self.outputs:
            return
        self.outputs.remove(output)
        name = os.path.basename(output.log.path)
        same = self._by_name.get(name, [])
        if output in same:
            same.remove(output)
        if not same:
            self._by_name.pop(name, None)

    def sweep(self, everything: bool = False, outputs: list[Output] | None = None) -> None:
        """Read what is new everywhere, or in ``outputs`` (``everything``: every
        file, due or not); the outputs that are done are read a last time and
        dropped."""
        if outputs is None:
            self._closed = False
        now = trio.current_time()
        for output in list(self.outputs) if outputs is None else outputs:
            if output.done:
                self._remove(output)
                output.finish()
            elif everything or now >= output.next_look:
                new = output.collect()
                output.pause = POLL if new else min(output.pause * 2, QUIET_POLL)
                output.next_look = now + output.pause - POLL / 2  # due on that sweep

    def finish(self) -> None:
        """The supervisor's exit: a last read of every file."""
        for output in self.outputs:
            output.finish()
        self.outputs.clear()
        self._by_name.clear()
