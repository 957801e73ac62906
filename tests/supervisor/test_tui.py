"""The status view: under textual's Pilot (headless) against a real supervisor,
and once in a real terminal (tmux send-keys / capture-pane)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from fire.tui.app import FireTop, stage_table
from fire.tui.model import Row, StageInfo
from tests.conftest import REPO
from tests.supervisor.conftest import SERVE, Bundles, Supervised, toml, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.widgets import DataTable

    from tests.conftest import Fire


def table_text(app: FireTop) -> dict[str, list[str]]:
    from textual.widgets import DataTable

    table: DataTable[object] = app.query_one("#containers", DataTable)
    out: dict[str, list[str]] = {}
    for key in table.rows:
        out[str(key.value)] = [str(c) for c in table.get_row(key)]
    return out


async def until(pilot: object, condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the view did not get there"
        await pilot.pause(0.1)  # type: ignore[attr-defined]


@pytest.mark.root
@pytest.mark.usefixtures("no_leaks")
def test_the_table_follows_the_containers_and_a_key_stops_one(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    db, web = fire.unique_id("db"), fire.unique_id("web")
    sup = supervise(toml({db: {"bundle": str(bundles("db", SERVE))},
                          web: {"bundle": str(bundles("web", SERVE)), "depends_on": [db]}}))
    # An unsupervised container of the same root shows too.
    other = fire.unique_id("other")
    assert fire("create", "--bundle", str(bundles("other", SERVE)), other).code == 0

    async def drive() -> None:
        app = FireTop(str(fire.root), scan_interval=0.5)
        async with app.run_test(size=(140, 40)) as pilot:
            await until(pilot, lambda: all(table_text(app).get(c, ["", ""])[1] == "running"
                                           for c in (db, web)))
            rows = table_text(app)
            assert rows[other][1] == "created (unsupervised)"
            assert rows[db][2] == str(fire.state(db)["pid"])
            assert app.model.connected
            assert "supervisor connected" in app.sub_title
            # Select db, see its stages, press s.
            from textual.widgets import DataTable

            table: DataTable[object] = app.query_one("#containers", DataTable)
            table.move_cursor(row=table.get_row_index(db))
            await pilot.pause(0.1)
            selected = app.selected()
            assert selected is not None
            assert selected.id == db
            assert {"create", "start", "mounts"} <= set(selected.stages)
            await pilot.press("s")
            await until(pilot, lambda: table_text(app)[db][1] == "stopped")
            await pilot.press("slash")
            await pilot.press(*"stop")
            await pilot.pause(0.2)
            assert list(table_text(app)) == [db], "the filter keeps what matches"
            await pilot.press("escape")
            await pilot.pause(0.2)
            assert set(table_text(app)) == {db, web, other}
            await pilot.press("q")

    asyncio.run(drive())
    assert not (fire.root / db).exists(), "the supervisor stopped and deleted it"
    assert fire.state(web)["status"] == "running"
    assert sup.terminate() == 0


def test_the_stage_table_draws_a_waterfall() -> None:
    from rich.console import Console

    row = Row("db")
    row.run = 1
    for name, side, start, duration in (("logs", "supervisor", 0.0, 0.01),
                                        ("create", "supervisor", 0.01, 0.1),
                                        ("mounts", "init", 0.05, 0.02)):
        info = row.stages[name] = StageInfo(side, 1000 + start)
        info.duration, info.status = duration, "done"
    row.stages["start"] = StageInfo("supervisor", 1000.11)
    row.stages["start"].status, row.stages["start"].error = "failed", "boom"
    row.stages["start"].duration = 0.0
    console = Console(width=80, record=True)
    console.print(stage_table(row, now=1000.2))
    text = console.export_text()
    assert "stages of db (run 1)" in text
    lines = {line.split()[1]: line for line in text.splitlines() if line.strip()[:1] in "✓✗"}
    assert list(lines) == ["logs", "create", "mounts", "start"]
    assert [lines[n].split()[0] for n in lines] == ["✓", "✓", "✓", "✗"]
    assert "boom" in text
    assert lines["create"].split()[2] == "100.0", "create's duration in ms"
    assert lines["mounts"].index("mounts") > lines["create"].index("create"), "inside create"
    assert lines["mounts"].index("█") > lines["logs"].index("█"), "later stages start later"


@pytest.mark.root
@pytest.mark.usefixtures("no_leaks")
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (bin/setup --dev)")
def test_fire_with_no_command_in_a_real_terminal(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    cid = fire.unique_id("term")
    sup = supervise(toml({cid: {"bundle": str(bundles("term", SERVE))}}))
    sup.wait_state(cid, "running")
    # A private tmux server (-L), without the user's configuration; no COLUMNS or
    # LINES from pytest's environment, so the view takes the pane's real size.
    tmux = ["tmux", "-L", f"fire-test-{os.getpid()}", "-f", "/dev/null"]
    command = (f"cd {REPO} && env -u COLUMNS -u LINES PYTHONPATH={REPO} {sys.executable} -m fire "
               f"--root {fire.root}; sleep 30")
    subprocess.run([*tmux, "new-session", "-d", "-s", "fire", "-x", "140", "-y", "40", command],
                   check=True)

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", "fire"],
                              capture_output=True, text=True).stdout

    try:
        assert wait_until(lambda: "supervisor connected" in screen(), 60), screen()
        assert wait_until(lambda: cid in screen() and " running " in screen(), 60), screen()
        subprocess.run([*tmux, "send-keys", "-t", "fire", "s"], check=True)
        assert wait_until(lambda: "stopped" in screen(), 60), screen()
        subprocess.run([*tmux, "send-keys", "-t", "fire", "q"], check=True)
        assert wait_until(lambda: "fire —" not in screen(), 30), "q quits"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert sup.wait_state(cid, "stopped")
    assert sup.terminate() == 0


def test_fire_top_needs_a_terminal(tmp_path: object) -> None:
    r = subprocess.run([sys.executable, "-m", "fire", "--root", str(tmp_path), "top"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 1
    assert r.stderr == ("fire: fire top needs a terminal (for scripts: fire events --follow, "
                        "fire list)\n")


def test_a_redraw_of_many_rows_does_not_remeasure_their_columns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With 1,000 containers every uptime changes every second.  A cell updated with
    ``update_width`` makes the table measure its whole column again when the new value
    is narrower than the column (textual's DataTable), so 1,000 such updates a second
    were 1,000 x 1,000 measurements: ``fire top`` took a whole core.  Only a value
    wider than its column asks for a new width now."""
    import types

    from textual.widgets import DataTable

    n = 300
    now = time.time()
    began = now - 100  # uptimes of 1m40s: the next second is as wide
    # The view's clock stands still: only the test moves the uptimes.
    monkeypatch.setattr("fire.tui.app.time", types.SimpleNamespace(
        time=lambda: now, monotonic=time.monotonic, strftime=time.strftime,
        localtime=time.localtime))

    async def drive() -> list[tuple[str, str, bool]]:
        app = FireTop("/nonexistent-fire-root", scan_interval=3600)
        async with app.run_test(size=(140, 40)) as pilot:
            for i in range(n):
                row = app.model.row(f"c{i:04d}")
                row.status, row.pid, row.since = "running", 1000 + i, began
            app.refresh_view()
            await pilot.pause(0.1)
            table: DataTable[object] = app.query_one("#containers", DataTable)
            calls: list[tuple[str, str, bool]] = []
            update = table.update_cell

            def recording(row: str, column: str, value: object, *,
                          update_width: bool = False) -> None:
                calls.append((str(column), str(value), update_width))
                update(row, column, value, update_width=update_width)

            table.update_cell = recording  # type: ignore[method-assign,assignment]
            for row in app.model.rows.values():
                row.since = began - 1
            app.refresh_view()
            app.model.rows["c0000"].memory = 123456789  # "-" -> wider: the column grows
            app.refresh_view()
            await pilot.pause(0.1)
            assert str(table.get_row("c0000")[7]) == "117.7 MiB"
        return calls

    calls = asyncio.run(drive())
    uptimes = [c for c in calls if c[0] == "UPTIME"]
    assert len(uptimes) == n  # every row's uptime was updated...
    assert not any(wide for _, _, wide in uptimes)  # ...without measuring the column again
    assert ("MEMORY", "117.7 MiB", True) in calls


def test_the_view_leaves_supervised_containers_and_stats_to_the_event_stream(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What the supervisor's events show is not read again from the state directory
    (every few seconds, 1,000 states and cgroups), and stats are drawn with the
    once-a-second redraw, not within 0.1 s as a change of state is."""
    from fire import events as ev
    from fire.tui import source

    asked: list[set[str]] = []

    def scan(root: str, skip: set[str] | frozenset[str] = frozenset()) -> list[object]:
        asked.append(set(skip))
        return []

    monkeypatch.setattr(source, "scan", scan)
    app = FireTop("/nonexistent-fire-root")
    app.model.connected = True
    app.model.row("sup").status = "running"
    monkeypatch.setattr(app, "refresh_view", lambda: None)
    app.rescan()
    assert asked == [{"sup"}]
    app.model.connected = False  # no supervisor: the directory is all there is
    app.rescan()
    assert asked[-1] == set()

    app.take(ev.Stats("sup", time=time.time(), cpu=1.0, memory=1, pids=1))
    assert not app.dirty
    assert app.model.rows["sup"].memory == 1
    app.take(ev.State("sup", time=time.time(), state="stopped"))
    assert app.dirty
