"""Helpers shared by the command modules."""

from __future__ import annotations

from fire.cli.args import Opt, Parsed, parse, usage
from fire.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context
    from fire.store import Store

HELP = Opt("-h", "--help", help="show this help")


def parse_command(command: str, argv: list[str], options: list[Opt], synopsis: str,
                  stop_at_positional: bool = False) -> Parsed | None:
    """Parse; print help and return None for -h."""
    parsed = parse(argv, [*options, HELP], stop_at_positional)
    if parsed.flag("help"):
        import sys

        sys.stdout.write(usage(command, synopsis, options) + "\n")
        return None
    return parsed


def need_id(parsed: Parsed, command: str) -> str:
    if not parsed.args:
        raise UsageError("fire {command}: a container id is required", command=command)
    return parsed.args[0]


def store(ctx: Context) -> Store:
    from fire.store import Store

    return Store(ctx.root)
