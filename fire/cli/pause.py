"""fire pause ID / fire resume ID — freeze or thaw all processes of a container."""

from __future__ import annotations

from fire.cli.common import need_id, parse_command, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, [], "ID")
    if parsed is None:
        return 0
    cid = need_id(parsed, command)
    from fire.container.pause import pause, resume

    (pause if command == "pause" else resume)(store(ctx), cid)
    return 0
