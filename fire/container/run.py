"""``run``: create, start and wait in the foreground, forwarding signals.

One dedicated channel carries every signal Fire receives: the handlers do nothing
but let ``set_wakeup_fd`` write the signal's number into a pipe, and the wait loop
reads that pipe beside the terminal.  SIGCHLD means "reap" (Fire is a child
subreaper: orphans of the container are re-parented to it and reaped here);
SIGWINCH resizes the container's terminal; every other signal goes to the
container's process through its pidfd.  The result is the container's exit code,
or 128+N after a signal N.
"""

from __future__ import annotations

import _signal
import os
import select

from fire.container.create import Options, create
from fire.container.delete import delete
from fire.container.start import start
from fire.errors import FireError
from fire.log import log
from fire.syscalls import proc as p

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.store import Store

_NOT_FORWARDED = {_signal.SIGKILL, _signal.SIGSTOP, _signal.SIGCHLD, _signal.SIGWINCH}


def _noop(sig: int, frame: object) -> None:
    """The wakeup fd carries the signal; nothing else to do here."""


class SignalChannel:
    """Signals as bytes in a pipe (``signal.set_wakeup_fd``)."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.previous = _signal.set_wakeup_fd(self.w, warn_on_full_buffer=False)
        self.handled: list[int] = []
        for sig in range(1, _signal.NSIG):
            if sig in (_signal.SIGKILL, _signal.SIGSTOP):
                continue
            try:
                _signal.signal(sig, _noop)
                self.handled.append(sig)
            except (OSError, ValueError, RuntimeError):
                pass

    def read(self) -> list[int]:
        try:
            return list(os.read(self.r, 512))
        except BlockingIOError:
            return []

    def close(self) -> None:
        for sig in self.handled:
            try:
                _signal.signal(sig, _signal.SIG_DFL)
            except (OSError, ValueError, RuntimeError):
                pass
        _signal.set_wakeup_fd(self.previous)
        os.close(self.r)
        os.close(self.w)


def _exit_code(status: int) -> int:
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


def run(store: Store, cid: str, opts: Options, detach: bool = False, keep: bool = False) -> int:
    p.prctl(p.PR_SET_CHILD_SUBREAPER, 1, what="prctl(PR_SET_CHILD_SUBREAPER)")
    opts.foreground = not detach
    created = create(store, cid, opts)
    pid = created.state.pid
    created.cdir.close()
    if detach:
        start(store, cid)
        return 0
    channel = SignalChannel()
    terminal = Terminal(created.master) if created.master >= 0 else None
    code = 255
    try:
        try:
            start(store, cid)
        except FireError:
            if terminal is not None:
                terminal.restore()
            raise
        pidfd = os.pidfd_open(pid)
        code = _wait(pid, pidfd, channel, terminal)
        os.close(pidfd)
    finally:
        if terminal is not None:
            terminal.restore()
            os.close(terminal.master)
        channel.close()
        _reap_all()
        if not keep:
            try:
                delete(store, cid, force=True)
            except FireError as exc:
                log.warning("{error}", error=str(exc))
    return code


def _reap_all() -> int | None:
    """Reap every exited child (orphans included); no blocking."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return None
        if pid == 0:
            return None


def _wait(pid: int, pidfd: int, channel: SignalChannel, terminal: Terminal | None) -> int:
    poller = select.poll()
    poller.register(channel.r, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    if terminal is not None:
        poller.register(terminal.master, select.POLLIN)
        poller.register(0, select.POLLIN)
    stdin_open = True
    while True:
        try:
            events = poller.poll()
        except InterruptedError:
            continue
        for fd, ev in events:
            if fd == channel.r:
                for sig in channel.read():
                    if sig == _signal.SIGWINCH and terminal is not None:
                        terminal.resize()
                    elif sig not in _NOT_FORWARDED:
                        try:
                            _signal.pidfd_send_signal(pidfd, sig)
                        except ProcessLookupError:
                            pass
            elif fd == pidfd:
                if terminal is not None:
                    _drain(terminal.master)
                while True:
                    try:
                        got, status = os.waitpid(pid, 0)
                    except ChildProcessError:
                        return 255  # not our child: its status is unknown
                    if got == pid:
                        return _exit_code(status)
            elif terminal is not None and fd == terminal.master:
                if not _copy(terminal.master, 1):
                    poller.unregister(terminal.master)
            elif fd == 0 and stdin_open and terminal is not None:
                hung_up = ev & (select.POLLHUP | select.POLLERR) and not ev & select.POLLIN
                if hung_up or not _copy(0, terminal.master):
                    poller.unregister(0)
                    stdin_open = False
        _reap_others(pid)


def _reap_others(keep: int) -> None:
    """Reap orphans re-parented to us, leaving the container's own process."""
    import fire.procfs as procfs

    for child in procfs.children(os.getpid()):
        if child == keep:
            continue
        try:
            os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
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
