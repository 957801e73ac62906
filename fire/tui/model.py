"""What the status view shows, folded from events: no textual, no I/O.

``Model.apply(event)`` updates the row of the event's container (status, pid,
restarts, health, cpu, memory, pids), its stage graph for the current run, and
the event list.  ``Model.merge_unsupervised`` adds the containers of the state
directory that no supervisor reports (their status comes from ``fire state``'s
logic).  Kept apart from the widgets so that it is tested without a terminal.
"""

from __future__ import annotations

import time
from collections import deque

from fire import events as ev

EVENT_LINES = 500


class StageInfo:
    __slots__ = ("duration", "error", "side", "start", "status")

    def __init__(self, side: str, start: float) -> None:
        self.side = side
        self.start = start  # event time (seconds since the epoch)
        self.status = "running"  # "running" | "done" | "failed"
        self.duration: float | None = None
        self.error = ""


class Row:
    __slots__ = ("cpu", "cpu_at", "cpu_percent", "health", "id", "memory", "pid", "pids",
                 "reason", "restarts", "run", "since", "stages", "status", "supervised")

    def __init__(self, cid: str, supervised: bool = True) -> None:
        self.id = cid
        self.supervised = supervised
        self.status = "unknown"
        self.reason = ""
        self.pid = 0
        self.since: float | None = None  # when it entered "running"
        self.restarts = 0
        self.health = ""
        self.cpu: float | None = None
        self.cpu_at = 0.0
        self.cpu_percent: float | None = None
        self.memory: int | None = None
        self.pids: int | None = None
        self.run = 0
        self.stages: dict[str, StageInfo] = {}  # the current run's, in the order they began


class Model:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.events: deque[tuple[float, str, str, str]] = deque(maxlen=EVENT_LINES)
        self.connected = False
        self.missed = 0

    def row(self, cid: str) -> Row:
        found = self.rows.get(cid)
        if found is None or not found.supervised:
            found = self.rows[cid] = Row(cid)
        return found

    def apply(self, event: ev.AnyEvent) -> str | None:
        """Fold one event in; returns the id of the row it changed (None: none)."""
        if not isinstance(event, (ev.Stats, ev.StageStarted, ev.StageFinished)):
            kind = type(event).__struct_config__.tag
            self.events.append((event.time, event.id, str(kind), ev.summary(event)))
        if isinstance(event, ev.Missed):
            self.missed += event.count
            return None
        if not event.id:
            return None
        row = self.row(event.id)
        if isinstance(event, ev.State):
            if event.state in ("running", "stopping") and event.since:
                row.since = event.since  # the process's own start (an adopted one: earlier)
            elif event.state == "running" and row.status != "running":
                row.since = event.time
            elif event.state not in ("running", "stopping"):
                row.since = None
            row.status, row.reason = event.state, event.reason
            row.pid, row.restarts = event.pid, event.restarts
            if event.state not in ("running", "stopping"):
                row.cpu = row.cpu_percent = row.memory = row.pids = None
                row.health = "" if event.state != "created" else row.health
        elif isinstance(event, ev.StageStarted):
            if event.run != row.run:
                row.run = event.run
                row.stages = {}
            row.stages[event.stage] = StageInfo(event.side, event.time)
        elif isinstance(event, (ev.StageFinished, ev.StageFailed)):
            info = row.stages.get(event.stage)
            if info is None:
                info = row.stages[event.stage] = StageInfo(event.side, event.time - event.duration)
            info.duration = event.duration
            info.status = "done" if isinstance(event, ev.StageFinished) else "failed"
            if isinstance(event, ev.StageFailed):
                info.error = event.error
        elif isinstance(event, ev.Health):
            row.health = event.status
        elif isinstance(event, ev.Stats):
            if event.cpu is not None and row.cpu is not None and event.time > row.cpu_at:
                row.cpu_percent = max(0.0, (event.cpu - row.cpu) / (event.time - row.cpu_at)
                                      * 100)
            row.cpu, row.cpu_at = event.cpu, event.time
            row.memory, row.pids = event.memory, event.pids
        elif isinstance(event, ev.Exit):
            row.pid = 0
        return row.id

    def merge_unsupervised(self, found: list[tuple[str, str, int, float | None]]) -> None:
        """Containers of the state directory: (id, status, pid, running since).

        A supervised row is never replaced; an unsupervised row that is gone from
        the directory is dropped.
        """
        seen = set()
        for cid, status, pid, since in found:
            seen.add(cid)
            row = self.rows.get(cid)
            if row is not None and row.supervised:
                continue
            if row is None:
                row = self.rows[cid] = Row(cid, supervised=False)
            row.status, row.pid, row.since = status, pid, since
        for cid in [c for c, r in self.rows.items() if not r.supervised and c not in seen]:
            del self.rows[cid]

    def visible(self, text: str) -> list[Row]:
        """Rows whose id or status contains ``text`` (all when empty), by id."""
        needle = text.strip().lower()
        return [r for cid, r in sorted(self.rows.items())
                if not needle or needle in cid.lower() or needle in r.status.lower()]


# ------------------------------------------------------------------ formatting
def uptime(since: float | None, now: float | None = None) -> str:
    if since is None:
        return "-"
    s = max(0, int((now or time.time()) - since))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{value:.1f} {unit}"


def cells(row: Row, now: float | None = None) -> list[str]:
    """The table's columns: id, status, pid, uptime, restarts, health, cpu, memory, pids."""
    status = row.status if row.supervised else f"{row.status} (unsupervised)"
    return [row.id, status, str(row.pid) if row.pid else "-", uptime(row.since, now),
            str(row.restarts) if row.supervised else "-", row.health or "-",
            "-" if row.cpu_percent is None else f"{row.cpu_percent:.1f}%", size(row.memory),
            "-" if row.pids is None else str(row.pids)]


COLUMNS = ("ID", "STATUS", "PID", "UPTIME", "RESTARTS", "HEALTH", "CPU", "MEMORY", "PIDS")
