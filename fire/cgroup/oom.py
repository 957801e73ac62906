"""Noticing that the kernel's OOM killer struck inside a container's cgroup.

v1: an eventfd registered for ``memory.oom_control`` in ``cgroup.event_control``;
the kernel signals it on every OOM in the cgroup (and when the cgroup is removed).
v2: ``memory.events`` is a kernfs file that raises POLLPRI when it changes.  In
both cases the wake-up only says "look": the count is the ``oom_kill`` counter
(both files have it), so a wake-up for another reason, or two kills between two
looks, are counted right.

v1 signals before the kill is counted: the kernel notifies ``memory.oom_control``
listeners when the cgroup goes out of memory, then picks and kills a victim, then
bumps ``oom_kill``.  A look at the wake-up alone reads the old count, reports each
kill one wake-up late and the last one never while the container runs.  So a
wake-up that finds no new kill leaves the watcher *settling*: ``timeout()`` asks
the caller to look again soon, until the count moves or ``SETTLE`` seconds pass
(an OOM the killer resolved without a kill: nothing to report).
"""

from __future__ import annotations

import os
import select
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.manager import Manager


SETTLE = 2.0  # seconds a wake-up waits for its kill to be counted
RELOOK = 0.01  # seconds between looks while settling


def _oom_kills(path: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


class OomWatcher:
    """``fileno()`` to poll (``events()`` says which), ``check()`` for new kills."""

    def __init__(self, mgr: Manager) -> None:
        self.fd = -1
        self.counter = ""
        self.settle_until = 0.0
        self.version = mgr.where.get("memory")
        d = mgr.dir_for("memory")
        if d is None or self.version is None:
            return
        if self.version == "v1":
            self.counter = d + "/memory.oom_control"
            efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            control = os.open(self.counter, os.O_RDONLY | os.O_CLOEXEC)
            try:
                with open(d + "/cgroup.event_control", "w") as f:
                    f.write(f"{efd} {control}")
            except OSError:
                os.close(efd)
                raise
            finally:
                os.close(control)  # the registration holds its own reference
            self.fd = efd
        else:
            self.counter = d + "/memory.events"
            self.fd = os.open(self.counter, os.O_RDONLY | os.O_CLOEXEC)
            os.read(self.fd, 4096)  # arm: POLLPRI reports changes after the last read
        self.seen = _oom_kills(self.counter)

    def fileno(self) -> int:
        return self.fd

    def events(self) -> int:
        return select.POLLIN if self.version == "v1" else select.POLLPRI

    def timeout(self) -> float | None:
        """Seconds until ``check()`` wants another look without a wake-up (settling)."""
        if not self.settle_until:
            return None
        return max(min(self.settle_until - time.monotonic(), RELOOK), 0.0)

    def check(self) -> int:
        """How many OOM kills happened since the last call (consumes the wake-up)."""
        if self.fd < 0:
            return 0
        woken = True
        try:
            if self.version == "v1":
                os.eventfd_read(self.fd)
            else:
                os.lseek(self.fd, 0, os.SEEK_SET)
                os.read(self.fd, 4096)
        except OSError:
            woken = False  # nothing to consume: a re-look while settling
        now = _oom_kills(self.counter)
        new = max(now - self.seen, 0)
        self.seen = max(now, self.seen)
        if new:
            self.settle_until = 0.0
        elif woken and self.version == "v1":
            self.settle_until = time.monotonic() + SETTLE
        elif self.settle_until and time.monotonic() >= self.settle_until:
            self.settle_until = 0.0
        return new

    def drain(self) -> int:
        """The last look (the container is gone): new kills, waiting out a settle
        that was under way (a wake-up now is the cgroup going, not a kill)."""
        settling = bool(self.settle_until)
        new = self.check()
        if not settling:
            self.settle_until = 0.0
        while not new and self.settle_until:
            time.sleep(RELOOK)
            new = self.check()
        return new

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
