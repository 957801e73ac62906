"""fire reload — ask the root's fire-supervise to read its file again.

The same as its SIGHUP, without having to find its pid (``pidof fire-supervise``
finds nothing: the process is a Python interpreter).  The request goes over the
supervisor's socket; the reply says what changes ("1 added, 0 removed, 2
changed"), or why nothing does (a file that does not decode: its one-line error,
exit 1).  The changes themselves are applied in the background: their progress is
in ``fire events --follow``.
"""

from __future__ import annotations

import sys

from fire.cli.common import parse_command
from fire.errors import FireError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context


class ReloadRefused(FireError):
    template = "reload: {error}"


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, [], "")
    if parsed is None:
        return 0
    if parsed.args:
        raise UsageError("fire reload takes no arguments")
    from fire import events as ev
    from fire.supervisor.client import request

    reply = request(ctx.root, ev.Reload())
    if not reply.ok:
        raise ReloadRefused(None, error=reply.error)
    sys.stdout.write(f"reload: {reply.text}\n")
    return 0
