"""fire start ID"""

from __future__ import annotations

from fire.cli.common import need_id, parse_command, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, [], "ID")
    if parsed is None:
        return 0
    from fire.container.start import start

    start(store(ctx), need_id(parsed, command))
    return 0
