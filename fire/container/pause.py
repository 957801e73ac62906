"""``pause`` / ``resume``: freeze and thaw every process of a container's cgroup.

The lifecycle machine says what is allowed (pause from created or running, resume
from paused) and in what words it is refused; the freezer does the work and
returns once the kernel reports the cgroup frozen (or thawed).  The status before
the pause is remembered so that a paused *created* container resumes as created.
"""

from __future__ import annotations

from fire.cgroup.freezer import freeze, thaw
from fire.cgroup.rootless import has_none, no_cgroup_error
from fire.container.status import load
from fire.lifecycle import machine as lm
from fire.spec.state import CREATED, PAUSED, RUNNING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.store import Store

_RESUME_TO = "resumeTo"


def pause(store: Store, cid: str) -> None:
    cdir, state, status = load(store, cid, lock=True)
    try:
        if has_none(state.cgroup):
            raise no_cgroup_error(cid, "pause")
        for action in lm.Machine(cid, status).send(lm.PAUSE):
            if action == lm.FREEZE:
                freeze(state.cgroup)
            elif action == lm.SET_PAUSED:
                cg = dict(state.cgroup or {})
                cg[_RESUME_TO] = status
                state.cgroup = cg
                state.status = PAUSED
                cdir.write_state(state)
    finally:
        cdir.close()


def resume(store: Store, cid: str) -> None:
    cdir, state, status = load(store, cid, lock=True)
    try:
        for action in lm.Machine(cid, status).send(lm.RESUME):
            if action == lm.THAW:
                thaw(state.cgroup)
            elif action == lm.SET_RUNNING:
                cg = dict(state.cgroup or {})
                before = cg.pop(_RESUME_TO, RUNNING)
                state.cgroup = cg
                state.status = CREATED if before == CREATED else RUNNING
                cdir.write_state(state)
    finally:
        cdir.close()
