"""The supervisor's own log: a line on stderr for what a person wants to know.

``fire-supervise: 12:00:01 web: running (pid 4242)``.  By default: state changes,
exits, failed stages, health changes, hooks, OOM kills, signals and warnings;
``--debug`` adds every stage, every health check, stats and the containers'
output lines.  The complete record is the event stream; this is its summary.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from fire import events as ev

if TYPE_CHECKING:
    from collections.abc import Iterable


class Journal:
    def __init__(self, stream: TextIO | None = None, debug: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.debug = debug
        self.health: dict[str, str] = {}

    def wanted(self, event: ev.AnyEvent) -> bool:
        if self.debug:
            return True
        if isinstance(event, (ev.StageStarted, ev.StageFinished, ev.Stats)):
            return False
        if isinstance(event, ev.Log):
            return not event.stream and event.level != "debug"
        if isinstance(event, ev.Health):
            changed = self.health.get(event.id) != event.status
            self.health[event.id] = event.status
            return changed
        return True

    def __call__(self, event: ev.AnyEvent) -> None:
        if self.wanted(event):
            self.write(event.id, ev.summary(event), event.time)

    def write(self, who: str, text: str, when: float | None = None) -> None:
        self.write_lines(who, [text], when)

    def write_lines(self, who: str, texts: list[str], when: float | None = None) -> None:
        """Lines with the same stamp, in one write (a status table of 1,000 rows)."""
        stamp = time.strftime("%H:%M:%S", time.localtime(when or time.time()))
        prefix = f"fire-supervise: {stamp} {who}: " if who else f"fire-supervise: {stamp} "
        try:
            self.stream.write("".join(f"{prefix}{text}\n" for text in texts))
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must not stop the supervisor

    def table(self, header: list[str], rows: Iterable[list[str]]) -> None:
        self.write_lines("", table_lines(header, rows))


def table_lines(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    """The lines of a table, its columns as wide as their widest cell."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in lines]
