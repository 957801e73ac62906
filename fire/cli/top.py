"""fire top — the interactive status view (also: ``fire`` with no command, in a terminal)."""

from __future__ import annotations

import sys

from fire.cli.common import parse_command
from fire.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, [], "")
    if parsed is None:
        return 0
    if parsed.args:
        raise UsageError("fire top takes no arguments")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("fire top needs a terminal (for scripts: fire events --follow, "
                         "fire list)")
    from fire.tui.app import run as run_app

    return run_app(ctx.root)
