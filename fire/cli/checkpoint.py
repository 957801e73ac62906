"""fire checkpoint [--image-path DIR] [--work-path DIR] [--parent-path DIR] [--leave-running]
[--pre-dump] [CRIU flags] ID: dump a running container with CRIU (docs/engines.md)."""

from __future__ import annotations

from fire.cli import criuflags
from fire.cli.args import Opt
from fire.cli.common import need_id, parse_command, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [
    *criuflags.SHARED,
    Opt("--parent-path", value=True, default="", metavar="DIR",
        help="a pre-dump's images, relative to --image-path"),
    Opt("--leave-running", help="leave the container running after the dump"),
    Opt("--pre-dump", help="dump memory only and leave the container running"),
    Opt("--page-server", value=True, default="", metavar="ADDRESS:PORT",
        help="send the images to a CRIU page server (not supported)"),
    Opt("--status-fd", value=True, default=-1, convert=int, metavar="FD",
        help="with --lazy-pages (not supported)"),
]


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[options] ID")
    if parsed is None:
        return 0
    cid = need_id(parsed, command)
    if parsed.text("page_server"):
        from fire.errors import UsageError

        raise UsageError("--page-server is not supported")
    from fire.container.checkpoint import checkpoint

    checkpoint(store(ctx), cid, criuflags.flags_of(parsed), ctx.criu)
    return 0
