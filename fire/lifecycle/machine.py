"""The container lifecycle as a pure state machine (h11's shape: no I/O).

What lives here: which operation is allowed in which state, the error it gives
otherwise (runc's wording, which engines match), and the ordered *actions* an
allowed operation requires.  The caller carries the actions out and reports the
outcome with another event.  What must not live here: anything that touches files,
processes or the kernel.

The OCI rules encoded (runtime-spec 1.3 `runtime.md`):

* ``start`` only from ``created``; anything else is an error with no effect.
* ``kill`` from ``created``, ``running`` or ``paused``; on ``stopped``: "container
  not running".
* ``delete`` from ``stopped``; from ``created`` too (runc and crun allow it and
  engines rely on it); from ``running``/``paused`` only with ``force`` (a paused
  container is thawed before it is killed).
* runtime.md steps 3-9: a failing prestart, createRuntime, createContainer,
  startContainer or poststart hook is an error; the container is stopped and the
  lifecycle "continues at step 12": destroy (undo step 2), then step 13, the
  poststop hooks.  So every such failure yields ``DESTROY``, poststop included.
* a failing poststop hook is a warning only (the caller logs it and goes on).
* a create that fails *before* its first hook step (step 2: "unable to create the
  environment") only generates an error: no hook has run, so there is nothing for
  a poststop hook to undo, and none runs.  Once the hook steps have begun
  (``HOOKS_BEGIN``), any later create failure — a hook's, or pivot_root's after the
  hooks — destroys the container *with* its poststop hooks: a createRuntime hook
  that set up a network must see its poststop counterpart, or the network leaks.
  (runc's destroy path runs the poststop hooks after any failed create.)
  ``HOOKS_BEGIN`` moves the machine to ``HOOKING``: a state of its own, not a flag
  beside the table, and not an OCI status (``status`` still says ``creating``).

Destruction order (``DESTROY``): kill everything and wait, remove the cgroup and
the rest of step 2's work, run the poststop hooks (step 13 comes after step 12),
and remove the state directory last, so that an interrupted delete can be
repeated and still finds the hooks to run.
"""

from __future__ import annotations

from fire.errors import LifecycleError
from fire.hooks.policy import CREATE_PHASES
from fire.i18n import N_
from fire.spec.state import CREATED, CREATING, PAUSED, RUNNING, STOPPED

# Events
START = "start"
STARTED = "started"
START_FAILED = "start-failed"  # a startContainer hook failed (step 7: destroy)
PROGRAM_FAILED = "program-failed"  # start failed otherwise: stop, keep for delete
POSTSTART_FAILED = "poststart-failed"
KILL = "kill"
KILL_EVERY = "kill-every"  # kill --all: every process of the cgroup
DELETE = "delete"
FORCE_DELETE = "force-delete"
PAUSE = "pause"
RESUME = "resume"
HOOKS_BEGIN = "hooks-begin"  # create reached its hook steps (runtime.md step 3)
CREATE_FAILED = "create-failed"

# Actions
RELEASE = "release-init"  # let the waiting init run the program
RUN_POSTSTART = "hooks:poststart"
RUN_POSTSTOP = "hooks:poststop"  # failures are warnings
SIGNAL = "signal"  # the signal the caller asked for
THAW = "thaw"
FREEZE = "freeze"
KILL_ALL = "kill-all"  # SIGKILL everything in the container, wait for it
REMOVE_CGROUP = "remove-cgroup"
REMOVE_STATE = "remove-state"
SET_RUNNING = "set-running"
SET_PAUSED = "set-paused"

DESTROY = (KILL_ALL, REMOVE_CGROUP, RUN_POSTSTOP, REMOVE_STATE)
# A create that fails before its hook steps: no hook ran, no poststop hook runs.
UNDO_CREATE = (KILL_ALL, REMOVE_CGROUP, REMOVE_STATE)

# The machine's state beyond the OCI statuses: a create that has reached its hook
# steps (``HOOKS_BEGIN``).  Its status is still ``creating``; only what a failure
# does differs (``DESTROY``, poststop included).  Never written to state.json.
HOOKING = "creating:hooks"
_STATUS = {HOOKING: CREATING}  # the OCI status of a state that is not one

# (state, event) -> actions.  Anything absent is illegal.
_TABLE: dict[tuple[str, str], tuple[str, ...]] = {
    (CREATING, HOOKS_BEGIN): (),
    (CREATING, CREATE_FAILED): UNDO_CREATE,
    (HOOKING, HOOKS_BEGIN): (),
    (HOOKING, CREATE_FAILED): DESTROY,
    (HOOKING, FORCE_DELETE): DESTROY,
    (CREATED, START): (RELEASE,),
    (CREATED, STARTED): (SET_RUNNING, RUN_POSTSTART),
    (CREATED, START_FAILED): DESTROY,
    (CREATED, PROGRAM_FAILED): (KILL_ALL,),
    (RUNNING, POSTSTART_FAILED): DESTROY,
    (STOPPED, POSTSTART_FAILED): DESTROY,
    (CREATED, KILL): (SIGNAL,),
    (RUNNING, KILL): (SIGNAL,),
    (PAUSED, KILL): (SIGNAL,),
    # runc 1.1 (what engines call): --all signals what is left in the cgroup even
    # once the init is gone (no pid namespace: its children outlive it); a stopped
    # container without a cgroup has nothing to signal, which is success.
    (CREATED, KILL_EVERY): (SIGNAL,),
    (RUNNING, KILL_EVERY): (SIGNAL,),
    (PAUSED, KILL_EVERY): (SIGNAL,),
    (STOPPED, KILL_EVERY): (SIGNAL,),
    (STOPPED, DELETE): DESTROY,
    (CREATED, DELETE): DESTROY,
    (CREATING, FORCE_DELETE): DESTROY,
    (CREATED, FORCE_DELETE): DESTROY,
    (STOPPED, FORCE_DELETE): DESTROY,
    (RUNNING, FORCE_DELETE): DESTROY,
    (PAUSED, FORCE_DELETE): (THAW, *DESTROY),
    (RUNNING, PAUSE): (FREEZE, SET_PAUSED),
    (CREATED, PAUSE): (FREEZE, SET_PAUSED),
    (PAUSED, RESUME): (THAW, SET_RUNNING),
}

_ERRORS: dict[tuple[str, str], str] = {
    (RUNNING, START): N_("cannot start an already running container"),
    (PAUSED, START): N_("cannot start a container in the paused state"),
    (STOPPED, START): N_("cannot start a container that has stopped"),
    (CREATING, START): N_("cannot start a container that is still being created"),
    (STOPPED, KILL): N_("container not running"),
    (CREATING, KILL): N_("container not running"),
    (CREATING, KILL_EVERY): N_("container not running"),
    (RUNNING, DELETE): N_("cannot delete container {id} that is not stopped: running"),
    (PAUSED, DELETE): N_("cannot delete container {id} that is not stopped: paused"),
    (CREATING, DELETE): N_("cannot delete container {id} that is not stopped: creating"),
    (STOPPED, PAUSE): N_("container not running"),
    (CREATING, PAUSE): N_("container not running"),
    (HOOKING, START): N_("cannot start a container that is still being created"),
    (HOOKING, KILL): N_("container not running"),
    (HOOKING, KILL_EVERY): N_("container not running"),
    (HOOKING, DELETE): N_("cannot delete container {id} that is not stopped: creating"),
    (HOOKING, PAUSE): N_("container not running"),
    (PAUSED, PAUSE): N_("container already paused"),
    (RUNNING, RESUME): N_("container not paused"),
    (CREATED, RESUME): N_("container not paused"),
    (STOPPED, RESUME): N_("container not running"),
}

# The state that follows an action sequence, for the caller's bookkeeping.
_NEXT = {SET_RUNNING: RUNNING, SET_PAUSED: PAUSED, REMOVE_STATE: STOPPED}
# The state that follows an event with no such action.
_AFTER = {(CREATING, HOOKS_BEGIN): HOOKING}


def failure_event(phase: str) -> str | None:
    """The event a failing hook of ``phase`` sends; None: the failure is a warning."""
    if phase in CREATE_PHASES:
        return CREATE_FAILED
    return {"startContainer": START_FAILED, "poststart": POSTSTART_FAILED}.get(phase)


class Machine:
    def __init__(self, cid: str, status: str) -> None:
        self.id = cid
        self.state = status  # an OCI status, or HOOKING

    @property
    def status(self) -> str:
        """The OCI status of the current state (what state.json and errors say)."""
        return _STATUS.get(self.state, self.state)

    def allowed(self, event: str) -> bool:
        return (self.state, event) in _TABLE

    def send(self, event: str) -> tuple[str, ...]:
        """The actions ``event`` requires; raises ``LifecycleError`` (no change) if
        the event is not allowed in the current state."""
        actions = _TABLE.get((self.state, event))
        if actions is None:
            template = _ERRORS.get((self.state, event),
                                   N_("cannot {event} a container that is {status}"))
            raise LifecycleError(template, id=self.id, event=event, status=self.status)
        state = _AFTER.get((self.state, event), self.state)
        for action in actions:
            state = _NEXT.get(action, state)
        self.state = state
        return actions
