"""CPU, memory, pids and OOM kills of a container, read from its cgroup files.

Which file holds a number depends on the hierarchy the controller lives in (a
hybrid host has both): v1 ``cpuacct.usage`` (ns), ``memory.usage_in_bytes``,
``pids.current``, ``memory.oom_control``'s ``oom_kill``; v2 ``cpu.stat``'s
``usage_usec``, ``memory.current``, ``pids.current``, ``memory.events``'s
``oom_kill``.  A controller in a v1 hierarchy is read there, otherwise in the
unified one; a number no hierarchy has is None.

``Reader`` resolves the files once per cgroup path (the hierarchies are read from
mountinfo once), so a reading is a few small ``read``\\ s: cheap enough to do for
every container every few seconds and at every Prometheus scrape.

The periodic sweep (``quick=True``) reads the CPU time first: when it has not moved
since the last reading, nothing ran in the cgroup, and the other numbers are taken
from that reading (a process must run to fork, exit, allocate or be OOM-killed).
Memory can still shrink without the cgroup running (the kernel reclaiming its page
cache), so every ``FULL_EVERY``-th quick reading reads everything all the same.  An
idle container then costs one file per sweep instead of four (1,000 of them:
docs/performance.md).  A scrape and the check after an exit read everything.
"""

from __future__ import annotations

import os

from fire.cgroup.hierarchy import Hierarchy, host_hierarchies

FULL_EVERY = 6  # quick readings: one in this many reads every file (see above)


class Sample:
    __slots__ = ("cpu", "memory", "oom_kills", "pids")

    def __init__(self, cpu: float | None = None, memory: int | None = None,
                 pids: int | None = None, oom_kills: int | None = None) -> None:
        self.cpu = cpu  # seconds
        self.memory = memory  # bytes
        self.pids = pids
        self.oom_kills = oom_kills

    def __repr__(self) -> str:
        return (f"Sample(cpu={self.cpu}, memory={self.memory}, pids={self.pids}, "
                f"oom_kills={self.oom_kills})")


def _read(path: str) -> str | None:
    """A small cgroup file: three syscalls and no file object (1,000 containers
    are sampled every few seconds)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 65536).decode()
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)


def keyed(text: str | None, key: str) -> int | None:
    """The value of ``key`` in a ``key value`` per line file (cpu.stat, memory.events)."""
    if text is None:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def number(text: str | None) -> int | None:
    if text is None:
        return None
    value = text.strip()
    return int(value) if value.isdigit() else None


class Files:
    """Where one cgroup's numbers are, for the host's hierarchies."""

    __slots__ = ("cpu", "last", "memory", "oom", "pids", "quiet", "v2")

    def __init__(self, path: str, hierarchies: list[Hierarchy]) -> None:
        def v1(controller: str, name: str) -> str | None:
            for h in hierarchies:
                if not h.is_v2 and controller in h.controllers:
                    return os.path.join(h.mountpoint.rstrip("/") + path, name)
            return None

        unified = next((h for h in hierarchies if h.is_v2), None)

        def v2(controller: str, name: str) -> str | None:
            if unified is None or (controller != "cpu" and controller not in unified.controllers):
                return None  # cpu.stat's usage_usec is there even without the controller
            return os.path.join(unified.mountpoint.rstrip("/") + path, name)

        self.v2: set[str] = set()
        self.cpu = v1("cpuacct", "cpuacct.usage")
        if self.cpu is None:
            self.cpu = v2("cpu", "cpu.stat")
            if self.cpu is not None:
                self.v2.add("cpu")
        self.memory = v1("memory", "memory.usage_in_bytes") or v2("memory", "memory.current")
        self.oom = v1("memory", "memory.oom_control") or v2("memory", "memory.events")
        self.pids = v1("pids", "pids.current") or v2("pids", "pids.current")
        self.last: Sample | None = None  # the last reading of every file
        self.quiet = 0  # quick readings since then that found the CPU time unchanged

    def sample(self, quick: bool = False) -> Sample:
        """The numbers now; ``quick``: the last full reading's where the CPU time
        has not moved (see the module's docstring)."""
        cpu: float | None = None
        if self.cpu is not None:
            text = _read(self.cpu)
            if "cpu" in self.v2:
                usec = keyed(text, "usage_usec")
                cpu = None if usec is None else usec / 1e6
            else:
                ns = number(text)
                cpu = None if ns is None else ns / 1e9
        last = self.last
        if (quick and last is not None and cpu is not None and cpu == last.cpu
                and self.quiet < FULL_EVERY - 1):
            self.quiet += 1
            return Sample(cpu=cpu, memory=last.memory, pids=last.pids,
                          oom_kills=last.oom_kills)
        self.quiet = 0
        self.last = Sample(cpu=cpu,
                           memory=number(_read(self.memory)) if self.memory else None,
                           pids=number(_read(self.pids)) if self.pids else None,
                           oom_kills=keyed(_read(self.oom), "oom_kill") if self.oom else None)
        return self.last


class Reader:
    def __init__(self, hierarchies: list[Hierarchy] | None = None) -> None:
        self._hierarchies = hierarchies
        self._files: dict[str, Files] = {}

    @property
    def hierarchies(self) -> list[Hierarchy]:
        if self._hierarchies is None:
            try:
                self._hierarchies = host_hierarchies()
            except OSError:
                self._hierarchies = []
        return self._hierarchies

    def files(self, path: str) -> Files:
        found = self._files.get(path)
        if found is None:
            found = self._files[path] = Files(path, self.hierarchies)
        return found

    def sample(self, path: str, quick: bool = False) -> Sample:
        return self.files(path).sample(quick)

    def forget(self, path: str) -> None:
        self._files.pop(path, None)
