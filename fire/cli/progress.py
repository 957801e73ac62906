"""``fire run --progress``: the stages on one line of the terminal, gone before the
container speaks.

Only when asked for.  runc's ``run`` prints nothing, and a line redrawn with
``\r`` and erase-to-end mixes with what the container writes whenever stderr is
not the very terminal the container writes to (its output piped, a terminal of its
own, another process on the same terminal): a user would see the escapes, or
lines cut.  So ``--progress`` turns it on, and even then it is drawn only on a
terminal that can show it — stderr a tty, ``TERM`` not ``dumb``, a width.

While ``run --progress`` creates the container, stderr (when it is such a
terminal, and the log is not JSON) shows one line that is redrawn at every stage start and end: the stages
done so far with their times, then the one running::

    fire run web: validate 3ms · claim 0ms · cgroup 2ms · … · devices 1ms · hooks:runtime…

The line is kept to the terminal's width (the oldest stages give way), redrawn in
place (``\\r`` + erase to the end of the line), and erased once the container is
created — before ``start`` lets the container's program write anything — and
before any line Fire itself logs (a warning, the final error; ``fire.log``'s
``on_write``).

Plain ANSI, not rich: ``run`` is on the latency path, and ``import rich.console``
costs ~40 ms here, this module well under 1 ms (measured with ``-X importtime``).
"""

from __future__ import annotations

import os
import time

ERASE = b"\r\x1b[K"
SEPARATOR = " \u00b7 "
ELLIPSIS = "\u2026"


def wanted(fmt: str, fd: int = 2) -> bool:
    """Show the asked-for progress? Only on a terminal that can redraw a line (not
    ``TERM=dumb``, not zero columns), and not when the log is JSON."""
    if fmt == "json" or not os.isatty(fd) or os.environ.get("TERM", "dumb") == "dumb":
        return False
    try:
        return os.get_terminal_size(fd).columns > 0
    except OSError:
        return False


class Progress:
    """``Creation.on_stage``: called with (stage, "start" | "done")."""

    def __init__(self, cid: str, fd: int = 2) -> None:
        self.fd = fd
        self.prefix = f"fire run {cid}: "
        self.done: list[str] = []
        self.began: dict[str, float] = {}
        self.current = ""
        self.shown = False
        self.finished = False

    def __call__(self, name: str, phase: str) -> None:
        if self.finished:
            return
        now = time.monotonic()
        if phase == "start":
            self.began[name] = now
            self.current = name
        else:
            took = now - self.began.pop(name, now)
            self.done.append(f"{name} {took * 1000:.0f}ms")
            if self.current == name:
                self.current = ""
            if name == "created":  # the container's own output may follow: go away
                self.finished = True
                self.clear()
                return
        self.draw()

    def line(self, width: int) -> str:
        """The text, at most ``width - 1`` characters (the last column would wrap
        on some terminals)."""
        parts = [*self.done, *([self.current + ELLIPSIS] if self.current else [])]
        room = width - 1 - len(self.prefix)
        text = SEPARATOR.join(parts)
        while len(text) > room and len(parts) > 1:
            parts = parts[1:]
            text = ELLIPSIS + SEPARATOR + SEPARATOR.join(parts)
        return (self.prefix + text)[:max(0, width - 1)]

    def draw(self) -> None:
        try:
            width = os.get_terminal_size(self.fd).columns
        except OSError:
            width = 80
        self._write(ERASE + self.line(width).encode(errors="replace"))
        self.shown = True

    def clear(self) -> None:
        """Erase the line (if it is there); the next stage draws it again."""
        if self.shown:
            self.shown = False
            self._write(ERASE)

    def _write(self, data: bytes) -> None:
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:
            self.finished = True  # the terminal went away: stop drawing
