"""The pure lifecycle machine and the stage graph (fire.lifecycle), no root."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest

from fire.errors import LifecycleError
from fire.lifecycle import machine as lm
from fire.lifecycle import stages
from fire.spec.state import CREATED, CREATING, PAUSED, RUNNING, STOPPED

if TYPE_CHECKING:
    from collections.abc import Callable

STATES = [CREATING, CREATED, RUNNING, PAUSED, STOPPED]
EVENTS = [lm.START, lm.STARTED, lm.START_FAILED, lm.PROGRAM_FAILED, lm.POSTSTART_FAILED,
          lm.KILL, lm.KILL_EVERY, lm.DELETE, lm.FORCE_DELETE, lm.PAUSE, lm.RESUME]


def test_start_only_from_created() -> None:
    for status in STATES:
        m = lm.Machine("c", status)
        if status == CREATED:
            assert m.send(lm.START) == (lm.RELEASE,)
        else:
            with pytest.raises(LifecycleError):
                m.send(lm.START)
            assert m.status == status, "an illegal event changes nothing"


@pytest.mark.parametrize(("status", "message"), [
    (RUNNING, "cannot start an already running container"),
    (STOPPED, "cannot start a container that has stopped"),
    (PAUSED, "cannot start a container in the paused state"),
])
def test_start_errors_are_runcs(status: str, message: str) -> None:
    with pytest.raises(LifecycleError, match=message):
        lm.Machine("c", status).send(lm.START)


def test_successful_start_runs_poststart() -> None:
    m = lm.Machine("c", CREATED)
    m.send(lm.START)
    assert m.send(lm.STARTED) == (lm.SET_RUNNING, lm.RUN_POSTSTART)
    assert m.status == RUNNING


def test_kill() -> None:
    for status in (CREATED, RUNNING, PAUSED):
        assert lm.Machine("c", status).send(lm.KILL) == (lm.SIGNAL,)
    for status in (STOPPED, CREATING):
        with pytest.raises(LifecycleError, match="container not running"):
            lm.Machine("c", status).send(lm.KILL)


def test_kill_all_reaches_a_stopped_containers_cgroup_as_runc_does() -> None:
    """runc 1.1's `kill --all` on a stopped container signals what is left in its
    cgroup (no pid namespace: the init's children outlive it) and succeeds."""
    for status in (CREATED, RUNNING, PAUSED, STOPPED):
        assert lm.Machine("c", status).send(lm.KILL_EVERY) == (lm.SIGNAL,)
    with pytest.raises(LifecycleError, match="container not running"):
        lm.Machine("c", CREATING).send(lm.KILL_EVERY)


def test_delete() -> None:
    for status in (STOPPED, CREATED):
        assert lm.Machine("c", status).send(lm.DELETE) == lm.DESTROY
    with pytest.raises(LifecycleError, match="cannot delete container c that is not stopped: "
                                             "running"):
        lm.Machine("c", RUNNING).send(lm.DELETE)
    with pytest.raises(LifecycleError, match="paused"):
        lm.Machine("c", PAUSED).send(lm.DELETE)


def test_force_delete_from_anywhere() -> None:
    for status in STATES:
        actions = lm.Machine("c", status).send(lm.FORCE_DELETE)
        assert actions[-len(lm.DESTROY):] == lm.DESTROY
    assert lm.Machine("c", PAUSED).send(lm.FORCE_DELETE)[0] == lm.THAW, "thawed, then killed"


def test_destroy_order() -> None:
    """Kill, remove the cgroup (step 12 undoes step 2), then the poststop hooks
    (step 13), and the state directory last."""
    assert lm.DESTROY == (lm.KILL_ALL, lm.REMOVE_CGROUP, lm.RUN_POSTSTOP, lm.REMOVE_STATE)


def test_hook_failures_destroy() -> None:
    assert lm.Machine("c", CREATED).send(lm.START_FAILED) == lm.DESTROY
    assert lm.Machine("c", RUNNING).send(lm.POSTSTART_FAILED) == lm.DESTROY


def test_a_start_that_fails_otherwise_stops_and_keeps_the_container() -> None:
    """No process, a program that cannot run: the spec asks for an error only; runc
    and crun keep the container (stopped) for delete, which runs poststop."""
    m = lm.Machine("c", CREATED)
    assert m.send(lm.PROGRAM_FAILED) == (lm.KILL_ALL,)
    assert lm.REMOVE_STATE not in lm.Machine("c", CREATED).send(lm.PROGRAM_FAILED)


def test_pause_resume() -> None:
    m = lm.Machine("c", RUNNING)
    assert m.send(lm.PAUSE) == (lm.FREEZE, lm.SET_PAUSED)
    assert m.status == PAUSED
    with pytest.raises(LifecycleError, match="container already paused"):
        m.send(lm.PAUSE)
    assert m.send(lm.RESUME) == (lm.THAW, lm.SET_RUNNING)
    assert m.status == RUNNING
    with pytest.raises(LifecycleError, match="container not paused"):
        m.send(lm.RESUME)


def test_every_pair_either_acts_or_raises_without_change() -> None:
    for state, event in itertools.product([*STATES, lm.HOOKING],
                                          [*EVENTS, lm.HOOKS_BEGIN, lm.CREATE_FAILED]):
        m = lm.Machine("c", state)
        if m.allowed(event):
            assert m.send(event) or event == lm.HOOKS_BEGIN
        else:
            with pytest.raises(LifecycleError) as info:
                m.send(event)
            assert m.state == state
            assert str(info.value), "a readable message"


def test_the_hook_steps_are_a_state_that_differs_from_creating_only_on_failure() -> None:
    """HOOKS_BEGIN moves create to HOOKING (no flag beside the table): its OCI status
    is still `creating`, every event does what it does in `creating`, errors
    included, but a failed create then runs the poststop hooks."""
    begun = lm.Machine("c", CREATING)
    assert begun.send(lm.HOOKS_BEGIN) == ()
    assert (begun.state, begun.status) == (lm.HOOKING, CREATING)
    for event in [*EVENTS, lm.HOOKS_BEGIN]:
        before, after = lm.Machine("c", CREATING), lm.Machine("c", lm.HOOKING)
        assert before.allowed(event) == after.allowed(event), event
        if before.allowed(event):
            assert before.send(event) == after.send(event), event
            assert before.state == after.state or event == lm.HOOKS_BEGIN
        else:
            with pytest.raises(LifecycleError) as one:
                before.send(event)
            with pytest.raises(LifecycleError) as other:
                after.send(event)
            assert str(one.value) == str(other.value)
    assert lm.Machine("c", CREATING).send(lm.CREATE_FAILED) == lm.UNDO_CREATE
    assert lm.Machine("c", lm.HOOKING).send(lm.CREATE_FAILED) == lm.DESTROY


# ----------------------------------------------------------------------------- stages


def test_create_order_follows_needs() -> None:
    order = stages.order(stages.CREATE)
    assert order[0] == "validate"
    assert order[-1] == "created"
    for stage in stages.CREATE:
        for need in stage.needs:
            assert order.index(need) < order.index(stage.name), (need, stage.name)
    assert order.index("pivot_root") < order.index("paths") < order.index("process")


def test_create_stages_match_what_the_init_reports() -> None:
    """The init announces these stage names (fire.init.main); the graph must know them."""
    names = {s.name for s in stages.CREATE}
    assert {"namespaces", "rootfs", "mounts", "devices", "hooks:runtime", "pivot_root",
            "paths", "process"} <= names
    init_side = {s.name for s in stages.CREATE if s.side == stages.INIT}
    assert "pivot_root" in init_side
    assert "claim" not in init_side


def test_create_binds_every_runtime_stage_and_only_those() -> None:
    """Actions and undos are bound to the graph's names in fire.container.create
    (the graph itself stays pure); an undo where a stage leaves something behind."""
    from fire.container.create import Creation, Options

    creation = Creation(None, "c", Options())  # type: ignore[arg-type]
    runtime = {s.name for s in stages.CREATE if s.side == stages.RUNTIME}
    assert set(creation.actions()) == runtime
    undos = creation.undos()
    assert set(undos) <= runtime
    for name in ("validate", "claim", "cgroup", "storage", "network", "spawn"):
        assert undos[name] is not None, name
    assert undos.get("seccomp") is None
    assert undos.get("created") is None


def test_walk_runs_the_order_and_unwinds_begun_stages_newest_first() -> None:
    graph = (stages.Stage("a"), stages.Stage("i", ("a",), stages.INIT),
             stages.Stage("b", ("i",)), stages.Stage("c", ("b",)), stages.Stage("d", ("c",)))
    seen: list[str] = []

    def action(name: str) -> Callable[[], None]:
        def run() -> None:
            seen.append(name)
            if name == "c":
                raise OSError("boom")
        return run

    walk = stages.Walk(graph)
    with pytest.raises(OSError, match="boom"):
        walk.run({n: action(n) for n in "abcd"}, lambda name: seen.append("follow " + name),
                 lambda name, phase: seen.append(f"{name} {phase}"))
    assert seen == ["a start", "a", "a done", "follow i", "b start", "b", "b done",
                    "c start", "c"]
    undone: list[str] = []
    failures: list[str] = []

    def undo(name: str) -> Callable[[], None]:
        def run() -> None:
            undone.append(name)
            if name == "b":
                raise OSError("undo fails")
        return run

    walk.unwind({"a": undo("a"), "b": undo("b"), "c": undo("c"), "d": undo("d")},
                lambda name, exc: failures.append(name))
    assert undone == ["c", "b", "a"], "the failing stage too, never one not begun"
    assert failures == ["b"], "a failing undo is told, the others still run"
    assert walk.begun == []


def test_work_done_ahead_is_undone_by_its_stage() -> None:
    walk = stages.Walk((stages.Stage("a"), stages.Stage("b", ("a",)), stages.Stage("c", ("b",))))

    def early() -> None:
        walk.ahead("c")
        raise OSError("fails in a, after doing part of c ahead")

    undone: list[str] = []
    with pytest.raises(OSError, match="ahead"):
        walk.run({"a": early}, lambda name: None, lambda name, phase: None)

    def undo(name: str) -> Callable[[], None]:
        return lambda: undone.append(name)

    walk.unwind({n: undo(n) for n in "abc"}, lambda n, e: None)
    assert undone == ["c", "a"]


def test_levels_allow_seccomp_beside_cgroup() -> None:
    levels = stages.levels(stages.CREATE)
    by_stage = {name: i for i, level in enumerate(levels) for name in level}
    assert by_stage["seccomp"] <= by_stage["cgroup"], "no path between them"
    assert by_stage["spawn"] > max(by_stage["seccomp"], by_stage["cgroup"])
    assert sum(len(level) for level in levels) == len(stages.CREATE)


def test_a_cycle_is_refused() -> None:
    graph = (stages.Stage("a", ("b",)), stages.Stage("b", ("a",)))
    with pytest.raises(ValueError, match="cycle"):
        stages.order(graph)


def test_needs_outside_the_graph_are_ignored() -> None:
    assert stages.order(stages.START) == ["hooks:startContainer", "exec", "hooks:poststart"]
    assert stages.order((stages.Stage("x", ("elsewhere",)),)) == ["x"]


def test_the_supervisors_setup_graph_is_derived_from_create() -> None:
    """fire-supervise's set-up graph takes CREATE's ``ahead`` stages, with their needs
    read through its stand-ins, before create; nothing is listed twice by hand."""
    from fire.supervisor.unit import OWN, setup_graph

    ahead = [s.name for s in stages.CREATE if s.ahead]
    assert ahead == ["cgroup", "seccomp"]
    graph = {s.name: s for s in setup_graph("cgroupfs")}
    assert list(graph) == ["logs", "bundle", "leftover", "cgroup", "seccomp", "create", "start"]
    assert {s.side for s in graph.values()} == {stages.SUPERVISOR}
    assert graph["seccomp"].needs == ("bundle",), "validate's stand-in: it reads config.json"
    assert graph["cgroup"].needs == ("bundle", "leftover"), "claim's: the id is free"
    assert set(graph["create"].needs) == {s.name for s in OWN} | set(ahead)
    assert graph["start"].needs == ("create",)
    levels = stages.levels(tuple(graph.values()))
    assert ["cgroup", "seccomp"] in levels, "cgroup ∥ seccomp"
    systemd = [s.name for s in setup_graph("systemd")]
    assert "cgroup" not in systemd, "systemd makes the scope"
    assert "seccomp" in systemd


def test_a_derived_need_on_a_stage_run_ahead_stays() -> None:
    graph = (stages.Stage("v"), stages.Stage("x", ("v",), ahead=True),
             stages.Stage("y", ("x", "v"), ahead=True), stages.Stage("z", ("y",)))
    own = (stages.Stage("read", side=stages.SUPERVISOR),)
    derived = {s.name: s.needs for s in stages.supervisor_setup(
        graph, own, {"v": ("read",)}, "create", "start")}
    assert derived == {"read": (), "x": ("read",), "y": ("x", "read"),
                       "create": ("read", "x", "y"), "start": ("create",)}


def test_walk_takes_prepared_stages_over_without_reporting_them() -> None:
    graph = (stages.Stage("a"), stages.Stage("b", ("a",)), stages.Stage("c", ("b",)))
    seen: list[str] = []
    walk = stages.Walk(graph)
    with pytest.raises(OSError, match="boom"):
        walk.run({n: (lambda n=n: seen.append(n)) for n in "ab"} | {"c": _boom},
                 lambda name: None, lambda name, phase: seen.append(f"{name} {phase}"),
                 {"b": lambda: seen.append("take b")})
    assert seen == ["a start", "a", "a done", "take b", "c start"]
    assert walk.begun == ["a", "b", "c"], "a prepared stage is undone like the others"


def _boom() -> None:
    raise OSError("boom")
