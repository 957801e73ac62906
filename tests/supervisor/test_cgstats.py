"""Reading cpu / memory / pids / OOM kills from cgroup files (temp-dir trees)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fire.cgroup.hierarchy import Hierarchy
from fire.supervisor.cgstats import FULL_EVERY, Reader, keyed

if TYPE_CHECKING:
    from pathlib import Path


def write(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text)


def test_v1_hierarchies(tmp_path: Path) -> None:
    write(tmp_path, {
        "cpuacct/c1/cpuacct.usage": "2500000000\n",
        "memory/c1/memory.usage_in_bytes": "1048576\n",
        "memory/c1/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        "pids/c1/pids.current": "3\n",
    })
    hierarchies = [Hierarchy(str(tmp_path / c), "cgroup", "/", f"rw,{c}")
                   for c in ("cpuacct", "memory", "pids")]
    sample = Reader(hierarchies).sample("/c1")
    assert (sample.cpu, sample.memory, sample.pids, sample.oom_kills) == (2.5, 1048576, 3, 2)


def test_v2_unified(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    write(tmp_path, {
        "c1/cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
        "c1/memory.current": "4096\n",
        "c1/memory.events": "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n",
        "c1/pids.current": "1\n",
    })
    hierarchies = [Hierarchy(str(tmp_path), "cgroup2", "/", "rw")]
    hierarchies[0].controllers = ["cpu", "memory", "pids"]
    sample = Reader(hierarchies).sample("/c1")
    assert (sample.cpu, sample.memory, sample.pids, sample.oom_kills) == (1.5, 4096, 1, 1)


def test_hybrid_prefers_v1_and_misses_what_no_hierarchy_has(tmp_path: Path) -> None:
    write(tmp_path, {
        "unified/c1/cpu.stat": "usage_usec 7000000\n",
        "pids/c1/pids.current": "5\n",
    })
    unified = Hierarchy(str(tmp_path / "unified"), "cgroup2", "/", "rw")
    unified.controllers = ["hugetlb"]
    hierarchies = [Hierarchy(str(tmp_path / "pids"), "cgroup", "/", "rw,pids"), unified]
    sample = Reader(hierarchies).sample("/c1")
    assert (sample.cpu, sample.memory, sample.pids, sample.oom_kills) == (7.0, None, 5, None)


def test_a_vanished_cgroup_reads_as_nothing(tmp_path: Path) -> None:
    hierarchies = [Hierarchy(str(tmp_path / "memory"), "cgroup", "/", "rw,memory")]
    sample = Reader(hierarchies).sample("/gone")
    assert (sample.cpu, sample.memory, sample.pids, sample.oom_kills) == (None, None, None, None)


def test_keyed() -> None:
    assert keyed("a 1\nb 22\n", "b") == 22
    assert keyed("a 1\n", "b") is None
    assert keyed(None, "a") is None


def test_a_quick_reading_of_an_idle_cgroup_reads_only_its_cpu_time(tmp_path: Path) -> None:
    """The sweep's reading: the CPU time has not moved, so nothing ran in the cgroup
    and the other files are not read (1,000 idle containers: one file each per
    sweep); every FULL_EVERY-th one reads them all the same (memory can shrink by
    reclaim); a moving CPU time, or a reading that is not quick, reads everything."""
    write(tmp_path, {
        "cpuacct/c1/cpuacct.usage": "2500000000\n",
        "memory/c1/memory.usage_in_bytes": "1048576\n",
        "memory/c1/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "pids/c1/pids.current": "3\n",
    })
    hierarchies = [Hierarchy(str(tmp_path / c), "cgroup", "/", f"rw,{c}")
                   for c in ("cpuacct", "memory", "pids")]
    reader = Reader(hierarchies)

    def numbers(quick: bool = True) -> tuple[object, ...]:
        s = reader.sample("/c1", quick=quick)
        return (s.cpu, s.memory, s.pids, s.oom_kills)

    assert numbers() == (2.5, 1048576, 3, 0), "the first reading reads everything"
    write(tmp_path, {"memory/c1/memory.usage_in_bytes": "524288\n"})  # reclaimed
    assert numbers() == (2.5, 1048576, 3, 0), "idle: the last reading's numbers"
    assert numbers(quick=False) == (2.5, 524288, 3, 0), "a scrape reads everything"
    write(tmp_path, {"memory/c1/memory.usage_in_bytes": "262144\n"})
    for _ in range(FULL_EVERY - 1):
        assert numbers() == (2.5, 524288, 3, 0)
    assert numbers() == (2.5, 262144, 3, 0), "every FULL_EVERY-th reads everything"
    write(tmp_path, {"cpuacct/c1/cpuacct.usage": "3000000000\n", "pids/c1/pids.current": "4\n",
                     "memory/c1/memory.oom_control": "oom_kill_disable 0\noom_kill 1\n"})
    assert numbers() == (3.0, 262144, 4, 1), "it ran: everything is read"
