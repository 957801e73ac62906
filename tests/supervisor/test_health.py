"""Health checks: the check loop on trio's virtual clock with a stand-in for
`fire exec` (the real command is another area's: see the second test), and the
real thing end to end once `fire exec` exists."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from fire import events as ev
from fire.supervisor.bus import Bus
from fire.supervisor.config import Container, Healthcheck
from fire.supervisor.engine import Completed
from fire.supervisor.unit import Unit
from tests.supervisor.conftest import SERVE, Bundles, Supervised, needs_exec, toml

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import Fire


class FakeEngine:
    """Answers `exec` with the next programmed exit code, and records the calls."""

    def __init__(self, codes: list[int], outputs: list[str] | None = None) -> None:
        self.codes = codes
        self.outputs = outputs
        self.calls: list[tuple[float, tuple[str, ...], float | None]] = []

    async def run(self, *args: str, limit: float | None = None,
                  merged: bool = False) -> Completed:
        self.calls.append((trio.current_time(), args, limit))
        await trio.sleep(0.1)
        code = self.codes.pop(0)
        if self.outputs is not None:
            assert merged, "a check's stdout is collected with its stderr"
            return Completed(code, self.outputs.pop(0))
        return Completed(code, "" if code == 0 else "fire: exit status 1\n")


class FakeSupervisor:
    def __init__(self, engine: FakeEngine) -> None:
        self.bus = Bus()
        self.engine = engine
        self.changes = 0

    def changed(self) -> None:
        self.changes += 1


def test_consecutive_failures_make_it_unhealthy_and_end_the_run() -> None:
    engine = FakeEngine([1, 0, 1, 1, 1])
    sup: Any = FakeSupervisor(engine)
    conf = Container(bundle="/b", healthcheck=Healthcheck(command=["check"], interval=2,
                                                          timeout=1, retries=3))
    unit = Unit(sup, "web", conf)

    async def main() -> None:
        with trio.fail_after(60):
            await unit._health()
        assert unit._end.is_set(), "an unhealthy container's run is ended"

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    health = [(e.status, e.failures) for e in sup.bus.history if isinstance(e, ev.Health)]
    assert health == [("starting", 0), ("failing", 1), ("healthy", 0), ("failing", 1),
                      ("failing", 2), ("unhealthy", 3)]
    assert unit.unhealthy
    assert [args for _t, args, _limit in engine.calls] == [("exec", "web", "check")] * 5
    assert {limit for _t, _args, limit in engine.calls} == {1}, "the timeout bounds each check"
    times = [t for t, _args, _limit in engine.calls]
    assert [round(b - a, 3) for a, b in itertools.pairwise(times)] == [2.1] * 4, \
        "interval between the end of a check and the next"


def test_failures_in_the_start_period_do_not_count() -> None:
    engine = FakeEngine([1, 1, 1, 0])
    sup: Any = FakeSupervisor(engine)
    conf = Container(bundle="/b", healthcheck=Healthcheck(command=["c"], interval=1, timeout=1,
                                                          retries=1, start_period=3.5))
    unit = Unit(sup, "web", conf)

    async def main() -> None:
        with trio.move_on_after(4.5):
            await unit._health()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    statuses = [e.status for e in sup.bus.history if isinstance(e, ev.Health)]
    assert statuses == ["starting", "starting", "starting", "starting", "healthy"]
    assert not unit.unhealthy


def test_the_health_event_keeps_the_end_of_the_check_s_output() -> None:
    from fire.supervisor.unit import HEALTH_OUTPUT

    long = "x" * 10000 + "\ndb: not ready\n"
    engine = FakeEngine([1, 0, 1], ["", "ok: 3 rows\n", long])
    sup: Any = FakeSupervisor(engine)
    conf = Container(bundle="/b", healthcheck=Healthcheck(command=["c"], interval=1, timeout=1,
                                                          retries=5))
    unit = Unit(sup, "web", conf)

    async def main() -> None:
        with trio.move_on_after(3.5):
            await unit._health()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    events = [e for e in sup.bus.history if isinstance(e, ev.Health)][1:]
    assert events[0].output == "exited with status 1", "no output: why it failed"
    assert events[1].output == "ok: 3 rows\n"
    assert events[2].output.endswith("\ndb: not ready\n")
    assert len(events[2].output) == HEALTH_OUTPUT, "bounded: its last bytes"
    assert (unit.health_failures, unit.health_output) == (1, events[2].output)


@pytest.mark.root
@pytest.mark.usefixtures("no_leaks")
@needs_exec
def test_a_container_that_fails_its_health_check_is_restarted(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    sick, well = fire.unique_id("sick"), fire.unique_id("well")
    sup = supervise(toml({
        sick: {"bundle": str(bundles("sick", SERVE)), "restart": "on-failure",
               "max_restarts": 1, "stop_timeout": 2,
               "healthcheck": {"command": ["sh", "-c", "exit 1"], "interval": 0.5,
                               "timeout": 5, "retries": 2}},
        well: {"bundle": str(bundles("well", "sleep 1; touch /dev/shm/ready; " + SERVE)),
               "healthcheck": {"command": ["test", "-e", "/dev/shm/ready"], "interval": 0.5,
                               "timeout": 5, "retries": 10}},
    }))
    failed = sup.wait_state(sick, "failed", timeout=120)
    assert failed.restarts == 1
    assert failed.reason == "unhealthy"
    stopping = [e for e in sup.of(sick, ev.State) if e.state == "stopping"]
    assert [e.reason for e in stopping] == ["unhealthy", "unhealthy"]
    assert len(sup.of(sick, ev.Exit)) == 2
    sup.wait_for(lambda e: isinstance(e, ev.Health) and e.id == well and e.status == "healthy")
    assert sup.terminate() == 0
