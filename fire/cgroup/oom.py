"""Noticing that the kernel's OOM killer struck inside a container's cgroup.

v1: an eventfd registered for ``memory.oom_control`` in ``cgroup.event_control``;
the kernel signals it on every OOM in the cgroup (and when the cgroup is removed).
v2: ``memory.events`` is a kernfs file that raises POLLPRI when it changes.  In
both cases the wake-up only says "look": the count is the ``oom_kill`` counter
(both files have it), so a wake-up for another reason, or two kills between two
looks, are counted right.
"""

from __future__ import annotations

import os
import select

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.manager import Manager


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

    def check(self) -> int:
        """How many OOM kills happened since the last call (consumes the wake-up)."""
        if self.fd < 0:
            return 0
        try:
            if self.version == "v1":
                os.eventfd_read(self.fd)
            else:
                os.lseek(self.fd, 0, os.SEEK_SET)
                os.read(self.fd, 4096)
        except OSError:
            pass
        now = _oom_kills(self.counter)
        new = max(now - self.seen, 0)
        self.seen = max(now, self.seen)
        return new

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
