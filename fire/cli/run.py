"""fire run [create options] [-d|--detach] [--keep] [--progress] ID [BUNDLE]"""

from __future__ import annotations

from fire.cli.args import Opt
from fire.cli.common import need_id, parse_command, store
from fire.cli.create import OPTIONS as CREATE_OPTIONS
from fire.cli.create import options_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [
    *CREATE_OPTIONS,
    Opt("-d", "--detach", help="return once the container runs"),
    Opt("--keep", help="do not delete the container after it exits"),
    Opt("--progress", help="show the stages on the terminal while it is created"),
]


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[options] ID [BUNDLE]")
    if parsed is None:
        return 0
    cid = need_id(parsed, command)
    from fire.container.run import run as run_container

    detach = parsed.flag("detach")
    opts = options_from(parsed, foreground=not detach, ctx=ctx)
    if parsed.flag("progress"):  # one line of stages, if the terminal can show it
        from fire.cli import progress
        from fire.log import log

        if progress.wanted(log.fmt):
            shown = progress.Progress(cid)
            opts.on_stage = shown
            log.on_write = shown.clear
    return run_container(store(ctx), cid, opts, detach=detach, keep=parsed.flag("keep"))
