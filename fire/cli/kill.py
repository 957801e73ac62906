"""fire kill [-a|--all] ID [SIGNAL]   (also the seed's form: fire kill ID --signal SIG)"""

from __future__ import annotations

from fire.cli.args import Opt
from fire.cli.common import need_id, parse_command, store
from fire.signals.table import parse as parse_signal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [
    Opt("-a", "--all", help="signal every process of the container"),
    Opt("-s", "--signal", value=True, help="the signal (default TERM)", metavar="SIG"),
]


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[-a] ID [SIGNAL]")
    if parsed is None:
        return 0
    cid = need_id(parsed, command)
    text = parsed.args[1] if len(parsed.args) > 1 else (parsed.text("signal") or "TERM")
    sig = parse_signal(text, zero=True)  # 0: a liveness check, as runc
    from fire.container.kill import kill

    kill(store(ctx), cid, sig, parsed.flag("all"))
    return 0
