"""fire exec [options] ID [COMMAND [ARG…]]

runc's form: options come before the id; everything after the command is passed to
it untouched (``fire exec c1 ip -4 -o addr`` runs ``ip -4 -o addr``).
"""

from __future__ import annotations

from fire.cli.args import Opt
from fire.cli.common import need_id, parse_command, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [
    Opt("-p", "--process", value=True, help="a runtime-spec process JSON (instead of the "
        "container's process and the options below)", metavar="FILE"),
    Opt("-t", "--tty", help="allocate a pseudo-terminal"),
    Opt("--console-socket", value=True, help="unix socket that receives the terminal's "
        "master (with --detach)", metavar="PATH"),
    Opt("-d", "--detach", help="return once the process runs; do not wait for it"),
    Opt("--pid-file", value=True, help="write the process's pid here", metavar="FILE"),
    Opt("--cwd", value=True, help="working directory, inside the container", metavar="DIR"),
    Opt("-e", "--env", value=True, multi=True, help="add KEY=VALUE to the environment",
        metavar="KEY=VALUE"),
    Opt("-u", "--user", value=True, help="run as UID[:GID]", metavar="UID[:GID]"),
    Opt("-g", "--additional-gids", value=True, multi=True, convert=int,
        help="an additional group id", metavar="GID"),
    Opt("-c", "--cap", value=True, multi=True, help="add a capability", metavar="CAP"),
    Opt("--no-new-privs", help="set no_new_privs"),
    Opt("--apparmor", value=True, help="AppArmor profile", metavar="PROFILE"),
    Opt("--process-label", value=True, help="SELinux label", metavar="LABEL"),
    Opt("--preserve-fds", value=True, default=0, convert=int,
        help="pass N extra fds (3, 4, …) to the process", metavar="N"),
    Opt("--cgroup", value=True, multi=True,
        help="run in a sub-cgroup of the container", metavar="[CTRL:]PATH"),
    Opt("--ignore-paused", help="exec even if the container is paused"),
]
SYNOPSIS = "[options] ID [COMMAND [ARG…]]"


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, SYNOPSIS, stop_at_positional=True)
    if parsed is None:
        return 0
    cid = need_id(parsed, command)
    from fire.container.exec import ExecOptions, execute

    opts = ExecOptions(
        args=parsed.args[1:], process_file=parsed.text("process"), tty=parsed.flag("tty"),
        console_socket=parsed.text("console_socket"), detach=parsed.flag("detach"),
        pid_file=parsed.text("pid_file"), cwd=parsed.text("cwd"), env=parsed.items("env"),
        user=parsed.text("user"),
        additional_gids=[int(g) for g in parsed.items("additional_gids")],
        caps=parsed.items("cap"), no_new_privs=parsed.flag("no_new_privs"),
        apparmor=parsed.text("apparmor"), process_label=parsed.text("process_label"),
        preserve_fds=parsed.number("preserve_fds"), cgroups=parsed.items("cgroup"),
        ignore_paused=parsed.flag("ignore_paused"))
    return execute(store(ctx), cid, opts)
