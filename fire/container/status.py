"""A container's current status, from its state record and the live system."""

from __future__ import annotations

from fire.procfs import alive
from fire.spec.state import CREATED, CREATING, PAUSED, RUNNING, STOPPED, State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.store import ContainerDir, Store


def current(state: State) -> str:
    """creating / created / running / paused / stopped, as of now.

    A stored status is only believed while the process it names is still the same
    process (pid *and* start time): a reused pid reads as ``stopped``.
    """
    if state.status == CREATING:
        if (state.pid and alive(state.pid, state.pidStart)) or (
                state.initPid and alive(state.initPid, state.initStart)):
            return CREATING
        return STOPPED
    if not alive(state.pid, state.pidStart):
        return STOPPED
    if state.status == CREATED:
        return CREATED
    if state.status == PAUSED or _frozen(state):
        return PAUSED
    return RUNNING


def _frozen(state: State) -> bool:
    """Ask the cgroup (a `pause` by another tool shows too)."""
    cg = state.cgroup
    if not cg:
        return False
    from fire.cgroup.freezer import is_frozen

    return is_frozen(cg)


def load(store: Store, cid: str, lock: bool = False) -> tuple[ContainerDir, State, str]:
    """Open a container: (its directory, its state, its current status)."""
    cdir = store.open(cid, lock=lock)
    try:
        state = cdir.read_state()
    except BaseException:
        cdir.close()
        raise
    return cdir, state, current(state)


__all__ = ["CREATED", "RUNNING", "STOPPED", "current", "load"]
