"""Hooks under fire-supervise: the runtime-side phases are delegated by `fire create`,
`fire start` and `fire delete` to the supervisor (FIRE_DELEGATE_FD), which runs them
with the trio runner and publishes a `hook` event per hook; createContainer and
startContainer stay in the container's init."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any

import pytest

from fire import events as ev
from fire.supervisor.client import request
from tests.conftest import Fire, base_config, cgroup_dirs_of
from tests.hooks.helpers import marker, processes_with
from tests.supervisor.conftest import SERVE, Bundles, Supervised, alive, toml, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

RUNTIME_SIDE = ["prestart", "createRuntime", "poststart", "poststop"]


def recorder(phase: str, log: Path, inner: str = "") -> dict[str, Any]:
    """A hook that appends "PHASE PPID CWD" to ``log``, or (an init's hook) "PHASE"
    to ``inner``: createContainer runs before pivot_root and sees the host's paths,
    startContainer the container's (busybox picks its applet by argv0)."""
    if inner:
        return {"path": "/bin/busybox" if phase == "startContainer" else "/bin/sh",
                "args": ["sh", "-c", f"echo {phase} >> {inner}"]}
    return {"path": "/bin/sh", "args": [
        "sh", "-c", f'echo "{phase} $PPID $(pwd)" >> {log}; echo "{phase} says hello"']}


def hook_events(sup: Supervised, cid: str) -> list[ev.Hook]:
    return sup.of(cid, ev.Hook)


def test_runtime_side_hooks_run_in_the_supervisor_with_an_event_each(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    trace.mkdir()
    log = trace / "runtime"
    hooks = {phase: [recorder(phase, log)] for phase in RUNTIME_SIDE}
    hooks["createContainer"] = [recorder("createContainer", log, inner=str(trace / "trace"))]
    hooks["startContainer"] = [recorder("startContainer", log, inner="/tmp/trace")]
    cid = fire.unique_id("hooks")
    mounts = [*base_config()["mounts"], {"destination": "/tmp", "type": "bind",
                                         "source": str(trace), "options": ["rbind", "rw"]}]
    bundle = bundles("hooks", SERVE, hooks=hooks, mounts=mounts)
    sup = supervise(toml({cid: {"bundle": str(bundle), "stop_timeout": 5}}))
    sup.wait_state(cid, "running")
    assert sup.wait_for(lambda e: isinstance(e, ev.Hook) and e.phase == "poststart")
    assert sup.terminate() == 0

    events = hook_events(sup, cid)
    assert [e.phase for e in events] == RUNTIME_SIDE, "one event per runtime-side hook, in order"
    for event in events:
        assert (event.ok, event.index, event.path, event.error) == (True, 0, "/bin/sh", "")
        assert 0 < event.duration < 10
    ran = [line.split() for line in log.read_text().splitlines()]
    assert [r[0] for r in ran] == RUNTIME_SIDE
    assert {int(r[1]) for r in ran} == {sup.proc.pid}, "each hook is the supervisor's child"
    assert [r[2] for r in ran[:2]] == [str(bundle)] * 2, "create's hooks run in the bundle"
    assert (trace / "trace").read_text().split() == ["createContainer", "startContainer"], (
        "the in-container phases still run in the init")
    said = [e.text for e in sup.of(cid, ev.Log) if e.text.endswith("says hello")]
    assert said == [f"{p} hook #0 (/bin/sh): {p} says hello" for p in RUNTIME_SIDE]


def test_a_hook_past_its_timeout_is_killed_with_its_tree_and_the_container_torn_down(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    tag = marker()
    poststop = tmp_path / "poststop"
    cid = fire.unique_id("slow")
    bundle = bundles("slow", SERVE, hooks={
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"sleep {tag} & sleep {tag}"],
                           "timeout": 1}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {poststop}"]}]})
    sup = supervise(toml({cid: {"bundle": str(bundle)}}))
    failed = sup.wait_state(cid, "failed", timeout=60)
    creating = next(e for e in sup.of(cid, ev.State) if e.state == "creating")
    assert failed.time - creating.time < 8, "the trio driver's fail_after fired"

    error = "createRuntime hook #0 (/bin/sh) ran past its timeout of 1s"
    events = hook_events(sup, cid)
    assert [(e.phase, e.ok) for e in events] == [("createRuntime", False), ("poststop", True)]
    assert events[0].error == error
    assert 0.9 < events[0].duration < 6
    stage = next(e for e in sup.of(cid, ev.StageFailed) if e.stage == "create")
    assert stage.error == error, "create fails with the hook's own message"
    assert '"status":"stopped"' in poststop.read_text(), "torn down with poststop hooks"
    assert processes_with(tag) == [], "the hook and the child it backgrounded are gone"
    assert not (fire.root / cid).exists()
    assert cgroup_dirs_of(cid) == []
    assert sup.terminate() == 0


def test_a_failing_poststop_hook_is_a_warning(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    cid = fire.unique_id("warn")
    bundle = bundles("warn", SERVE, hooks={"poststop": [
        {"path": "/bin/sh", "args": ["sh", "-c", "echo cannot unmount; exit 3"]},
        {"path": "/bin/true", "args": ["true"]}]})
    sup = supervise(toml({cid: {"bundle": str(bundle), "stop_timeout": 5}}))
    pid = sup.wait_state(cid, "running").pid
    sup.signal(signal.SIGTERM)
    assert sup.proc.wait(60) == 0
    sup.thread.join(10)
    events = hook_events(sup, cid)
    assert [(e.phase, e.index, e.ok) for e in events] == [("poststop", 0, False),
                                                         ("poststop", 1, True)]
    assert events[0].error == "poststop hook #0 (/bin/sh) failed: exit status 3: cannot unmount"
    assert [e.stage for e in sup.of(cid, ev.StageFinished)][-1] == "delete", (
        "delete succeeded despite the hook")
    assert not [e for e in sup.of(cid, ev.StageFailed)]
    assert sup.states(cid)[-1] == "stopped"
    assert not alive(pid)
    assert not (fire.root / cid).exists()


def test_a_failing_poststart_hook_stops_and_deletes_the_container(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    log = tmp_path / "poststop"
    cid = fire.unique_id("pstart")
    bundle = bundles("pstart", SERVE, hooks={
        "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"echo ran >> {log}"]}]})
    sup = supervise(toml({cid: {"bundle": str(bundle)}}))
    sup.wait_state(cid, "failed")
    assert [(e.phase, e.ok) for e in hook_events(sup, cid)] == [("poststart", False),
                                                               ("poststop", True)]
    stage = next(e for e in sup.of(cid, ev.StageFailed) if e.stage == "start")
    assert stage.error == "poststart hook #0 (/bin/sh) failed: exit status 7"
    assert log.read_text() == "ran\n", "runtime.md step 9: poststop hooks after a poststart failure"
    deadline = time.monotonic() + 10
    while (fire.root / cid).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (fire.root / cid).exists()
    assert sup.terminate() == 0


def test_a_stop_during_a_hook_kills_its_tree_and_tears_the_container_down(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    """The trio runner's shielded kill on cancellation (trio's run_process shape):
    the set-up is cancelled while a createRuntime hook (no timeout) runs."""
    tag = marker()
    poststop = tmp_path / "poststop"
    cid = fire.unique_id("stuck")
    bundle = bundles("stuck", SERVE, hooks={
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"sleep {tag} & sleep {tag}"]}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {poststop}"]}]})
    sup = supervise(toml({cid: {"bundle": str(bundle)}}))
    assert wait_until(lambda: len(processes_with(tag)) >= 2), "the hook and its child run"
    assert request(str(fire.root), ev.Stop(id=cid)).ok
    sup.wait_state(cid, "stopped")
    assert processes_with(tag) == [], "the hook's whole tree was killed"
    assert [(e.phase, e.ok) for e in hook_events(sup, cid)] == [("poststop", True)]
    assert any("createRuntime hooks were cut short" in e.text for e in sup.of(cid, ev.Log))
    assert '"status":"stopped"' in poststop.read_text(), "delete --force ran the poststop hooks"
    assert not (fire.root / cid).exists()
    assert cgroup_dirs_of(cid) == []
    assert sup.terminate() == 0
