"""The status view: a live table of containers, the selected one's stages, events.

::

    ┌ fire ─────────────────────────────── /run/fire · supervisor connected ┐
    │ ID    STATUS    PID   UPTIME  RESTARTS  HEALTH   CPU   MEMORY   PIDS  │
    │ db    running   4242  3m02s   0         healthy  0.3%  1.2 MiB  2     │
    │ web   restarting -    -       2         -        -     -        -     │
    ├ stages of db (run 1) ─────────────┬ events ──────────────────────────┤
    │ ✓ logs          0.1  █            │ 12:00:01 web  exited with code 1 │
    │ ✓ create      113.2  ██████████   │ …                                │
    │ ✓   validate    0.7     █         │                                  │
    └───────────────────────────────────┴──────────────────────────────────┘
     s stop  r restart  k kill  / filter  q quit

Everything it shows comes from the supervisor's event stream (``fire.tui.source``)
folded into ``fire.tui.model.Model``; containers that no supervisor runs come from
the state directory, rescanned every few seconds.  Keys act on the selected row
through the supervisor's control requests (for an unsupervised container: stop =
SIGTERM, kill = SIGKILL, as ``fire kill``).  In the stage list, bold stages are
the supervisor's own, indented ones ran inside ``fire create``, cyan ones in the
container's init.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Input, RichLog, Static
from textual.widgets.data_table import CellDoesNotExist

from fire import events as ev
from fire.tui import source
from fire.tui.model import COLUMNS, Model, Row, cells

if TYPE_CHECKING:
    from rich.console import RenderableType
    from textual.binding import BindingType

WATERFALL = 24
_KIND_STYLE = {"exit": "red", "stage-failed": "bold red", "health": "magenta", "oom": "bold red",
               "signal": "cyan", "hook": "blue", "log": "dim", "missed": "yellow"}
_SIDE_STYLE = {"supervisor": "bold", "runtime": "", "init": "cyan"}
_STATUS_STYLE = {"running": "green", "failed": "bold red", "restarting": "yellow",
                 "stopping": "yellow", "stopped": "dim", "creating": "cyan", "created": "cyan",
                 "waiting": "blue"}


def stage_table(row: Row | None, now: float | None = None) -> RenderableType:
    """The current run's stages with durations, and a waterfall of when they ran."""
    if row is None:
        return Text("no container selected", style="dim")
    if not row.stages:
        return Text(f"{row.id}: no stages seen yet" if row.supervised else
                    f"{row.id}: not supervised (no stage events)", style="dim")
    now = now or time.time()
    t0 = min(info.start for info in row.stages.values())
    end = max(info.start + (info.duration if info.duration is not None else now - info.start)
              for info in row.stages.values())
    span = max(end - t0, 1e-6)
    table = Table(box=None, expand=True, padding=(0, 1), show_header=False,
                  title=f"stages of {row.id} (run {row.run})", title_justify="left")
    table.add_column("", width=1)
    table.add_column("stage", min_width=24, no_wrap=True)
    table.add_column("ms", justify="right", width=8)
    table.add_column("when", width=WATERFALL, no_wrap=True)
    for name, info in row.stages.items():
        icon = {"done": Text("✓", "green"), "failed": Text("✗", "bold red")}.get(
            info.status, Text("…", "yellow"))
        # The runtime's and the init's stages happen inside the supervisor's "create".
        label = Text(("  " if info.side != "supervisor" else "") + name,
                     style=_SIDE_STYLE.get(info.side, ""))
        ms = "" if info.duration is None else f"{info.duration * 1000:.1f}"
        offset = int((info.start - t0) / span * WATERFALL)
        length = max(1, int((info.duration or (now - info.start)) / span * WATERFALL))
        bar = Text(" " * min(offset, WATERFALL - 1) + "█" * min(length, WATERFALL - offset),
                   style="red" if info.status == "failed" else "green")
        table.add_row(icon, label, ms, bar)
        if info.error:
            table.add_row("", Text("  " + info.error, "red"), "", "")
    return table


class FireTop(App[None]):
    TITLE = "fire"
    CSS = """
    #containers { height: 1fr; }
    #lower { height: 1fr; }
    #stages-box { width: 1fr; border: round $primary; padding: 0 1; }
    #events { width: 1fr; border: round $primary; }
    #filter { display: none; }
    #filter.shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "stop", "stop"),
        Binding("r", "restart", "restart"),
        Binding("k", "kill", "kill"),
        Binding("slash", "filter", "filter"),
        Binding("escape", "clear_filter", "clear filter", show=False),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, root: str, scan_interval: float = 2.0) -> None:
        super().__init__()
        self.root = root
        self.scan_interval = scan_interval
        self.model = Model()
        self.filter_text = ""
        self.dirty = False  # events arrived since the table was last drawn
        self.drawn = 0.0
        self.shown: dict[str, list[str]] = {}  # what each row's cells show now
        # How wide each column is: only a value wider than its column asks the table
        # for a new width.  (A narrower one makes DataTable measure the whole column
        # again, per cell: with 1,000 rows whose uptimes change every second that was
        # a million measurements a second.)  Columns grow, never shrink, as in top(1).
        self.widths = {name: cell_len(name) for name in COLUMNS}

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="containers", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="lower"):
            with VerticalScroll(id="stages-box"):
                yield Static(id="stages")
            yield RichLog(id="events", max_lines=500, wrap=False)
        yield Input(placeholder="filter: part of an id or a status (Enter to apply, Esc to "
                    "clear)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#containers", DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        self.sub_title = f"{self.root} · connecting"
        self.rescan()
        self.set_interval(self.scan_interval, self.rescan)
        # Drawn at most ten times a second however fast events come, and every
        # second for the uptimes.
        self.set_interval(0.1, self.draw_if_needed)
        self.run_worker(self.follow(), exclusive=True, group="events")

    # ------------------------------------------------------------------ data
    async def follow(self) -> None:
        log = self.query_one("#events", RichLog)
        async for event in source.events(self.root):
            if event is None:
                if self.model.connected or self.sub_title.endswith("connecting"):
                    self.model.connected = False
                    self.sub_title = f"{self.root} · no supervisor"
                continue
            if not self.model.connected:
                self.model.connected = True
                self.sub_title = f"{self.root} · supervisor connected"
            self.take(event)
            self.write_event(log, event)

    def take(self, event: ev.AnyEvent) -> None:
        """Fold an event into the model.  A change of state, health or stages is drawn
        within 0.1 s; stats are drawn with the uptimes, once a second (1,000
        containers send 200 stats a second at the default interval: drawing each
        tenth of a second for them kept a core busy)."""
        if self.model.apply(event) is not None and not isinstance(event, ev.Stats):
            self.dirty = True

    def write_event(self, log: RichLog, event: ev.AnyEvent) -> None:
        if isinstance(event, (ev.Stats, ev.StageStarted, ev.StageFinished)):
            return
        kind = str(type(event).__struct_config__.tag)
        line = Text(time.strftime("%H:%M:%S ", time.localtime(event.time)), style="dim")
        line.append(f"{event.id or 'supervisor':<12} ", style="bold")
        line.append(ev.summary(event), style=_KIND_STYLE.get(kind, ""))
        log.write(line)

    def rescan(self) -> None:
        try:
            supervised = ({cid for cid, row in self.model.rows.items() if row.supervised}
                          if self.model.connected else set())
            self.model.merge_unsupervised(source.scan(self.root, skip=supervised))
        except OSError:
            return
        self.refresh_view()

    # ------------------------------------------------------------------ view
    def selected(self) -> Row | None:
        table = self.query_one("#containers", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return self.model.rows.get(str(key.value))

    def draw_if_needed(self) -> None:
        if self.dirty or time.monotonic() - self.drawn >= 1.0:
            self.refresh_view()

    def refresh_view(self) -> None:
        self.dirty = False
        self.drawn = time.monotonic()
        table = self.query_one("#containers", DataTable)
        rows = self.model.visible(self.filter_text)
        wanted = {r.id for r in rows}
        for cid in set(self.shown) - wanted:
            table.remove_row(cid)
            del self.shown[cid]
        now = time.time()
        added = False
        for row in rows:
            values = cells(row, now)
            before = self.shown.get(row.id)
            if before == values:
                continue
            styled = [Text(v, style=_STATUS_STYLE.get(row.status, "")) if i == 1 else v
                      for i, v in enumerate(values)]
            if before is None:
                table.add_row(*styled, key=row.id)
                added = True
                for name, shown in zip(COLUMNS, values, strict=True):
                    self.widths[name] = max(self.widths[name], cell_len(shown))
            else:
                for name, value, text, old in zip(COLUMNS, styled, values, before, strict=True):
                    if text != old:
                        width = cell_len(text)
                        wider = width > self.widths[name]
                        if wider:
                            self.widths[name] = width
                        table.update_cell(row.id, name, value, update_width=wider)
            self.shown[row.id] = values
        if added:
            table.sort("ID")
        self.query_one("#stages", Static).update(stage_table(self.selected(), now))

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        self.query_one("#stages", Static).update(stage_table(self.selected()))

    # ------------------------------------------------------------------ keys
    async def control(self, op: str) -> None:
        row = self.selected()
        if row is None:
            self.notify("no container selected", severity="warning")
            return
        if not row.supervised:
            error = self.unsupervised(row, op)
        else:
            requests: dict[str, ev.AnyRequest] = {
                "stop": ev.Stop(id=row.id), "restart": ev.Restart(id=row.id),
                "kill": ev.Kill(id=row.id, signal="KILL")}
            reply = await source.request(self.root, requests[op])
            error = None if reply.ok else reply.error
        if error:
            self.notify(f"{op} {row.id}: {error}", severity="error")
        else:
            self.notify(f"{op} {row.id}")

    def unsupervised(self, row: Row, op: str) -> str | None:
        if op == "restart":
            return "not supervised: only fire-supervise restarts containers"
        signum = signal.SIGTERM if op == "stop" else signal.SIGKILL
        error = source.signal_unsupervised(self.root, row.id, signum)
        self.rescan()
        return error

    async def action_stop(self) -> None:
        await self.control("stop")

    async def action_restart(self) -> None:
        await self.control("restart")

    async def action_kill(self) -> None:
        await self.control("kill")

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("shown")
        self.filter_text = ""
        self.query_one("#containers", DataTable).focus()
        self.refresh_view()

    def on_input_changed(self, message: Input.Changed) -> None:
        self.filter_text = message.value
        self.refresh_view()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        self.query_one("#containers", DataTable).focus()


def run(root: str) -> int:
    FireTop(root).run()
    return 0
