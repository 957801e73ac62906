"""A container's resource usage, in the shape of runc's ``types.Stats``.

``collect`` reads each controller where it lives (v1 file names or v2 ones) and
returns plain dicts: ``fire events`` prints them as runc does, and the supervisor
can serve them as metrics (``collect(state.cgroup)``).  A controller that is not
there, or a file this kernel lacks, leaves its numbers at zero: statistics are
best effort and never an error.

Units follow runc: cpu times in nanoseconds, memory in bytes.
"""

from __future__ import annotations

import os

from fire.cgroup import driver as cgroup_driver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.hierarchy import Hierarchy
    from fire.cgroup.manager import Manager

Stats = dict[str, object]

_U64_MAX = 2**64 - 1
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _text(d: str | None, name: str) -> str | None:
    if d is None:
        return None
    try:
        with open(os.path.join(d, name)) as f:
            return f.read()
    except OSError:
        return None


def _int(d: str | None, name: str) -> int:
    """An integer file; ``max`` (v2) reads as 2^64-1, like runc; missing as 0."""
    text = _text(d, name)
    if text is None:
        return 0
    text = text.strip()
    if text == "max":
        return _U64_MAX
    try:
        return max(int(text), 0)
    except ValueError:
        return 0


def _keyed(d: str | None, name: str) -> dict[str, int]:
    """A flat keyed file (``key value`` per line): memory.stat, cpu.stat…"""
    out: dict[str, int] = {}
    for line in (_text(d, name) or "").splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def _cpu_list(text: str | None) -> list[int]:
    out: list[int] = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            continue
    return out


def _memory_entry(limit: int, usage: int, peak: int, failcnt: int) -> dict[str, int]:
    out = {"limit": limit, "failcnt": failcnt}
    if usage:
        out["usage"] = usage
    if peak:
        out["max"] = peak
    return out


def _blkio_v1(d: str | None) -> dict[str, list[dict[str, object]]]:
    def entries(*names: str) -> list[dict[str, object]]:
        for name in names:
            out: list[dict[str, object]] = []
            for line in (_text(d, name) or "").splitlines():
                parts = line.split()
                if len(parts) != 3 or ":" not in parts[0]:
                    continue
                major, _, minor = parts[0].partition(":")
                out.append({"major": int(major), "minor": int(minor), "op": parts[1],
                            "value": int(parts[2])})
            if out:
                return out
        return []
    result = {}
    bytes_ = entries("blkio.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive",
                     "blkio.throttle.io_service_bytes_recursive")
    ios = entries("blkio.io_serviced_recursive", "blkio.bfq.io_serviced_recursive",
                  "blkio.throttle.io_serviced_recursive")
    if bytes_:
        result["ioServiceBytesRecursive"] = bytes_
    if ios:
        result["ioServicedRecursive"] = ios
    return result


def _blkio_v2(d: str | None) -> dict[str, list[dict[str, object]]]:
    bytes_: list[dict[str, object]] = []
    ios: list[dict[str, object]] = []
    for line in (_text(d, "io.stat") or "").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        values = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for target, keys in ((bytes_, (("rbytes", "Read"), ("wbytes", "Write"))),
                             (ios, (("rios", "Read"), ("wios", "Write")))):
            for key, op in keys:
                if key in values:
                    target.append({"major": int(major), "minor": int(minor), "op": op,
                                   "value": int(values[key])})
    result = {}
    if bytes_:
        result["ioServiceBytesRecursive"] = bytes_
    if ios:
        result["ioServicedRecursive"] = ios
    return result


def _hugetlb(d: str | None, v2: bool) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    if d is None:
        return out
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for name in names:
        parts = name.split(".")
        if len(parts) != 3 or parts[0] != "hugetlb":
            continue
        size = parts[1]
        if v2 and parts[2] == "current":
            events = _keyed(d, f"hugetlb.{size}.events")
            entry = {"failcnt": events.get("max", 0)}
            usage = _int(d, name)
            if usage:
                entry["usage"] = usage
            out[size] = entry
        elif not v2 and parts[2] == "usage_in_bytes":
            entry = {"failcnt": _int(d, f"hugetlb.{size}.failcnt")}
            usage = _int(d, name)
            peak = _int(d, f"hugetlb.{size}.max_usage_in_bytes")
            if usage:
                entry["usage"] = usage
            if peak:
                entry["max"] = peak
            out[size] = entry
    return out


def collect_manager(mgr: Manager) -> Stats:
    where = mgr.where
    cpu: dict[str, object] = {"usage": {"kernel": 0, "user": 0}, "throttling": {}}
    memory: dict[str, object] = {}
    pids: dict[str, int] = {}
    blkio: dict[str, object] = {}
    hugetlb: dict[str, object] = {}
    cpuset: dict[str, object] = {}

    # cpu (v1: cpuacct for usage, cpu for throttling; v2: cpu.stat holds both)
    if where.get("cpuacct") != "v1" and where.get("cpu") != "v1":
        st = _keyed(mgr.v2_dir(), "cpu.stat")  # v2's core cpu.stat has the usage
        usage = {"kernel": st.get("system_usec", 0) * 1000, "user": st.get("user_usec", 0) * 1000}
        if st.get("usage_usec"):
            usage["total"] = st["usage_usec"] * 1000
        throttling = {k: v for k, v in (("periods", st.get("nr_periods", 0)),
                                        ("throttledPeriods", st.get("nr_throttled", 0)),
                                        ("throttledTime", st.get("throttled_usec", 0) * 1000))
                      if v}
        cpu = {"usage": usage, "throttling": throttling}
    else:
        acct = mgr.dir_for("cpuacct")
        ticks = _keyed(acct, "cpuacct.stat")
        ns = 1_000_000_000 // _CLK_TCK
        usage_v1: dict[str, object] = {"kernel": ticks.get("system", 0) * ns,
                                       "user": ticks.get("user", 0) * ns}
        total = _int(acct, "cpuacct.usage")
        if total:
            usage_v1["total"] = total
        percpu = [int(x) for x in (_text(acct, "cpuacct.usage_percpu") or "").split()]
        if percpu:
            usage_v1["percpu"] = percpu
        st = _keyed(mgr.dir_for("cpu"), "cpu.stat")
        throttling = {k: v for k, v in (("periods", st.get("nr_periods", 0)),
                                        ("throttledPeriods", st.get("nr_throttled", 0)),
                                        ("throttledTime", st.get("throttled_time", 0)))
                      if v}
        cpu = {"usage": usage_v1, "throttling": throttling}

    # memory
    if where.get("memory") == "v1":
        d = mgr.dir_for("memory")
        raw = _keyed(d, "memory.stat")
        memory = {
            "usage": _memory_entry(_int(d, "memory.limit_in_bytes"),
                                   _int(d, "memory.usage_in_bytes"),
                                   _int(d, "memory.max_usage_in_bytes"),
                                   _int(d, "memory.failcnt")),
            "swap": _memory_entry(_int(d, "memory.memsw.limit_in_bytes"),
                                  _int(d, "memory.memsw.usage_in_bytes"),
                                  _int(d, "memory.memsw.max_usage_in_bytes"),
                                  _int(d, "memory.memsw.failcnt")),
            "kernel": _memory_entry(_int(d, "memory.kmem.limit_in_bytes"),
                                    _int(d, "memory.kmem.usage_in_bytes"),
                                    _int(d, "memory.kmem.max_usage_in_bytes"),
                                    _int(d, "memory.kmem.failcnt")),
            "kernelTCP": _memory_entry(_int(d, "memory.kmem.tcp.limit_in_bytes"),
                                       _int(d, "memory.kmem.tcp.usage_in_bytes"),
                                       _int(d, "memory.kmem.tcp.max_usage_in_bytes"),
                                       _int(d, "memory.kmem.tcp.failcnt")),
        }
        if raw.get("cache"):
            memory["cache"] = raw["cache"]
        if raw:
            memory["raw"] = raw
    elif where.get("memory") == "v2":
        d = mgr.dir_for("memory")
        raw = _keyed(d, "memory.stat")
        events = _keyed(d, "memory.events")
        current = _int(d, "memory.current")
        swap_usage = _int(d, "memory.swap.current")
        memory = {
            # runc reports v1's memsw (memory + swap) for "swap" on v2 too
            "usage": _memory_entry(_int(d, "memory.max"), current, _int(d, "memory.peak"),
                                   events.get("max", 0)),
            "swap": _memory_entry(_int(d, "memory.swap.max"), swap_usage + current,
                                  _int(d, "memory.swap.peak"), events.get("max", 0)),
        }
        if raw.get("file"):
            memory["cache"] = raw["file"]
        if raw:
            memory["raw"] = raw

    # pids
    version = where.get("pids")
    if version:
        d = mgr.dir_for("pids")
        current, limit = _int(d, "pids.current"), _int(d, "pids.max")
        if current:
            pids["current"] = current
        if limit and limit != _U64_MAX:
            pids["limit"] = limit

    # blkio / io
    if where.get("blkio") == "v1":
        blkio = dict(_blkio_v1(mgr.dir_for("blkio")))
    elif where.get("blkio") == "v2":
        blkio = dict(_blkio_v2(mgr.dir_for("blkio")))

    # hugetlb
    if where.get("hugetlb"):
        hugetlb = dict(_hugetlb(mgr.dir_for("hugetlb"), where["hugetlb"] == "v2"))

    # cpuset
    if where.get("cpuset"):
        d = mgr.dir_for("cpuset")
        effective = "cpuset.cpus.effective" if where["cpuset"] == "v2" else "cpuset.effective_cpus"
        cpus = _cpu_list(_text(d, effective) or _text(d, "cpuset.cpus"))
        mems_file = ("cpuset.mems.effective" if where["cpuset"] == "v2"
                     else "cpuset.effective_mems")
        mems = _cpu_list(_text(d, mems_file) or _text(d, "cpuset.mems"))
        if cpus:
            cpuset["cpus"] = cpus
        if mems:
            cpuset["mems"] = mems

    return {"cpu": cpu, "cpuset": cpuset, "memory": memory, "pids": pids, "blkio": blkio,
            "hugetlb": hugetlb, "intel_rdt": {}, "network_interfaces": None}


def collect(cgroup_state: dict[str, object] | None,
            hierarchies: list[Hierarchy] | None = None) -> Stats | None:
    """The stats of the container whose ``state.cgroup`` is ``cgroup_state``
    (None when it has no cgroup)."""
    mgr = cgroup_driver.from_state(cgroup_state, hierarchies)
    if mgr is None:
        return None
    return collect_manager(mgr)
