"""``kill``: signal the container's process through a pidfd checked against the
stored start time (a reused pid is never signalled), or every process of its
cgroup with ``--all``.

A created container can be killed too (runtime-spec: ``kill`` applies to
``created`` and ``running``): its init is waiting for ``start`` and dies from the
signal as the program would have.
"""

from __future__ import annotations

import _signal
import os

from fire.cgroup import driver as cgroup_driver
from fire.container.status import load
from fire.errors import ContainerError, NotRunning
from fire.lifecycle import machine as lm
from fire.procfs import start_time
from fire.spec.state import STOPPED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.manager import Manager
    from fire.store import Store


def signal_process(pid: int, started: int, sig: int) -> None:
    """Signal ``pid`` if, and only if, it is still the process that started at
    ``started`` (clock ticks since boot, /proc/PID/stat)."""
    if pid <= 0:
        raise NotRunning()
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise NotRunning() from None
    try:
        # The pidfd pins the process: checked *after* it is open, a matching start
        # time means the signal below cannot reach anyone else, even if the pid is
        # reused a moment later.
        if start_time(pid) != started:
            raise NotRunning()
        _signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        raise ContainerError("no such process") from None
    finally:
        os.close(fd)


def _member(pid: int, path: str) -> bool:
    """Is ``pid`` (still) in the cgroup ``path`` of some hierarchy?"""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                where = line.rstrip("\n").split(":", 2)[-1]
                if where == path or where.startswith(path + "/"):
                    return True
    except OSError:
        pass
    return False


def signal_cgroup(cg: Manager, sig: int) -> None:
    """Signal every process of the container's cgroup.

    For SIGKILL the cgroup is frozen first (runc does the same), so that nothing
    in it can fork a child behind the listing; other signals are delivered to
    running processes.  Each process is signalled through a pidfd opened and then
    checked to be still in the cgroup: a pid reused by a stranger is skipped.
    """
    from fire.cgroup import freezer

    state = cg.to_state()
    froze = False
    if sig == _signal.SIGKILL and not freezer.is_frozen(state):
        try:
            freezer.freeze(state)
            froze = True
        except OSError:
            pass
        else:  # v1 passes through FREEZING: wait (briefly) until nothing runs
            import time

            deadline = time.monotonic() + 1.0
            while not freezer.is_frozen(state) and time.monotonic() < deadline:
                time.sleep(0.001)
    try:
        for pid in cg.pids():
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                if _member(pid, cg.path):
                    _signal.pidfd_send_signal(fd, sig)
            except ProcessLookupError:
                pass
            finally:
                os.close(fd)
    finally:
        if froze:
            freezer.thaw(state)


def signal_tree(pid: int, started: int, sig: int) -> None:
    """``kill --all`` of a container without a cgroup (rootless): its process and
    the processes below it, as the process table shows them now (a process that
    left the tree, e.g. by double-forking out of a shared pid namespace, is
    missed: docs/rootless.md)."""
    from fire.procfs import descendants

    signal_process(pid, started, sig)  # checked: the container's own process
    for each in reversed(descendants(pid)):
        if each != pid:
            try:
                os.kill(each, sig)
            except ProcessLookupError:
                pass


def kill(store: Store, cid: str, sig: int, all_processes: bool = False) -> None:
    cdir, state, status = load(store, cid)
    try:
        lm.Machine(cid, status).send(lm.KILL_EVERY if all_processes else lm.KILL)
        if not all_processes:
            signal_process(state.pid, state.pidStart, sig)
            return
        cg = cgroup_driver.from_state(state.cgroup)
        if cg is None:
            if status != STOPPED:
                signal_tree(state.pid, state.pidStart, sig)
            return
        if status == STOPPED and not any(os.path.isdir(d) for d in cg.dirs()):
            # systemd removes a scope's cgroup once its last process is gone, and
            # the runc shim still sends `kill --all` then: nothing is left to
            # signal (runc 1.1 returns the same way).
            return
        signal_cgroup(cg, sig)
    finally:
        cdir.close()
