"""fire ps [--format table|json] ID [ps options]   (without an id: the containers)

With an id: the container's processes, i.e. the pids in its cgroup.  ``--format
json`` prints the JSON array of host pids that containerd expects.  The table is
runc's: ``ps(1)`` runs with the given options (default ``-ef``) and only the lines
whose PID column names one of the container's processes are kept — so every ps
option works as with runc.  Without ps(1) on the host, a PID/CMD table from /proc.
Without an id: the containers, like ``list`` (the seed's ``fire ps``).
"""

from __future__ import annotations

import sys

from fire.cli.args import Opt
from fire.cli.common import parse_command, store
from fire.errors import FireError

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


def filter_ps(output: str, pids: list[int]) -> str:
    """The header of ``ps`` output and the lines of ``pids`` (runc's filter)."""
    lines = output.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise FireError("couldn't find PID field in ps output")
    column = header.index("PID")
    wanted = set(pids)
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _table(pids: list[int], ps_args: list[str]) -> str:
    import shutil
    import subprocess

    ps = shutil.which("ps")
    if ps is None:
        rows = [f"{'PID':>8}  CMD"] + [f"{pid:>8}  {_cmdline(pid)}" for pid in pids]
        return "\n".join(rows) + "\n"
    proc = subprocess.run([ps, *(ps_args or ["-ef"])], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise FireError("ps {args}: {error}", args=" ".join(ps_args or ["-ef"]),
                        error=(proc.stderr or proc.stdout).strip() or f"exit {proc.returncode}")
    return filter_ps(proc.stdout, pids)


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[--format table|json] [ID [ps options]]",
                           stop_at_positional=True)
    if parsed is None:
        return 0
    fmt = parsed.text("format") or "table"
    ps_args = parsed.args[1:]
    # `fire ps ID --format json` (this README's old form): --format is never a ps(1)
    # option, so take it wherever it is; -f stays ps's ("full format") after the id.
    while ps_args and ps_args[0].startswith("--format"):
        flag = ps_args.pop(0)
        if "=" in flag:
            fmt = flag.split("=", 1)[1]
        elif ps_args:
            fmt = ps_args.pop(0)
    if fmt not in ("table", "json"):
        from fire.errors import UsageError

        raise UsageError("invalid format option {fmt!r}: table or json", fmt=fmt)
    if not parsed.args:
        from fire.cli.listing import print_rows, rows

        print_rows(rows(ctx), fmt, parsed.flag("quiet"))
        return 0
    from fire.cgroup import driver as cgroup_driver
    from fire.container.status import load
    from fire.errors import NotRunning
    from fire.spec.state import STOPPED

    cdir, state, status = load(store(ctx), parsed.args[0])
    cdir.close()
    if status == STOPPED:
        raise NotRunning()
    cg = cgroup_driver.from_state(state.cgroup)
    if cg is not None:
        pids = cg.pids()
    else:  # no cgroup (rootless): the container's process and its descendants
        from fire.procfs import descendants

        pids = descendants(state.pid)
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(pids) + "\n")
        return 0
    sys.stdout.write(_table(pids, ps_args))
    return 0
