"""fire list [--format table|json] [-q]"""

from __future__ import annotations

import os
import sys

from fire.cli.args import Opt
from fire.cli.common import parse_command, store
from fire.container.status import current
from fire.errors import FireError
from fire.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [
    Opt("-f", "--format", value=True, default="table", help="table or json"),
    Opt("-q", "--quiet", help="print only the ids"),
]


def _user(uid: int) -> str:
    """runc's owner column: the name of the state directory's owner, ``#UID``
    when the user database does not know it."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def rows(ctx: Context) -> list[dict[str, object]]:
    """runc's list objects; a container with a corrupt state gets a warning."""
    st = store(ctx)
    out: list[dict[str, object]] = []
    for cid in st.ids():
        try:
            cdir = st.open(cid)
        except FireError:
            continue
        try:
            state = cdir.read_state()
            uid = os.fstat(cdir.fd).st_uid
        except FireError as exc:
            log.warning("{error}", error=str(exc))
            continue
        finally:
            cdir.close()
        public = state.public(current(state))
        public["owner"] = _user(uid)
        out.append({k: public[k] for k in ("ociVersion", "id", "pid", "status", "bundle",
                                           "rootfs", "created", "owner")})
        if state.annotations:
            out[-1]["annotations"] = state.annotations
    return out


def print_rows(items: list[dict[str, object]], fmt: str, quiet: bool) -> None:
    if quiet:
        sys.stdout.write("".join(f"{r['id']}\n" for r in items))
        return
    if fmt == "json":
        from fire import jsonlite

        sys.stdout.write(jsonlite.dumps(items, compact=False) + "\n")
        return
    if fmt != "table":
        raise FireError("invalid format {fmt!r} (table or json)", fmt=fmt)
    if sys.stdout.isatty():
        from fire.cli.render import table

        table(["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
              [[str(r["id"]), str(r["pid"]), str(r["status"]), str(r["bundle"]),
                str(r["created"]), str(r["owner"])] for r in items])
        return
    header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    lines = [header] + [[str(r["id"]), str(r["pid"]), str(r["status"]), str(r["bundle"]),
                         str(r["created"]), str(r["owner"])] for r in items]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        sys.stdout.write("   ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                         + "\n")


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[--format table|json] [-q]")
    if parsed is None:
        return 0
    print_rows(rows(ctx), parsed.text("format") or "table", parsed.flag("quiet"))
    return 0
