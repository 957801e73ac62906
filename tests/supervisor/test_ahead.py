"""The stages fire-supervise runs ahead of `fire create` (seccomp, cgroup: the
stages CREATE declares ``ahead``): they run in the supervisor, as its stages,
`fire create` takes their results over, the container still gets them, and a
failure anywhere leaves nothing behind."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from fire import events as ev
from fire.cgroup.manager import Manager
from fire.lifecycle.stages import CREATE
from fire.supervisor.unit import setup_graph
from tests.conftest import cgroup_dirs_of
from tests.supervisor.conftest import SERVE, Bundles, Supervised, toml

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

AHEAD = [s.name for s in CREATE if s.ahead]
LIMIT = 64 * 1024 * 1024
SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}


def limited(bundles: Bundles, name: str, script: str = SERVE) -> Path:
    """A bundle with a seccomp filter and a memory limit."""
    path = bundles(name, script)
    config = json.loads((path / "config.json").read_text())
    config["linux"]["seccomp"] = SECCOMP
    config["linux"]["resources"] = {"memory": {"limit": LIMIT}}
    (path / "config.json").write_text(json.dumps(config))
    return path


def stage_events(sup: Supervised, cid: str) -> list[Any]:
    return [e for e in sup.of(cid) if isinstance(
        e, (ev.StageStarted, ev.StageFinished, ev.StageFailed)) and e.run == 1]


def memory_limit(state: dict[str, Any]) -> int:
    cgroup = Manager.load(state["cgroup"])
    assert cgroup is not None
    where = cgroup.dir_for("memory")
    assert where is not None
    for name in ("memory.max", "memory.limit_in_bytes"):
        if os.path.exists(os.path.join(where, name)):
            with open(os.path.join(where, name)) as f:
                return int(f.read())
    raise AssertionError(f"no memory limit file in {where}")


def test_the_ahead_stages_run_in_the_supervisor_and_the_container_gets_them(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    check_ahead(fire, bundles, supervise)


@pytest.mark.cgroup2
def test_the_ahead_cgroup_on_cgroup_v2(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    """The same on a cgroup-v2-only kernel (memory.max, the controllers enabled by the
    supervisor's cgroup stage)."""
    check_ahead(fire, bundles, supervise)


def check_ahead(fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    cid = fire.unique_id("ahead")
    sup = supervise(toml({cid: {"bundle": str(limited(bundles, cid))}}))
    running = sup.wait_state(cid, "running")
    mine = stage_events(sup, cid)
    assert AHEAD == ["cgroup", "seccomp"]
    for name in AHEAD:
        events = [e for e in mine if e.stage == name]
        assert [(type(e), e.side) for e in events] == [
            (ev.StageStarted, "supervisor"), (ev.StageFinished, "supervisor")], \
            f"{name} ran once, in the supervisor; fire create did not report it"
    # The order of the derived graph: each stage after what it needs, create after all.
    graph = {s.name: s for s in setup_graph()}
    at = {(type(e), e.stage): i for i, e in enumerate(mine)}
    for name, stage in graph.items():
        for need in stage.needs:
            assert at[ev.StageFinished, need] < at[ev.StageStarted, name], (name, need)
    create_began = at[ev.StageStarted, "create"]
    runtime = [e.stage for e in mine[create_began:] if e.side == "runtime"]
    assert {"validate", "spawn"} <= set(runtime)
    assert not set(AHEAD) & set(runtime)
    # The container has its filter and its limit all the same.
    with open(f"/proc/{running.pid}/status") as f:
        status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    assert status["Seccomp"].strip() == "2"
    state = json.loads((fire.root / cid / "state.json").read_text())
    assert memory_limit(state) == LIMIT
    assert state["cgroup"]["created"], "create recorded the directories the supervisor made"
    assert sup.terminate() == 0
    assert cgroup_dirs_of(cid) == [], "delete removed the cgroup the supervisor made"


@pytest.mark.parametrize(("fail_at", "failed_stage", "side"), [
    ("seccomp", "seccomp", "supervisor"),
    ("cgroup", "cgroup", "supervisor"),
    ("validate", "create", "runtime"),  # before create took the cgroup over
    ("spawn", "create", "runtime"),
    ("created", "create", "runtime"),
])
def test_a_failure_at_any_stage_leaves_nothing(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        monkeypatch: pytest.MonkeyPatch, fail_at: str, failed_stage: str, side: str) -> None:
    cid = fire.unique_id("fail")
    monkeypatch.setenv("FIRE_TEST_FAIL_AT", fail_at)  # the supervisor's, and create's
    sup = supervise(toml({cid: {"bundle": str(limited(bundles, cid))}}))
    failed = sup.wait_state(cid, "failed")
    # Looked at before the supervisor ends (its exit would clean up too).
    assert not (fire.root / cid).exists()
    assert cgroup_dirs_of(cid) == []
    assert failed.reason == f"stage {failed_stage} failed"
    failures = [(e.stage, e.side) for e in sup.of(cid, ev.StageFailed)]
    assert (fail_at, side) in failures, failures
    assert not [e for e in sup.of(cid, ev.StageStarted) if e.stage == "start"]
    assert sup.terminate() == 0


def test_a_limit_the_kernel_refuses_removes_the_cgroup_made_for_it(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    """The cgroup stage fails half-way (made, then a write refused): it removes what
    it made itself (the graph undoes only the stages that succeeded)."""
    cid = fire.unique_id("refused")
    path = bundles(cid, SERVE)
    config = json.loads((path / "config.json").read_text())
    config["linux"]["resources"] = {"cpu": {"cpus": "4095"}}  # no such CPU
    (path / "config.json").write_text(json.dumps(config))
    sup = supervise(toml({cid: {"bundle": str(path)}}))
    sup.wait_state(cid, "failed")
    failed = [e for e in sup.of(cid, ev.StageFailed)]
    assert [(e.stage, e.side) for e in failed] == [("cgroup", "supervisor")]
    assert "cpuset.cpus" in failed[0].error, failed[0].error
    assert cgroup_dirs_of(cid) == []
    assert not (fire.root / cid).exists()
    assert sup.terminate() == 0
