"""The security part of ``create`` (its "seccomp" stage), in one call.

LSM labels are checked against this kernel (a process label it cannot apply is an
error, a mount label is left out with a warning),
the seccomp filter is compiled (or taken from the cache in ``--root``), and where a
notify listener must go is recorded in the state, for ``fire start``.
"""

from __future__ import annotations

from fire.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import SeccompPlan
    from fire.spec.config import Spec
    from fire.spec.state import State


def prepare_security(spec: Spec, bundle: str, root: str, state: State) -> SeccompPlan | None:
    """The init's seccomp plan (None without ``linux.seccomp``).  Updates
    ``state.extra`` when a listener is used: the caller writes the state."""
    from fire.security import lsm

    for warning in lsm.check(spec):
        log.warning("{warning}", warning=warning)
    if spec.linux is None or spec.linux.seccomp is None:
        return None
    from fire.seccomp.compile import seccomp_plan
    from fire.seccomp.notify import STATE_KEY

    seccomp, warnings = seccomp_plan(spec, bundle, root)
    for warning in warnings:
        log.warning("{warning}", warning=warning)
    if seccomp is not None and seccomp["listener_path"]:
        extra = dict(state.extra or {})
        extra[STATE_KEY] = {"path": seccomp["listener_path"],
                            "metadata": seccomp["listener_metadata"]}
        state.extra = extra
    return seccomp
