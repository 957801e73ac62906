"""fire demo [--bundle DIR] [ID] — build the embedded default bundle (busybox-static)
and run it in the foreground."""

from __future__ import annotations

import os

from fire.cli.args import Opt
from fire.cli.common import parse_command, store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [Opt("-b", "--bundle", value=True, default="/var/lib/fire/demo",
               help="where to build the bundle", metavar="DIR")]


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[--bundle DIR] [ID]")
    if parsed is None:
        return 0
    from fire.bundle import make_bundle
    from fire.container.create import Options
    from fire.container.run import run as run_container

    bundle = os.path.abspath(parsed.text("bundle") or "/var/lib/fire/demo")
    if not os.path.exists(os.path.join(bundle, "config.json")):
        make_bundle(bundle)
    cid = parsed.args[0] if parsed.args else f"demo-{os.getpid()}"
    return run_container(store(ctx), cid, Options(bundle=bundle, foreground=True))
