"""fire spec [-b|--bundle DIR] [--rootless] — write a default config.json."""

from __future__ import annotations

import json
import os

from fire.cli.args import Opt
from fire.cli.common import parse_command
from fire.errors import FireError
from fire.spec.default import default_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

OPTIONS = [Opt("-b", "--bundle", value=True, default=".", help="where to write config.json",
               metavar="DIR"),
           Opt("--rootless", help="a config for an unprivileged user (user namespace)")]


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[--bundle DIR] [--rootless]")
    if parsed is None:
        return 0
    path = os.path.join(parsed.text("bundle") or ".", "config.json")
    data = json.dumps(default_spec(rootless=parsed.flag("rootless")), indent=2) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise FireError("{path} exists; remove it first", path=path) from None
    except OSError as exc:
        raise FireError("cannot write {path}: {reason}", path=path, reason=exc.strerror) from None
    with os.fdopen(fd, "w") as f:
        f.write(data)
    return 0
