"""fire events ID [--stats] [--interval 5s]   — runc's events: stats and OOM of one container
fire events --follow                         — the supervisor's event stream (JSON lines)"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context


def run(ctx: Context, command: str, argv: list[str]) -> int:
    if "--follow" in argv or "-f" in argv:
        from fire.cli.events_follow import run as follow

        return follow(ctx, command, argv)
    from fire.cli.events_container import run as container_events

    return container_events(ctx, command, argv)
