"""The trio stage-graph driver, on trio's virtual clock (deterministic)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from fire.errors import FireError
from fire.lifecycle.stages import Stage
from fire.supervisor import graph

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


class Recorder:
    def __init__(self) -> None:
        self.log: list[tuple[str, str, float]] = []

    def started(self, stage: Stage) -> None:
        self.log.append(("started", stage.name, trio.current_time()))

    def finished(self, stage: Stage, duration: float) -> None:
        self.log.append(("finished", stage.name, duration))

    def failed(self, stage: Stage, duration: float, error: str) -> None:
        self.log.append(("failed", stage.name, duration))
        self.error = error

    def undo_failed(self, stage: Stage, error: str) -> None:
        self.log.append(("undo-failed", stage.name, 0.0))


def sleeper(seconds: float, log: list[str], name: str,
            fail: bool = False) -> Callable[[], Awaitable[None]]:
    async def action() -> None:
        await trio.sleep(seconds)
        log.append(name)
        if fail:
            raise FireError("{name} broke", name=name)
    return action


GRAPH = (
    Stage("a"),
    Stage("b"),
    Stage("c", ("a", "b")),
    Stage("d", ("c",)),
)


def run_on_mock_clock(fn: Callable[[], Awaitable[None]]) -> None:
    trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def test_independent_stages_run_at_the_same_time() -> None:
    rec = Recorder()
    done: list[str] = []

    async def main() -> None:
        actions = {"a": sleeper(1, done, "a"), "b": sleeper(2, done, "b"),
                   "c": sleeper(1, done, "c"), "d": sleeper(1, done, "d")}
        start = trio.current_time()
        await graph.run(GRAPH, actions, rec)
        # a ∥ b (2 s), then c (1 s), then d (1 s): 4 s, not 5.
        assert trio.current_time() - start == pytest.approx(4)

    run_on_mock_clock(main)
    assert done == ["a", "b", "c", "d"]
    started = {name: t for kind, name, t in rec.log if kind == "started"}
    assert started["a"] == started["b"], "a and b start together"
    assert started["c"] - started["a"] == pytest.approx(2), "c waits for the slower of a and b"
    durations = {name: d for kind, name, d in rec.log if kind == "finished"}
    assert durations == pytest.approx({"a": 1, "b": 2, "c": 1, "d": 1})


def test_a_failure_cancels_dependants_and_undoes_what_was_done() -> None:
    rec = Recorder()
    done: list[str] = []
    undone: list[str] = []

    def undo(name: str) -> Callable[[], Awaitable[None]]:
        async def action() -> None:
            await trio.sleep(0.5)  # shielded: runs to the end
            undone.append(name)
        return action

    async def main() -> None:
        actions = {"a": sleeper(1, done, "a"), "b": sleeper(3, done, "b"),
                   "c": sleeper(1, done, "c", fail=True), "d": sleeper(1, done, "d")}
        graph_ = (Stage("a"), Stage("b"), Stage("c", ("a",)), Stage("d", ("c",)))
        with pytest.raises(graph.StageFailed) as info:
            await graph.run(graph_, actions, rec, undo={"a": undo("a"), "b": undo("b")})
        assert info.value.stage == "c"
        assert info.value.error == "c broke"

    run_on_mock_clock(main)
    assert done == ["a", "c", "b"], "b, independent of c, still finished"
    assert "d" not in done, "d needs the failed c: never started"
    assert [e for e in rec.log if e[1] == "d"] == []
    assert undone == ["b", "a"], "undo in reverse order of completion"
    assert rec.error == "c broke"


def test_cancellation_from_outside_undoes_and_propagates() -> None:
    rec = Recorder()
    done: list[str] = []
    undone: list[str] = []

    async def undo_a() -> None:
        undone.append("a")

    async def main() -> None:
        actions = {"a": sleeper(1, done, "a"), "b": sleeper(1, done, "b"),
                   "c": sleeper(10, done, "c"), "d": sleeper(1, done, "d")}
        with trio.move_on_after(5) as scope:
            await graph.run(GRAPH, actions, rec, undo={"a": undo_a})
        assert scope.cancelled_caught

    run_on_mock_clock(main)
    assert sorted(done) == ["a", "b"]
    assert undone == ["a"]


def test_an_undo_that_fails_is_reported_and_the_others_still_run() -> None:
    rec = Recorder()
    undone: list[str] = []

    async def bad_undo() -> None:
        raise OSError(5, "Input/output error")

    async def good_undo() -> None:
        undone.append("a")

    async def fail() -> None:
        raise FireError("nope")

    async def ok() -> None:
        pass

    async def main() -> None:
        stages = (Stage("a"), Stage("b", ("a",)), Stage("c", ("b",)))
        with pytest.raises(graph.StageFailed):
            await graph.run(stages, {"a": ok, "b": ok, "c": fail}, rec,
                            undo={"a": good_undo, "b": bad_undo})

    run_on_mock_clock(main)
    assert ("undo-failed", "b", 0.0) in rec.log
    assert undone == ["a"]


def test_a_bug_is_not_a_stage_failure() -> None:
    async def broken() -> None:
        raise KeyError("bug")

    async def main() -> None:
        await graph.run((Stage("a"),), {"a": broken}, Recorder())

    with pytest.raises(BaseExceptionGroup) as info:
        trio.run(main)
    assert info.group_contains(KeyError)


def test_the_derived_setup_graph_runs_seccomp_beside_cgroup_and_undoes_them() -> None:
    """fire-supervise's set-up graph (derived from CREATE): seccomp and cgroup start
    together once bundle and leftover are done; create waits for both; a failing
    start undoes create, then the stages run ahead, newest first."""
    from fire.supervisor.unit import setup_graph

    rec = Recorder()
    log: list[str] = []
    durations = {"logs": 1, "bundle": 1, "leftover": 2, "seccomp": 3, "cgroup": 3,
                 "create": 1, "start": 1}
    actions = {name: sleeper(t, log, name, fail=name == "start")
               for name, t in durations.items()}
    undo = {name: sleeper(0, log, "undo " + name) for name in ("create", "cgroup", "seccomp")}

    async def main() -> None:
        with pytest.raises(graph.StageFailed, match="start"):
            await graph.run(setup_graph(), actions, rec, undo)

    run_on_mock_clock(main)
    begun = {name: when for kind, name, when in rec.log if kind == "started"}
    assert begun["seccomp"] == 1, "after bundle"
    assert begun["cgroup"] == 2, "after bundle and leftover"
    assert begun["create"] == 5, "after both: at the same time, not one after the other"
    assert log[-3:] == ["undo create", "undo cgroup", "undo seccomp"]
