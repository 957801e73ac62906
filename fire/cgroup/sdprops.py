"""A ``Translation`` as systemd unit properties (the systemd driver's half of it).

Pure.  The systemd driver tells systemd every limit systemd can express, so that
systemd's own view of the scope (``systemctl show``, and what it writes again when it
re-applies a unit's settings, on ``daemon-reload`` for instance) agrees with the
container's; then the whole translation is written into the scope's cgroup files
anyway (``Manager.apply``), which covers what systemd cannot say (hugetlb, rdma, the
unified map's other files, blkio throttles) and leaves the kernel holding exactly the
config's values.  runc does the same, in the same two steps.

The properties are derived from the translation's cgroup *writes* (the way runc reads
``linux.resources.unified``), not from the spec again: one place decides each value,
so systemd and the files cannot disagree about cpu shares → weight, swap, or
``pids.limit 0``.  A value is an (D-Bus signature, value) pair, as jeepney wants a
variant.
"""

from __future__ import annotations

from fire.cgroup.devices import WILDCARD

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.devices import DeviceState
    from fire.cgroup.translate import Translation, Write

    Property = tuple[str, tuple[str, object]]

INFINITY = 2**64 - 1  # systemd's USEC_INFINITY / CGROUP_LIMIT_MAX
DEFAULT_PERIOD = 100_000

_V2_UINT = {
    "memory.max": "MemoryMax",
    "memory.low": "MemoryLow",
    "memory.high": "MemoryHigh",
    "memory.min": "MemoryMin",
    "memory.swap.max": "MemorySwapMax",
    "cpu.weight": "CPUWeight",
}
_V1_UINT = {
    "memory.limit_in_bytes": "MemoryLimit",
    "cpu.shares": "CPUShares",
    "blkio.weight": "BlockIOWeight",
}


def range_to_bits(text: str) -> bytes:
    """A cpuset list (``0-2,5``) as systemd's AllowedCPUs byte array: bit *n* of
    byte *n // 8* is CPU *n* (runc's ``RangeToBits``)."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        first, last = int(lo), int(hi) if sep else int(lo)
        if first > last:
            raise ValueError(f"invalid range {part!r}")
        cpus.update(range(first, last + 1))
    if not cpus:
        raise ValueError("empty cpu list")
    out = bytearray(max(cpus) // 8 + 1)
    for n in cpus:
        out[n // 8] |= 1 << (n % 8)
    return bytes(out)


def _uint(value: str) -> int:
    return INFINITY if value.strip() == "max" else int(value)


def cpu_quota(quota: int | None, period: int) -> list[Property]:
    """CPUQuotaPerSecUSec (+ CPUQuotaPeriodUSec, systemd ≥ 242).

    systemd keeps the quota as a percentage of one CPU: runc rounds the per-second
    value up to the next 10 ms so the child's quota is never below the config's."""
    per_sec = INFINITY
    if quota is not None and quota > 0:
        per_sec = quota * 1_000_000 // period
        if per_sec % 10_000:
            per_sec = (per_sec // 10_000 + 1) * 10_000
    return [("CPUQuotaPeriodUSec", ("t", period)), ("CPUQuotaPerSecUSec", ("t", per_sec))]


def _io_weight(value: str) -> int | None:
    """``default N`` (or ``N``) of io.weight; per-device lines are not IOWeight."""
    words = value.split()
    if len(words) == 1 and words[0].isdigit():
        return int(words[0])
    if len(words) == 2 and words[0] == "default" and words[1].isdigit():
        return int(words[1])
    return None


def device_properties(state: DeviceState) -> list[Property]:
    """DevicePolicy and DeviceAllow for the normal form of the device rules.

    systemd takes only allow lists: a default-deny state becomes ``strict`` with one
    entry per exception (``/dev/char/M:m``, ``char-M`` for any minor, ``char-*``;
    systemd ≥ 240 parses these without a device node).  A default-allow state (deny
    exceptions, or nothing at all) cannot be said: systemd is told to allow all and
    Fire's own eBPF program, installed next on the same cgroup, does the filtering
    (runc tells systemd to deny everything instead, which its program then replaces;
    allowing is the choice that stays right if systemd re-attaches its program).  A
    rule with any major but one minor has no systemd form and is left to the eBPF
    program.
    """
    if state.default_allow:
        return [("DevicePolicy", ("s", "auto")), ("DeviceAllow", ("a(ss)", []))]
    entries: list[tuple[str, str]] = []
    for rule in state.rules():
        kind = {"c": "char", "b": "block"}.get(rule.type)
        if kind is None:
            continue
        if rule.major == WILDCARD:
            if rule.minor != WILDCARD:
                continue
            entries.append((f"{kind}-*", rule.access))
        elif rule.minor == WILDCARD:
            entries.append((f"{kind}-{rule.major}", rule.access))
        else:
            entries.append((f"/dev/{kind}/{rule.major}:{rule.minor}", rule.access))
    # An empty DeviceAllow first clears what an earlier call gave (update).
    return [("DevicePolicy", ("s", "strict")), ("DeviceAllow", ("a(ss)", [])),
            ("DeviceAllow", ("a(ss)", entries))]


def properties(translation: Translation) -> list[Property]:
    """The unit properties for ``translation`` (resources only)."""
    out: list[Property] = []
    v1_quota: int | None = None
    v1_period: int | None = None
    for w in translation.writes:
        try:
            v1_quota, v1_period = _add(out, w, v1_quota, v1_period)
        except ValueError:
            # A unified value systemd cannot parse either: the file write that
            # follows reports the kernel's verdict on it, naming the field.
            continue
    if v1_quota is not None or v1_period is not None:
        out += cpu_quota(v1_quota, v1_period or DEFAULT_PERIOD)
    if translation.devices is not None:
        out += device_properties(translation.devices)
    return out


def _add(out: list[Property], w: Write, v1_quota: int | None,
         v1_period: int | None) -> tuple[int | None, int | None]:
    file, value = w.choices[0]  # the first choice speaks for the field
    if w.version == "v2":
        if file in _V2_UINT:
            out.append((_V2_UINT[file], ("t", _uint(value))))
        elif file == "cpu.max":
            words = value.split()
            quota = None if words[0] == "max" else int(words[0])
            period = int(words[1]) if len(words) > 1 else DEFAULT_PERIOD
            out += cpu_quota(quota, period)
        elif file in ("cpuset.cpus", "cpuset.mems"):
            name = "AllowedCPUs" if file == "cpuset.cpus" else "AllowedMemoryNodes"
            out.append((name, ("ay", range_to_bits(value))))
        elif file == "pids.max":
            out.append(("TasksMax", ("t", max(_uint(value), 1))))
        else:  # blockIO.weight: io.bfq.weight first, io.weight (systemd's) next
            weight = _io_weight(dict(w.choices).get("io.weight", ""))
            if weight is not None:
                out.append(("IOWeight", ("t", weight)))
    elif w.version == "v1":
        if file in _V1_UINT:
            out.append((_V1_UINT[file], ("t", _uint(value))))
        elif file == "pids.max":
            out.append(("TasksMax", ("t", max(_uint(value), 1))))
        elif file == "cpu.cfs_quota_us":
            v1_quota = int(value)
        elif file == "cpu.cfs_period_us":
            v1_period = int(value)
    return v1_quota, v1_period
