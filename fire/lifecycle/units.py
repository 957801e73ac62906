"""A supervised unit's lifecycle as a pure transition table (h11's shape: no I/O).

``fire.lifecycle.machine`` is the OCI container's lifecycle (what ``fire start``
may do to a ``created`` container); this is the supervisor's view of one of its
containers across runs and restarts (``fire.supervisor.unit``): the states its
``state`` events, snapshot, TUI, ``fire list`` and the Prometheus metric show.
The unit does the work (trio, processes, files) and reports each step here as an
event; an event the table does not allow in the current state is a bug in the
unit: it raises ``LifecycleError`` and the state stays what it was.  Both states
and the events they take are in one table, so tests/unit/test_units.py checks it pair
by pair, and against the grid in docs/supervisor.md.

::

    waiting ─set-up→ creating ─made→ created ─started→ running ─stop→ stopping
     │ ↻ wait           ↑                                 ↑
     ╰──────────────────┼───────────── adopt ─────────────╯
                        ╰─set-up─ restarting ←─restart─ a run that is over
    a run that is over (creating … stopping): restart, end → stopped,
    give-up → failed; stopped and failed are final (a start on request or a
    reload makes a new unit).  docs/supervisor.md has the table as a grid.

``BROKEN`` (an unexpected error in the unit: a bug, contained to that unit) is
allowed everywhere, so that reporting it can never fail in its turn.
"""

from __future__ import annotations

from fire.errors import LifecycleError
from fire.i18n import N_

# States (the `state` event's values: users and tools see these names).
WAITING = "waiting"
CREATING = "creating"
CREATED = "created"
RUNNING = "running"
STOPPING = "stopping"
RESTARTING = "restarting"
STOPPED = "stopped"
FAILED = "failed"
STATES = (WAITING, CREATING, CREATED, RUNNING, STOPPING, RESTARTING, STOPPED, FAILED)

# Events (what the unit reports; the state that follows is the table's).
WAIT = "wait"  # for dependencies or the bundle (again: a new reason)
SET_UP = "set-up"  # a run begins: logs, bundle, leftover, create, start
MADE = "made"  # `fire create` succeeded: the container's process exists
STARTED = "started"  # the set-up is done: the program runs
ADOPT = "adopt"  # a running container of a previous supervisor is watched instead
STOP = "stop"  # a stop request or a failed health check: stop signal, then SIGKILL
RESTART = "restart"  # the run is over and the policy starts another after a backoff
END = "end"  # over for good without a failure (the policy, or a stop request)
GIVE_UP = "give-up"  # over for good: a failure the policy does not restart
BROKEN = "broken"  # an unexpected error in the unit (a bug)
EVENTS = (WAIT, SET_UP, MADE, STARTED, ADOPT, STOP, RESTART, END, GIVE_UP, BROKEN)

# Where a run can be when it is over: its set-up failed or was cancelled
# (creating, created), or its process exited (running, stopping).
_IN_A_RUN = (CREATING, CREATED, RUNNING, STOPPING)

# (state, event) -> next state.  Anything absent is illegal.
TABLE: dict[tuple[str, str], str] = {
    (WAITING, WAIT): WAITING,
    (WAITING, SET_UP): CREATING,
    (RESTARTING, SET_UP): CREATING,
    (CREATING, MADE): CREATED,
    (CREATED, STARTED): RUNNING,
    (WAITING, ADOPT): RUNNING,
    (RUNNING, STOP): STOPPING,
    **{(state, RESTART): RESTARTING for state in _IN_A_RUN},
    # Stopped on request while waiting or between runs, or the run ended well.
    **{(state, END): STOPPED for state in (WAITING, *_IN_A_RUN, RESTARTING)},
    # The id is taken by another bundle (waiting), or a run failed for good.
    **{(state, GIVE_UP): FAILED for state in (WAITING, *_IN_A_RUN)},
    **{(state, BROKEN): FAILED for state in STATES},
}


class Lifecycle:
    """The current state of one unit; ``send`` is the only way to change it."""

    def __init__(self, uid: str, state: str = WAITING) -> None:
        self.id = uid
        self.state = state

    def allowed(self, event: str) -> bool:
        return (self.state, event) in TABLE

    def send(self, event: str) -> str:
        """The state after ``event``; raises ``LifecycleError`` (no change) if the
        table does not allow ``event`` in the current state."""
        after = TABLE.get((self.state, event))
        if after is None:
            raise LifecycleError(N_("cannot {event} a container that is {status}"),
                                 id=self.id, event=event, status=self.state)
        self.state = after
        return after
