"""What a new subscriber, a SIGUSR1 table and a scrape say about the present:
the real failure count, no stale readings of a stopped container, and a health
value for a check that is still starting (no processes: the units' fields are set
as their runs would set them)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest

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
