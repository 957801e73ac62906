"""fire events --follow [--no-replay] [--wait SECONDS] [ID…]

The supervisor's event stream as JSON lines: one object per event, ``kind``,
``id`` and ``time`` first (see ``fire.events``).  It waits for the root's
supervisor to be there (10 s by default), prints the recent events it replays,
then the live ones, and ends with the supervisor (exit 0).  With ids, only the
events of those containers (and the supervisor's own, whose id is "").
"""

from __future__ import annotations

import sys

from fire.cli.args import Opt
from fire.cli.common import parse_command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [
    Opt("-f", "--follow", help="follow the supervisor's events"),
    Opt("--no-replay", help="only live events, not the recent ones"),
    Opt("--wait", value=True, default=10.0, convert=float,
        help="seconds to wait for the supervisor (default 10)", metavar="SECONDS"),
]


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "--follow [--no-replay] [ID…]")
    if parsed is None:
        return 0
    from fire import events as ev
    from fire.supervisor.client import subscribe

    ids = set(parsed.args)
    wait = float(parsed.text("wait") or 10)
    out = sys.stdout.buffer
    try:
        for event in subscribe(ctx.root, wait=wait, replay=not parsed.flag("no_replay")):
            if ids and event.id and event.id not in ids:
                continue
            out.write(ev.to_json(event) + b"\n")
            out.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        _quiet_stdout()
    except KeyboardInterrupt:
        pass
    return 0


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush is silent."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
