"""``events ID``: runc's stream of one container's stats and OOM notifications.

Every ``interval`` a ``{"type":"stats","id":…,"data":{…}}`` line (runc's
``types.Stats`` shape, ``fire.cgroup.stats``); at once, an ``{"type":"oom","id":…}``
line for each OOM kill in the container's cgroup (``fire.cgroup.oom``).  With
``stats_only``: one stats line, then exit (``runc events --stats``).  The stream
ends when the container's process exits (its pidfd becomes readable), after a
last look for OOM kills — the kill that ended it is reported.
"""

from __future__ import annotations

import json
import os
import select
import time

from fire.cgroup import driver as cgroup_driver
from fire.cgroup.rootless import has_none, no_cgroup_error
from fire.cgroup.stats import collect_manager
from fire.container.status import load
from fire.durations import parse_duration as parse_duration  # the shared parser
from fire.errors import CgroupError, NotRunning, UsageError
from fire.procfs import start_time
from fire.spec.state import STOPPED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.store import Store

def _line(kind: str, cid: str, data: object = None) -> str:
    event: dict[str, object] = {"type": kind, "id": cid}
    if data is not None:
        event["data"] = data
    return json.dumps(event, separators=(",", ":")) + "\n"


def events(store: Store, cid: str, interval: float, stats_only: bool,
           write: Callable[[str], None]) -> None:
    if interval <= 0:
        raise UsageError("duration interval must be greater than 0")
    cdir, state, status = load(store, cid)
    cdir.close()
    if status == STOPPED:
        raise NotRunning(cid)
    mgr = cgroup_driver.from_state(state.cgroup)
    if mgr is None and has_none(state.cgroup):
        raise no_cgroup_error(cid, "events")
    if mgr is None:
        raise CgroupError("container {id} has no cgroup", id=cid)
    if stats_only:
        write(_line("stats", cid, collect_manager(mgr)))
        return

    from fire.cgroup.oom import OomWatcher

    try:
        pidfd = os.pidfd_open(state.pid)
    except ProcessLookupError:
        raise NotRunning(cid) from None
    watcher = None
    try:
        if start_time(state.pid) != state.pidStart:
            raise NotRunning(cid)
        try:
            watcher = OomWatcher(mgr)
        except OSError as exc:
            raise CgroupError("cannot watch {id} for OOM kills: {reason}", id=cid,
                              reason=exc.strerror) from None
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if watcher.fileno() >= 0:
            poller.register(watcher.fileno(), watcher.events())
        next_tick = time.monotonic() + interval
        while True:
            wait = max(next_tick - time.monotonic(), 0.0)
            relook = watcher.timeout()
            if relook is not None:
                wait = min(wait, relook)
            ready = {fd for fd, _ in poller.poll(int(wait * 1000) + 1)}
            if pidfd in ready:
                for _ in range(watcher.drain()):
                    write(_line("oom", cid))
                return
            if watcher.fileno() in ready or relook is not None:
                for _ in range(watcher.check()):
                    write(_line("oom", cid))
            if time.monotonic() >= next_tick:
                write(_line("stats", cid, collect_manager(mgr)))
                next_tick += interval
    finally:
        os.close(pidfd)
        if watcher is not None:
            watcher.close()
