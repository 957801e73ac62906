"""The status view's model: events folded into rows (no terminal)."""

from __future__ import annotations

from fire import events as ev
from fire.tui.model import Model, cells, size, uptime


def test_rows_follow_state_stats_health_and_exit() -> None:
    m = Model()
    assert m.apply(ev.State("db", time=100, state="creating")) == "db"
    m.apply(ev.State("db", time=101, state="running", pid=42))
    m.apply(ev.Stats("db", time=102, cpu=1.0, memory=2048, pids=3))
    m.apply(ev.Stats("db", time=104, cpu=2.0, memory=4096, pids=4))
    m.apply(ev.Health("db", time=105, status="healthy"))
    row = m.rows["db"]
    assert (row.status, row.pid, row.since, row.memory, row.pids, row.health) == (
        "running", 42, 101, 4096, 4, "healthy")
    assert row.cpu_percent == 50.0, "1 s of CPU over 2 s"
    assert cells(row, now=161) == ["db", "running", "42", "1m00s", "0", "healthy", "50.0%",
                                   "4.0 KiB", "4"]
    m.apply(ev.Exit("db", time=106, code=1))
    m.apply(ev.State("db", time=107, state="restarting", restarts=1))
    assert cells(m.rows["db"], now=200)[1:5] == ["restarting", "-", "-", "1"]
    assert m.rows["db"].memory is None


def test_stages_of_the_current_run_only() -> None:
    m = Model()
    m.apply(ev.StageStarted("db", time=10, stage="create", side="supervisor", run=1))
    m.apply(ev.StageFinished("db", time=11, stage="create", side="supervisor", duration=1,
                             run=1))
    m.apply(ev.StageStarted("db", time=20, stage="logs", side="supervisor", run=2))
    m.apply(ev.StageFailed("db", time=21, stage="logs", side="supervisor", duration=0.5,
                           error="disk full", run=2))
    stages = m.rows["db"].stages
    assert list(stages) == ["logs"]
    assert (stages["logs"].status, stages["logs"].duration, stages["logs"].error) == (
        "failed", 0.5, "disk full")


def test_unsupervised_rows_come_and_go_but_never_replace_supervised_ones() -> None:
    m = Model()
    m.apply(ev.State("db", state="running", pid=5))
    m.merge_unsupervised([("db", "running", 5, None), ("other", "created", 9, None)])
    assert m.rows["db"].supervised
    assert not m.rows["other"].supervised
    assert cells(m.rows["other"])[1] == "created (unsupervised)"
    m.merge_unsupervised([("db", "running", 5, None)])
    assert "other" not in m.rows
    assert "db" in m.rows


def test_the_filter_matches_ids_and_statuses() -> None:
    m = Model()
    for cid, state in (("web", "running"), ("db", "failed"), ("cache", "running")):
        m.apply(ev.State(cid, state=state))
    assert [r.id for r in m.visible("")] == ["cache", "db", "web"]
    assert [r.id for r in m.visible("RUN")] == ["cache", "web"]
    assert [r.id for r in m.visible("db")] == ["db"]


def test_the_event_list_skips_stats_and_counts_missed() -> None:
    m = Model()
    m.apply(ev.Stats("a", cpu=1.0))
    m.apply(ev.Exit("a", time=5, code=0))
    m.apply(ev.Missed("", count=7))
    assert [(e[1], e[2]) for e in m.events] == [("a", "exit"), ("", "missed")]
    assert m.missed == 7


def test_formatting() -> None:
    assert [uptime(0, now) for now in (59, 61, 3700, 90000)] == ["59s", "1m01s", "1h01m",
                                                                "1d01h"]
    assert uptime(None) == "-"
    assert [size(n) for n in (None, 512, 2048, 5 << 20, 3 << 30)] == [
        "-", "512 B", "2.0 KiB", "5.0 MiB", "3.0 GiB"]
