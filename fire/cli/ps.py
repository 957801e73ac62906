"""fire ps [ID] [--format table|json] [-- ps options]

Without an id: the containers, like ``list`` (the seed's ``fire ps``).  With one:
the container's processes (the pids in its cgroup); ``--format json`` prints the
JSON array of host pids that containerd expects.
"""

from __future__ import annotations

import sys

from fire.cli.args import Opt
from fire.cli.common import parse_command, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [Opt("-f", "--format", value=True, default="table", help="table or json"),
           Opt("-q", "--quiet", help="(without an id) print only ids")]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return "?"
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[ID] [--format table|json]")
    if parsed is None:
        return 0
    fmt = parsed.text("format") or "table"
    if not parsed.args:
        from fire.cli.listing import print_rows, rows

        print_rows(rows(ctx), fmt, parsed.flag("quiet"))
        return 0
    from fire.cgroup.manager import Manager
    from fire.container.status import load
    from fire.errors import NotRunning
    from fire.spec.state import STOPPED

    cdir, state, status = load(store(ctx), parsed.args[0])
    cdir.close()
    if status == STOPPED:
        raise NotRunning()
    cg = Manager.from_state(state.cgroup)
    pids = cg.pids() if cg is not None else [state.pid]
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(pids) + "\n")
        return 0
    sys.stdout.write(f"{'PID':>8}  CMD\n")
    for pid in pids:
        sys.stdout.write(f"{pid:>8}  {_cmdline(pid)}\n")
    return 0
