"""Tearing a container down: what ``delete`` and a failed ``start`` share.

Order: kill what still runs (the init, every process of its cgroup) and wait for
it; remove the cgroup; run the poststop hooks (a failure is a warning,
runtime-spec 1.3); remove the state directory last, so that an interrupted delete
can be repeated.
"""

from __future__ import annotations

import os
import select
import time

from fire import jsonlite
from fire.cgroup.manager import Manager
from fire.errors import FireError, HookError
from fire.hooks import runner
from fire.log import log
from fire.procfs import alive

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import HookPlan
    from fire.spec.state import State
    from fire.store import ContainerDir


def wait_gone(pid: int, started: int, timeout: float = 10.0) -> bool:
    """Wait until ``pid`` (started at ``started``) has exited."""
    if not alive(pid, started):
        return True
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return True
    try:
        if not alive(pid, started):
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if poller.poll(int((deadline - time.monotonic()) * 1000) + 1):
                return True
        return False
    finally:
        os.close(fd)


def kill_all(state: State) -> None:
    """SIGKILL the container's processes and wait for its main process to go."""
    cg = Manager.from_state(state.cgroup)
    for pid, started in ((state.pid, state.pidStart), (state.initPid, state.initStart)):
        if pid and alive(pid, started):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    if cg is not None:
        cg.kill_all(9)
    wait_gone(state.pid, state.pidStart)


def hook_state(state: State, status: str) -> bytes:
    public = state.public(status)
    public["pid"] = state.pid
    keep = ("ociVersion", "id", "status", "pid", "bundle", "annotations")
    return jsonlite.dumps({k: v for k, v in public.items() if k in keep}).encode()


def run_hooks(state: State, phase: str, status: str) -> None:
    """Run the stored hooks of ``phase`` (poststart or poststop) in order."""
    hooks = (state.hooks or {}).get(phase) or []
    payload = hook_state(state, status)
    for i, hook in enumerate(hooks):
        plan: HookPlan = {"path": str(hook["path"]), "args": list(hook.get("args") or []),  # type: ignore[call-overload]
                          "env": list(hook.get("env") or []),  # type: ignore[call-overload]
                          "timeout": hook.get("timeout")}  # type: ignore[typeddict-item]
        runner.run(plan, payload, phase, i, lambda text: log.info("{t}", t=text))


def destroy(cdir: ContainerDir, state: State) -> None:
    kill_all(state)
    cg = Manager.from_state(state.cgroup)
    if cg is not None:
        cg.destroy()
    try:
        run_hooks(state, "poststop", "stopped")
    except (HookError, FireError, OSError) as exc:
        log.warning("{error}", error=str(exc))
    cdir.remove()
