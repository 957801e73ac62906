"""Tearing a container down: what ``delete``, a failed ``start`` and a failed
``create`` share (runtime.md steps 12 and 13).

The order is the lifecycle machine's ``DESTROY``: kill what still runs (the
container's process, the init, every process of its cgroup) and wait for it;
remove the cgroup, and Fire's own network and storage (fire.net.stage,
fire.storage.stage: the veth, the address lease, a kept upper layer moved out);
run the poststop hooks (each failure a warning, the next hook still runs); remove
the state directory last, so that an interrupted delete can be repeated.
"""

from __future__ import annotations

import os
import select
import time

from fire import delegate, jsonlite
from fire.cgroup import driver as cgroup_driver
from fire.hooks import policy
from fire.lifecycle import machine as lm
from fire.log import log
from fire.procfs import alive

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.manager import Manager
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


def kill_all(state: State, cg: Manager | None) -> None:
    """SIGKILL the container's processes and wait for its main process to go
    (``cg``: its cgroup, as ``cgroup_driver.from_state`` loads it)."""
    below: list[int] = []
    if cg is None and state.pid and alive(state.pid, state.pidStart):
        # No cgroup (rootless): what the process table shows below the container's
        # process, taken before it dies and they are re-parented (docs/rootless.md)
        from fire.procfs import descendants

        below = [p for p in descendants(state.pid) if p != state.pid]
    for pid in below:  # first: dead, their parent cannot reap them and free the pid
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    for pid, started in ((state.pid, state.pidStart), (state.initPid, state.initStart)):
        if pid and alive(pid, started):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    if cg is not None:
        cg.kill_all(9)
    wait_gone(state.pid, state.pidStart)


def hook_state(state: State, phase: str, pid: int | None = None) -> bytes:
    """The state JSON a runtime-side hook of ``phase`` reads (the host's pids)."""
    base = {"ociVersion": state.oci_version, "id": state.id, "bundle": state.bundle,
            "annotations": state.annotations}
    payload = policy.state(base, phase, state.pid if pid is None else pid)
    return jsonlite.dumps(payload).encode()


def stored_hooks(state: State, phase: str) -> list[HookPlan]:
    """The hooks of ``phase`` that create stored in state.json."""
    out: list[HookPlan] = []
    for hook in (state.hooks or {}).get(phase) or []:
        args = hook.get("args")
        env = hook.get("env")
        timeout = hook.get("timeout")
        out.append({"path": str(hook["path"]),
                    "args": [str(a) for a in args] if isinstance(args, list) else [],
                    "env": [str(e) for e in env] if isinstance(env, list) else [],
                    "timeout": float(timeout) if isinstance(timeout, (int, float)) else None})
    return out


def _output(text: str) -> None:
    log.info("{output}", output=text)


def _warn(text: str) -> None:
    log.warning(policy.WARNING, error=text)


def run_hooks(state: State, phase: str) -> None:
    """Run the stored hooks of ``phase`` (poststart or poststop) in order.

    A poststart failure raises ``HookError``; poststop failures are logged as
    warnings and the remaining hooks still run.
    """
    hooks = stored_hooks(state, phase)
    if hooks:  # by fire-supervise when it runs us (fire.delegate), else here
        delegate.run_hooks(hooks, hook_state(state, phase), phase, _output, _warn)


def destroy(cdir: ContainerDir | None, state: State,
            actions: tuple[str, ...] = lm.DESTROY) -> None:
    """Carry out the machine's destruction ``actions`` (``DESTROY`` by default).

    The cgroup is loaded once (a parse of /proc/self/mountinfo), and its processes
    are killed once: removing it after ``KILL_ALL`` starts with the ``rmdir``s
    (``Manager.destroy``: what escaped the kill is killed before each retry)."""
    cg = cgroup_driver.from_state(state.cgroup)
    killed = False
    for action in actions:
        if action == lm.KILL_ALL:
            kill_all(state, cg)
            killed = True
        elif action == lm.REMOVE_CGROUP:
            if cg is not None:
                cg.destroy(killed=killed)
            if cdir is not None and ("net" in (state.extra or {})
                                     or "storage" in (state.extra or {})):
                release_own(cdir, state)
            if "hostMounts" in (state.extra or {}):  # no mount namespace of its own
                from fire.container import hostmounts

                hostmounts.release(state)
        elif action == lm.RUN_POSTSTOP:
            run_hooks(state, "poststop")
        elif action == lm.REMOVE_STATE and cdir is not None:
            cdir.remove()


def release_own(cdir: ContainerDir, state: State) -> None:
    """Fire's own network and storage, as state.json records them (it is written
    before they are made, so this also cleans after a crash)."""
    from fire.net.stage import teardown as net_teardown
    from fire.storage.stage import teardown as storage_teardown

    net_teardown(cdir.root, state)
    storage_teardown(cdir.root, cdir.path, state)
