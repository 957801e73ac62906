"""The foreground of ``run`` and ``exec``: signals forwarded, the terminal proxied,
the container's process waited for.

One dedicated channel carries every signal Fire receives: the handlers do nothing
but let ``set_wakeup_fd`` write the signal's number into a pipe, and the wait loop
reads that pipe beside the container's pidfd and the terminal.  What each signal
means is ``fire.signals.forward``'s decision: SIGCHLD reaps, SIGWINCH resizes the
container's terminal, every other signal goes to the container's process through
its pidfd.

The caller is a child subreaper for the whole wait, so every child of this process
is ours to reap, and reaping is a plain ``waitpid(-1, WNOHANG)`` loop.  The result
is the process's exit code, or 128+N after a signal N.  Both verbs use this module
(it sits below them so that neither imports the other).
"""

from __future__ import annotations

import _signal
import os
import select
import time

from fire.log import log
from fire.signals import forward
from fire.signals.table import name as signal_name

# How long a process that has exited may take to become ours (see Waiter.exited).
REPARENT_TIMEOUT = 5.0


def _noop(sig: int, frame: object) -> None:
    """The wakeup fd carries the signal; nothing else to do here."""


class SignalChannel:
    """Signals as bytes in a pipe (``signal.set_wakeup_fd``)."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.previous = _signal.set_wakeup_fd(self.w, warn_on_full_buffer=False)
        self.handled: list[tuple[int, object]] = []
        for sig in forward.catchable():
            try:
                self.handled.append((sig, _signal.signal(sig, _noop)))
            except (OSError, ValueError, RuntimeError):
                pass  # 32 and 33 belong to the C library

    def read(self) -> list[int]:
        out: list[int] = []
        while True:
            try:
                data = os.read(self.r, 512)
            except BlockingIOError:
                return out
            if not data:
                return out
            out.extend(data)

    def close(self) -> None:
        for sig, previous in self.handled:
            try:
                _signal.signal(sig, previous)  # type: ignore[arg-type]
            except (OSError, ValueError, RuntimeError, TypeError):
                pass
        _signal.set_wakeup_fd(self.previous)
        os.close(self.r)
        os.close(self.w)


def exit_code(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128+N after signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


class Terminal:
    """Our terminal, proxied to the container's pty (raw mode, window size)."""

    def __init__(self, master: int) -> None:
        import termios

        self.termios = termios
        self.master = master
        self.saved = None
        if os.isatty(0):
            self.saved = termios.tcgetattr(0)
            raw = termios.tcgetattr(0)
            raw[0] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP
                        | termios.IXON)
            raw[1] &= ~termios.OPOST
            raw[2] |= termios.CS8
            raw[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
            termios.tcsetattr(0, termios.TCSAFLUSH, raw)
            self.resize()

    def resize(self) -> None:
        from fire.syscalls.tty import get_winsize, set_winsize

        if os.isatty(0):
            rows, cols = get_winsize(0)
            set_winsize(self.master, rows, cols)

    def restore(self) -> None:
        if self.saved is not None:
            self.termios.tcsetattr(0, self.termios.TCSAFLUSH, self.saved)
            self.saved = None


def reap(pid: int = 0) -> int | None:
    """Reap every exited child (orphans included) without blocking; the wait
    status of ``pid`` if it was among them."""
    found = None
    while True:
        try:
            got, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if got == 0:
            return found
        if got == pid:
            found = status


class Waiter:
    """The foreground loop: signals, the container's exit, the terminal."""

    def __init__(self, pid: int, pidfd: int, channel: SignalChannel,
                 terminal: Terminal | None) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.channel = channel
        self.terminal = terminal
        self.status: int | None = None

    def wait(self) -> int:
        poller = select.poll()
        poller.register(self.channel.r, select.POLLIN)
        poller.register(self.pidfd, select.POLLIN)
        terminal = self.terminal
        if terminal is not None:
            poller.register(terminal.master, select.POLLIN)
            poller.register(0, select.POLLIN)
        while self.status is None:
            try:
                events = poller.poll()
            except InterruptedError:
                continue
            for fd, ev in events:
                if fd == self.channel.r:
                    self.signals()
                elif fd == self.pidfd:
                    self.exited()
                elif terminal is not None and fd == terminal.master:
                    if not _copy(terminal.master, 1):
                        poller.unregister(terminal.master)
                elif terminal is not None and fd == 0:
                    hung_up = ev & (select.POLLHUP | select.POLLERR) and not ev & select.POLLIN
                    if hung_up or not _copy(0, terminal.master):
                        poller.unregister(0)
            self.reap()  # after every wake-up: SIGCHLD may have been coalesced
        if terminal is not None:
            _drain(terminal.master)
        return exit_code(self.status)

    def reap(self) -> None:
        status = reap(self.pid)
        if status is not None:
            self.status = status

    def exited(self) -> None:
        """The pidfd says the container's process has exited: collect its status.

        It may not be our child yet: with a new pid namespace the first init forks
        it and exits at once, and until that exit the process is the first init's
        (under load it can finish first).  That exit re-parents it to us, its
        subreaper, so wait for it — a bounded while: a process that never becomes
        ours has a status nobody can know (255)."""
        delay = 0.001
        deadline = time.monotonic() + REPARENT_TIMEOUT
        while True:
            self.reap()
            if self.status is not None or time.monotonic() >= deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        if self.status is None:
            self.status = 255 << 8

    def signals(self) -> None:
        for sig in self.channel.read():
            what = forward.action(sig)
            if what == forward.REAP:
                self.reap()
            elif what == forward.RESIZE:
                if self.terminal is not None:
                    self.terminal.resize()
            elif self.status is None:
                log.debug("forwarding {signal} to the container", signal=signal_name(sig))
                try:
                    _signal.pidfd_send_signal(self.pidfd, sig)
                except ProcessLookupError:
                    pass


def _copy(src: int, dst: int) -> bool:
    try:
        data = os.read(src, 65536)
    except OSError:
        return False
    if not data:
        return False
    view = memoryview(data)
    while view:
        try:
            n = os.write(dst, view)
        except BlockingIOError:
            select.select([], [dst], [])
            continue
        except OSError:
            return False
        view = view[n:]
    return True


def _drain(master: int) -> None:
    os.set_blocking(master, False)
    try:
        while _copy(master, 1):
            pass
    except BlockingIOError:
        pass
