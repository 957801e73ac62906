"""fire create [-b|--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot]
[--no-new-keyring] [--preserve-fds N] ID [BUNDLE]"""

from __future__ import annotations

from fire.cli import runflags
from fire.cli.args import Opt
from fire.cli.common import need_id, parse_command, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context
    from fire.cli.args import Parsed
    from fire.container.create import Options

OPTIONS = [
    Opt("-b", "--bundle", value=True, default=".", help="the bundle directory", metavar="DIR"),
    Opt("--pid-file", value=True, help="write the container's pid here", metavar="FILE"),
    Opt("--console-socket", value=True, help="unix socket that receives the terminal",
        metavar="PATH"),
    Opt("--no-pivot", help="move the root instead of pivot_root (ramdisk roots)"),
    Opt("--no-new-keyring", help="keep the caller's session keyring"),
    Opt("--preserve-fds", value=True, default=0, convert=int,
        help="pass N extra fds (3, 4, …) to the container", metavar="N"),
    *runflags.OPTIONS,  # Fire's own network and storage (run.fire.* annotations)
    Opt("--systemd-slice", value=True, metavar="SLICE",
        help="with --systemd-cgroup: the scope fire-ID.scope in SLICE, whatever "
        "cgroupsPath says (fire-supervise's cgroup_manager)"),
]
SYNOPSIS = "[options] ID [BUNDLE]"


def options_from(parsed: Parsed, foreground: bool = False,
                 ctx: Context | None = None) -> Options:
    from fire.container.create import Options

    bundle = parsed.text("bundle") or "."
    if len(parsed.args) > 1:  # the seed's form: fire create ID BUNDLE
        bundle = parsed.args[1]
    return Options(bundle=bundle, pid_file=parsed.text("pid_file"),
                   console_socket=parsed.text("console_socket"),
                   no_pivot=parsed.flag("no_pivot"), no_new_keyring=parsed.flag("no_new_keyring"),
                   preserve_fds=parsed.number("preserve_fds"), foreground=foreground,
                   annotations=runflags.annotations_of(parsed),
                   systemd_cgroup=ctx.systemd_cgroup if ctx is not None else False,
                   systemd_slice=parsed.text("systemd_slice"))


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, SYNOPSIS)
    if parsed is None:
        return 0
    cid = need_id(parsed, command)
    from fire.container.create import create

    create(store(ctx), cid, options_from(parsed, ctx=ctx))
    return 0
