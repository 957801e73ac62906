"""What a new subscriber, a SIGUSR1 table and a scrape say about the present:
the real failure count, no stale readings of a stopped container, and a health
value for a check that is still starting (no processes: the units' fields are set
as their runs would set them)."""

from __future__ import annotations

import io
import signal
from typing import TYPE_CHECKING

import pytest
import trio

from fire import events as ev
from fire.errors import LifecycleError
from fire.lifecycle import units as ul
from fire.supervisor.cgstats import Sample
from fire.supervisor.config import Config, Container, Healthcheck
from fire.supervisor.journal import Journal
from fire.supervisor.metrics import exposition
from fire.supervisor.supervisor import Supervisor
from fire.supervisor.unit import Unit

if TYPE_CHECKING:
    from pathlib import Path


def supervisor(tmp_path: Path) -> tuple[Supervisor, io.StringIO]:
    log = io.StringIO()
    sup = Supervisor(str(tmp_path / "root"), Config(), journal=Journal(log))
    conf = Container(bundle="/b", healthcheck=Healthcheck(command=["c"]))
    for cid in ("web", "db"):
        sup.units[cid] = Unit(sup, cid, conf)
    return sup, log


def test_the_snapshot_has_the_real_failure_count(tmp_path: Path) -> None:
    sup, _log = supervisor(tmp_path)
    web = sup.units["web"]
    web.lifecycle = ul.Lifecycle("web", "running")
    web.health, web.health_failures, web.health_output = "failing", 2, "no"
    replayed: list[ev.AnyEvent] = [ev.Health("web", status="failing", failures=1)]
    health = [e for e in sup.snapshot(replayed) if isinstance(e, ev.Health)]
    assert [(e.id, e.status, e.failures, e.output) for e in health] == [
        ("web", "failing", 2, "no")]


def test_the_status_table_shows_no_stale_readings_of_a_failed_container(tmp_path: Path) -> None:
    sup, log = supervisor(tmp_path)
    db = sup.units["db"]
    db.lifecycle, db.restarts = ul.Lifecycle("db", "failed"), 2
    db.sample = Sample(cpu=1.25, memory=4 << 20, pids=3)  # read while it ran
    sup.status_report()
    row = next(line for line in log.getvalue().splitlines() if " db " in line)
    assert row.split()[3:] == ["failed", "-", "-", "2", "-", "-", "-", "-"], row


def test_a_starting_check_is_not_reported_as_no_check(tmp_path: Path) -> None:
    sup, _log = supervisor(tmp_path)
    sup.units["web"].health = "starting"
    body, _type = exposition(sup)
    lines = body.decode().splitlines()
    assert 'fire_container_healthy{id="web"} 0.5' in lines
    assert 'fire_container_healthy{id="db"} -1.0' in lines, "no check has run: -1"


def test_a_unit_changes_state_only_through_the_table(tmp_path: Path) -> None:
    """An event the table refuses raises, publishes nothing and leaves the state and
    its reason; an allowed one publishes the table's next state."""
    sup, _log = supervisor(tmp_path)
    web = sup.units["web"]
    web.send(ul.WAIT, "for db")
    before = sup.bus.published
    with pytest.raises(LifecycleError, match="cannot stop a container that is waiting"):
        web.send(ul.STOP, "unhealthy")
    assert (web.state, web.reason, sup.bus.published) == ("waiting", "for db", before)
    web.send(ul.SET_UP)
    assert (web.state, web.reason, sup.bus.published) == ("creating", "", before + 1)
    assert web.state_event().state == "creating"


def test_a_status_table_of_1000_containers_does_not_hold_the_event_loop(
        tmp_path: Path) -> None:
    """SIGUSR1 with 1,000 containers: the ``signal`` event goes out before the table
    is made, and the table is made and written in slices, other tasks running in
    between (in one go it held every event for ~10 ms: docs/performance.md)."""
    sup, log = supervisor(tmp_path)
    conf = Container(bundle="/b")
    for n in range(1000):
        sup.units[f"c{n:04d}"] = Unit(sup, f"c{n:04d}", conf)
    turns = 0
    log_at_the_event = "(not received)"

    async def main() -> None:
        subscriber = sup.bus.subscribe(replay=False)

        async def other_task() -> None:
            nonlocal turns
            while True:
                turns += 1
                await trio.lowlevel.checkpoint()

        async def read_the_signal_event() -> None:
            nonlocal log_at_the_event
            event = await subscriber.next()
            assert isinstance(event, ev.Signal)
            assert event.signal == "SIGUSR1"
            log_at_the_event = log.getvalue()

        async with trio.open_nursery() as nursery:
            sup._nursery = nursery
            nursery.start_soon(other_task)
            nursery.start_soon(read_the_signal_event)
            await trio.lowlevel.checkpoint()
            await sup.signals.handle(signal.SIGUSR1)
            for _ in range(1000):
                if log.getvalue().count(" c0") >= 1000:
                    break
                await trio.sleep(0.01)
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert log_at_the_event.splitlines() == [log.getvalue().splitlines()[0]], (
        "the event went out before the table")
    assert "SIGUSR1" in log_at_the_event
    lines = log.getvalue().splitlines()
    assert "status: 1002 container(s)" in lines[1]
    assert sum(" c0" in line for line in lines) == 1000
    assert turns >= 10, "other tasks ran while the table was made and written"


def test_settled_units_are_frozen_out_of_the_collector_once_per_change(
        tmp_path: Path) -> None:
    """A full collection with 1,000 containers walked every unit's objects (~100 ms,
    every event waiting); once the units have settled they are frozen out of it:
    not while one is being set up, once per change of the set of units."""
    import gc

    sup, _log = supervisor(tmp_path)
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            collections.append(1)

    def settle() -> int:
        """How many full collections settle_memory made."""
        collections.clear()
        sup.settle_memory()
        return len(collections)

    gc.callbacks.append(count)
    try:
        gc.unfreeze()
        sup.units["web"].lifecycle = ul.Lifecycle("web", "creating")
        assert settle() == 0, "not while a unit is being set up"
        assert gc.get_freeze_count() == 0
        sup.units["web"].lifecycle = ul.Lifecycle("web", "running")
        assert settle() == 1
        assert gc.get_freeze_count() > 0, "frozen"
        assert settle() == 0, "nothing changed: no second collection"
        sup.units["db"] = Unit(sup, "db", Container(bundle="/b"))  # a reload's new unit
        assert settle() == 1
        assert gc.get_freeze_count() > 0
    finally:
        gc.callbacks.remove(count)
        gc.unfreeze()
