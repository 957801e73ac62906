"""fire restore [-d] [-b DIR] [--image-path DIR] [--work-path DIR] [--pid-file F]
[--console-socket S] [--no-pivot] [CRIU flags] ID: make a container again from a
checkpoint (docs/engines.md).  Without -d it waits for the container and exits
with its status, as runc does."""

from __future__ import annotations

from fire.cli import criuflags
from fire.cli.args import Opt
from fire.cli.common import need_id, parse_command, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [
    *criuflags.SHARED,
    Opt("-b", "--bundle", value=True, default=".", metavar="DIR", help="the bundle directory"),
    Opt("-d", "--detach", help="detach from the container's process"),
    Opt("--pid-file", value=True, metavar="FILE", help="write the container's pid here"),
    Opt("--console-socket", value=True, metavar="PATH",
        help="unix socket that receives the terminal"),
    Opt("--no-pivot", help="accepted (CRIU restores the root as it was)"),
    Opt("--no-subreaper", help="accepted (runc compatibility)"),
    Opt("--lsm-profile", value=True, default="", metavar="TYPE:NAME",
        help="LSM profile of the restored processes"),
    Opt("--lsm-mount-context", value=True, default="", metavar="CONTEXT",
        help="LSM mount context of the restored mounts"),
]


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[options] ID")
    if parsed is None:
        return 0
    cid = need_id(parsed, command)
    from fire.container.create import Options
    from fire.container.restore import restore

    opts = Options(bundle=parsed.text("bundle") or ".", pid_file=parsed.text("pid_file"),
                   console_socket=parsed.text("console_socket"),
                   no_pivot=parsed.flag("no_pivot"), foreground=not parsed.flag("detach"))
    return restore(store(ctx), cid, opts, criuflags.flags_of(parsed),
                   lsm_profile=parsed.text("lsm_profile") or "",
                   lsm_mount_context=parsed.text("lsm_mount_context") or "",
                   criu_binary=ctx.criu)
