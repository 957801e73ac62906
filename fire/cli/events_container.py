"""fire events ID [--stats] [--interval 5s] — runc's events: stats and OOM kills as JSON."""

from __future__ import annotations

import sys

from fire.cli.args import Opt
from fire.cli.common import need_id, parse_command, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [
    Opt("--interval", value=True, default="5s", help="time between stats lines (5s, 500ms…)",
        metavar="DURATION"),
    Opt("--stats", help="print the container's stats once, then exit"),
]


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[--stats] [--interval 5s] ID")
    if parsed is None:
        return 0
    cid = need_id(parsed, command)
    from fire.container.events import events, parse_duration

    interval = parse_duration(parsed.text("interval") or "5s")
    try:
        events(store(ctx), cid, interval, parsed.flag("stats"), _write)
    except BrokenPipeError:
        return 0
    return 0
