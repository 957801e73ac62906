"""fire features — the runtime-spec features document (JSON)."""

from __future__ import annotations

import json
import sys

from fire.cli.common import parse_command
from fire.spec.features import document

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context


def run(ctx: Context, command: str, argv: list[str]) -> int:
    if parse_command(command, argv, [], "") is None:
        return 0
    sys.stdout.write(json.dumps(document(), indent=4) + "\n")
    return 0
