"""The stages fire-supervise runs ahead of ``fire create`` (``Stage.ahead``).

Why: they need no fork, no unshare and no state directory, so the supervisor can
run them in worker threads, at the same time as each other and as its own set-up
stages, and ``fire create`` then only takes their results over (``fire.prepared``):

* **seccomp**: the LSM checks and the filter compiled to BPF (pyseccomp, or the
  compile cache in ``--root``), by ``fire.security.setup.prepare_security``, as
  create does it;
* **cgroup** (the cgroupfs driver, as root): the directories made and limited by
  ``fire.cgroup.manager.Manager``, as create does it; create records them in the
  state before anything else can fail, joins the init, and does not limit again.
  With the systemd driver, systemd makes the scope when create starts the init in
  it: that stays with create (``ahead_allowed``).

A seccomp stage with no filter to compile (the LSM checks only) runs in the trio
thread: a worker thread costs more than the work.

Undo: a run whose later stage fails removes the cgroup it made (``remove_cgroup``);
a create that failed has removed it already, which is no error.

``FIRE_TEST_FAIL_AT=<stage>`` (test-only, as in create) fails a stage here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import trio

from fire.errors import InitError
from fire.prepared import Handover, to_fd

if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.cgroup.manager import Manager
    from fire.init.plan import SeccompPlan
    from fire.lifecycle.stages import Stage
    from fire.spec.config import Spec


def ahead_allowed(cgroup_manager: str) -> Callable[[Stage], bool]:
    """Which ``ahead`` stages this container's supervisor runs: not the cgroup with
    the systemd driver (systemd makes it) nor rootless (a delegated subtree is
    decided on the decoded config: fire.cgroup.rootless)."""
    from fire import rootless

    cgroup = cgroup_manager != "systemd" and not rootless.enabled()
    return lambda stage: stage.name != "cgroup" or cgroup


def fail_point(stage: str) -> None:
    """Test-only: ``FIRE_TEST_FAIL_AT=<stage>`` fails that stage (as in create)."""
    if os.environ.get("FIRE_TEST_FAIL_AT") == stage:
        raise InitError(None, stage=stage, detail="failure injected (FIRE_TEST_FAIL_AT)")


class Ahead:
    """One run's prepared stages: what they made, and the record for create."""

    def __init__(self, cid: str, root: str, warn: Callable[[str], None]) -> None:
        self.id = cid
        self.root = root
        self.warn = warn
        self.done = Handover()
        self.cgroup: Manager | None = None

    async def seccomp(self, spec: Spec, bundle: str) -> None:
        from fire.security.setup import prepare_security

        warnings: list[str] = []

        def compile_filter() -> SeccompPlan | None:
            fail_point("seccomp")
            return prepare_security(spec, bundle, self.root, None, warnings.append)

        if spec.linux is None or spec.linux.seccomp is None:
            plan = compile_filter()  # the LSM checks only: no thread for so little
        else:
            plan = await trio.to_thread.run_sync(compile_filter)
        for text in warnings:
            self.warn(text)
        self.done.seccomp = plan
        self.done.stages.add("seccomp")

    async def make_cgroup(self, spec: Spec) -> None:
        await trio.to_thread.run_sync(self._make_cgroup, spec)

    def _make_cgroup(self, spec: Spec) -> None:
        from fire.cgroup.driver import for_config
        from fire.cgroup.translate import translate

        fail_point("cgroup")
        cgroups_path = spec.linux.cgroups_path if spec.linux is not None else None
        cgroup = for_config(cgroups_path, self.id)
        translation = translate(spec.linux.resources if spec.linux else None, cgroup.where)
        for warning in translation.warnings:
            self.warn(warning)
        cgroup.created = cgroup.planned()
        self.cgroup = cgroup  # recorded before it is made: the undo removes it
        try:
            cgroup.create()
            cgroup.apply(translation)
        except BaseException:  # the graph undoes only the stages that succeeded
            self.cgroup = None
            cgroup.destroy()
            raise
        self.done.cgroup_path = cgroup.path
        self.done.cgroup_created = list(cgroup.created)
        self.done.stages.add("cgroup")

    async def remove_cgroup(self) -> None:
        cgroup, self.cgroup = self.cgroup, None
        if cgroup is not None:
            await trio.to_thread.run_sync(cgroup.destroy)

    def handover(self) -> int:
        """A memfd with the record (fire.prepared), or -1 when nothing was done."""
        return to_fd(self.done) if self.done.stages else -1
