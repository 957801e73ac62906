"""fire delete [-f|--force] ID"""

from __future__ import annotations

from fire.cli.args import Opt
from fire.cli.common import need_id, parse_command, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [Opt("-f", "--force", help="kill the container first if it still runs")]


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[-f] ID")
    if parsed is None:
        return 0
    from fire.container.delete import delete

    delete(store(ctx), need_id(parsed, command), parsed.flag("force"))
    return 0
