"""fire state ID — the runtime-spec state as JSON (plus runc's rootfs/created/owner)."""

from __future__ import annotations

import sys

from fire import jsonlite
from fire.cli.common import need_id, parse_command, store
from fire.container.status import load

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, [], "ID")
    if parsed is None:
        return 0
    cdir, state, status = load(store(ctx), need_id(parsed, command))
    cdir.close()
    sys.stdout.write(jsonlite.dumps(state.public(status), indent=2) + "\n")
    return 0
