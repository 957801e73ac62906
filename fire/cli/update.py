"""fire update ID [-r FILE|-] [--memory N --memory-swap N --cpu-quota N …] — runc's flags.

``-r`` reads a ``linux.resources`` JSON document (``-`` = stdin); the flags are
applied on top of it.  Sizes are bytes or take a k/m/g/t suffix (``32m``, ``1g``,
``512MiB``: binary multiples, as runc's go-units); ``-1`` means unlimited.  A 0
leaves the limit as it is wherever runc's ``update`` reads 0 so (cpu period, quota,
shares, realtime period and runtime, memory limits, pids limit, blkio weight):
engines such as Docker send 0 for every limit they do not change.
"""

from __future__ import annotations

import re

from fire.cli.args import Opt
from fire.cli.common import need_id, parse_command, store
from fire.errors import ConfigError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli import Context

_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?(?:i?b)?$", re.I)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def size(text: str) -> int:
    """``32m`` → 33554432; ``-1`` stays -1 (unlimited)."""
    if text.strip() == "-1":
        return -1
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError(text)
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


# option → (section, field, parser)
FLAGS: dict[str, tuple[str, str, str]] = {
    "memory": ("memory", "limit", "size"),
    "memory_swap": ("memory", "swap", "size"),
    "memory_reservation": ("memory", "reservation", "size"),
    "kernel_memory": ("memory", "kernel", "size"),
    "kernel_memory_tcp": ("memory", "kernelTCP", "size"),
    "cpu_period": ("cpu", "period", "int"),
    "cpu_quota": ("cpu", "quota", "int"),
    "cpu_share": ("cpu", "shares", "int"),
    "cpu_rt_period": ("cpu", "realtimePeriod", "int"),
    "cpu_rt_runtime": ("cpu", "realtimeRuntime", "int"),
    "cpuset_cpus": ("cpu", "cpus", "str"),
    "cpuset_mems": ("cpu", "mems", "str"),
    "pids_limit": ("pids", "limit", "int"),
    "blkio_weight": ("blockIO", "weight", "int"),
}

OPTIONS = [
    Opt("-r", "--resources", value=True, help="a linux.resources JSON file, or - for stdin",
        metavar="FILE"),
    Opt("--memory", value=True, help="memory limit (bytes, or with k/m/g)"),
    Opt("--memory-swap", value=True, help="memory + swap limit; -1 for unlimited swap"),
    Opt("--memory-reservation", value=True, help="memory soft limit"),
    Opt("--kernel-memory", value=True, help="(obsolete: ignored by the kernel)"),
    Opt("--kernel-memory-tcp", value=True, help="kernel TCP buffer limit (cgroup v1)"),
    Opt("--cpu-period", value=True, help="CFS period (microseconds)"),
    Opt("--cpu-quota", value=True, help="CFS quota per period (microseconds); -1: none"),
    Opt("--cpu-shares", "--cpu-share", value=True, help="cpu shares (relative weight)"),
    Opt("--cpu-rt-period", value=True, help="realtime period (microseconds)"),
    Opt("--cpu-rt-runtime", value=True, help="realtime runtime per period (microseconds)"),
    Opt("--cpuset-cpus", value=True, help="cpus to run on (0-3,5)"),
    Opt("--cpuset-mems", value=True, help="memory nodes to use"),
    Opt("--pids-limit", value=True, help="maximum number of processes; -1: none"),
    Opt("--blkio-weight", value=True, help="block IO weight (10 to 1000)"),
    Opt("--l3-cache-schema", value=True, help="(Intel RDT: not supported)"),
    Opt("--mem-bw-schema", value=True, help="(Intel RDT: not supported)"),
]


def _read_resources(path: str) -> dict[str, object]:
    import json
    import sys

    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path) as f:
                text = f.read()
    except OSError as exc:
        raise ConfigError("", "cannot read {path}: {reason}", "resources", path=path,
                          reason=exc.strerror) from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConfigError("", "malformed JSON: {error}", path, error=str(exc)) from None
    if not isinstance(doc, dict):
        raise ConfigError("$", "expected an object (linux.resources)", path)
    return doc


def changes_from(values: dict[str, object]) -> dict[str, object]:
    """The flags given, as a linux.resources document."""
    out: dict[str, object] = {}
    for dest, (section, field, kind) in FLAGS.items():
        raw = values.get(dest)
        if raw is None:
            continue
        text = str(raw)
        try:
            value: object = (size(text) if kind == "size" else int(text) if kind == "int"
                             else text)
        except ValueError:
            flag = "--" + dest.replace("_", "-")
            raise UsageError("invalid value {value!r} for {flag}", value=text,
                             flag=flag) from None
        section_doc = out.setdefault(section, {})
        assert isinstance(section_doc, dict)
        section_doc[field] = value
    return out


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[-r FILE|-] [OPTIONS] ID")
    if parsed is None:
        return 0
    cid = need_id(parsed, command)
    for rdt in ("l3_cache_schema", "mem_bw_schema"):
        if parsed.values.get(rdt) is not None:
            raise UsageError("--{flag}: Intel RDT is not supported by Fire",
                             flag=rdt.replace("_", "-"))
    document = "resources"
    changes: dict[str, object] = {}
    path = parsed.text("resources")
    if path is not None:
        changes = _read_resources(path)
        document = "stdin" if path == "-" else path
    from fire.container.update import merge, update

    flags = changes_from(parsed.values)
    if flags:
        changes = merge(changes, flags)
    if not changes:
        raise UsageError("fire update: nothing to update (give -r FILE or a limit option)")
    update(store(ctx), cid, changes, document)
    return 0
