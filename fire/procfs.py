"""Reading /proc: process identity (pid + start time) and liveness."""

from __future__ import annotations

import os


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 = state), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain ") ".
    return data[data.rindex(b")") + 2:].decode().split()


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), None when it is gone.

    A zombie counts as gone: it has exited, only its parent has not reaped it yet.
    """
    fields = stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def started_at(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the epoch (boot time + its start
    time), None when it is gone."""
    ticks = start_time(pid)
    if ticks is None:
        return None
    try:
        with open("/proc/stat") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    return btime + ticks / os.sysconf("SC_CLK_TCK")


def alive(pid: int, started: int) -> bool:
    """True when ``pid`` is still the process that started at ``started``."""
    return pid > 0 and start_time(pid) == started


def parents() -> dict[int, int]:
    """pid -> parent pid of every process /proc shows, in one scan."""
    out: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if entry.isdigit():
            fields = stat_fields(int(entry))
            if fields is not None:
                out[int(entry)] = int(fields[1])
    return out


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (what a container without a cgroup has:
    rootless, fire.cgroup.rootless)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        cur = todo.pop()
        if cur in out:
            continue
        out.append(cur)
        todo.extend(children(cur))
    return sorted(out)


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (of all its threads).

    ``/proc/PID/task/TID/children`` needs CONFIG_PROC_CHILDREN, which some kernels
    (this VM's) lack: then the whole of /proc is scanned for parent pids.
    """
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except FileNotFoundError:
            return [child for child, parent in parents().items() if parent == pid]
        except OSError:
            continue
    return out
