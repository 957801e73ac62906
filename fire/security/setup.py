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
    from collections.abc import Callable

    from fire.init.plan import SeccompPlan
    from fire.spec.config import Spec
    from fire.spec.state import State


def prepare_security(spec: Spec, bundle: str, root: str, state: State | None,
                     warn: Callable[[str], None] | None = None) -> SeccompPlan | None:
    """The init's seccomp plan (None without ``linux.seccomp``).  Updates
    ``state.extra`` when a listener is used: the caller writes the state.  (No
    state: fire-supervise compiles ahead of create, which records the listener
    when it takes the plan over, ``record_listener``.)  Warnings go to ``warn``,
    else to the log."""
    from fire.security import lsm

    if warn is None:
        def warn(text: str) -> None:
            log.warning("{warning}", warning=text)

    for warning in lsm.check(spec):
        warn(warning)
    if spec.linux is None or spec.linux.seccomp is None:
        return None
    from fire.seccomp.compile import seccomp_plan

    seccomp, warnings = seccomp_plan(spec, bundle, root)
    for warning in warnings:
        warn(warning)
    if state is not None:
        record_listener(seccomp, state)
    return seccomp


def record_listener(seccomp: SeccompPlan | None, state: State) -> bool:
    """Where the notify listener goes, in ``state.extra`` (for ``fire start``); True
    when the state changed."""
    if seccomp is None or not seccomp["listener_path"]:
        return False
    from fire.seccomp.notify import STATE_KEY

    extra = dict(state.extra or {})
    extra[STATE_KEY] = {"path": seccomp["listener_path"],
                        "metadata": seccomp["listener_metadata"]}
    state.extra = extra
    return True
