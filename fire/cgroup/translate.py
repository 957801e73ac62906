"""``linux.resources`` → the cgroup files to write, for cgroup v1 and for cgroup v2.

Pure (crun keeps ``cgroup-resources.c`` apart from its backends for the same
reason): no file is touched here, so every value is checked — and refused with
its JSON path — before any cgroup exists, and the rules are unit-tested without
root.  ``fire.cgroup.manager`` writes the result.

Which version a field is translated for is decided per *controller*, from where
the controller lives on this host (``locate``): on a hybrid host such as ours the
memory limit goes to v1's ``memory.limit_in_bytes`` while a hugepage limit goes to
the cgroup2 tree's ``hugetlb.2MB.max``.  A field whose controller is nowhere, or
that the version it lives in cannot express (realtime cpu, ``net_cls`` on v2), is
an error naming the field; what the kernel silently dropped (``memory.kernel``,
``kernelTCP`` on v2) is a warning, as runc does.

Conversions to v2 are crun's documented ones (crun.1.md, "CGROUP v2"):

* ``cpu.shares`` → ``cpu.weight = 1 + (shares - 2) * 9999 / 262142``;
* ``cpu.quota``/``period`` → ``cpu.max = "QUOTA PERIOD"`` (``max`` for no quota);
* ``blockIO.weight`` → ``io.bfq.weight`` as is, else ``io.weight = 1 + (w - 10) *
  9999 / 990``; throttles → one ``io.max`` line per device;
* ``memory.swap`` (memory + swap on v1) → ``memory.swap.max = swap - limit``;
* ``memory.reservation`` → ``memory.low``; ``pids.limit -1`` → ``max``.

Zero means "not set" for the limits engines fill with zeroes (memory limit, swap,
reservation, cpu shares and quota, blkio weight), as in runc; ``pids.limit 0`` is a
real limit (runtime-spec 1.3) in ``config.json``.  An ``update`` document goes
further (``drop_unset``): Docker sends the whole resources object with 0 for every
field its user did not give, and runc's ``update`` leaves each such field as it is.
Some writes depend on each other (v1 refuses a memory limit above ``memsw``, a cfs
period the current quota would overrun); the writer retries a write that fails with
EINVAL after the rest of its controller's.
"""

from __future__ import annotations

from fire.cgroup import devices as dev
from fire.errors import CgroupError, ConfigError
from fire.i18n import N_, message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.hierarchy import Hierarchy
    from fire.spec.config import CPU, BlockIO, Memory, Resources

V1 = "v1"
V2 = "v2"
# Controller names are v1's; v2 calls blkio "io".
V2_NAME = {"blkio": "io"}
V1_NAME = {"io": "blkio"}
KNOWN = {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "hugetlb", "net_cls",
         "net_prio", "rdma", "devices", "freezer", "perf_event", "misc"}



def _cpu_list(text: str) -> bool:
    """``0-3,5`` (no ``re`` here: compiling patterns costs create milliseconds)."""
    for part in text.split(","):
        lo, dash, hi = part.partition("-")
        if not (lo.isascii() and lo.isdigit()) or (dash and not (hi.isascii()
                                                                  and hi.isdigit())):
            return False
    return True


def _page_size(text: str) -> bool:
    """``2MB``, ``1GB``, ``64KB``: the names of the kernel's hugetlb files."""
    size = text[:-2]
    return (text[-2:] in ("KB", "MB", "GB") and size.isascii() and size.isdigit()
            and not size.startswith("0"))

MISSING_ERROR = "error"  # the file must exist: an error names the field
MISSING_WARN = "warn"  # a warning names the field; nothing else happens
MISSING_SKIP = "skip"  # silently nothing (an implied value)


class Write:
    """One value for one cgroup file.

    ``choices`` lists (file, value) pairs: the first file that exists in the
    controller's directory is written (``blkio.weight``, else ``blkio.bfq.weight``).
    ``sources`` are the resource fields (relative JSON paths) the value comes from:
    ``update`` keeps the writes whose sources it was given.
    """

    __slots__ = ("check_usage", "choices", "controller", "field", "missing", "sources",
                 "version")

    def __init__(self, controller: str, version: str, choices: list[tuple[str, str]],
                 field: str, sources: tuple[str, ...], missing: str = MISSING_ERROR,
                 check_usage: bool = False) -> None:
        self.controller = controller
        self.version = version
        self.choices = choices
        self.field = field
        self.sources = sources
        self.missing = missing
        self.check_usage = check_usage

    @property
    def file(self) -> str:
        return self.choices[0][0]

    @property
    def value(self) -> str:
        return self.choices[0][1]

    def __repr__(self) -> str:
        return f"Write({self.controller}/{self.version}: {self.choices}, {self.field})"


class Translation:
    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.warnings: list[str] = []
        self.devices: dev.DeviceState | None = None
        self.devices_version: str | None = None

    def v2_controllers(self) -> set[str]:
        """v2 controllers that must be enabled above the container's cgroup."""
        return {V2_NAME.get(w.controller, w.controller) for w in self.writes
                if w.version == V2 and w.controller in KNOWN}

    def files(self) -> dict[str, str]:
        """{file: value} of the first choices (for tests and debugging)."""
        return {w.file: w.value for w in self.writes}


def locate(hierarchies: list[Hierarchy]) -> dict[str, str]:
    """Where each controller lives: ``{"memory": "v1", "hugetlb": "v2", ...}``.

    A controller is bound to one hierarchy at a time, so on a hybrid host it is in
    a v1 hierarchy *or* listed in the cgroup2 root's ``cgroup.controllers``.  The
    v2 device filter needs no controller: it exists wherever a cgroup2 tree does.
    """
    where: dict[str, str] = {}
    for h in hierarchies:
        if not h.is_v2:
            for c in h.controllers:
                where[c] = V1
    for h in hierarchies:
        if h.is_v2:
            for c in h.controllers:
                where.setdefault(V1_NAME.get(c, c), V2)
            where.setdefault("devices", V2)
            where.setdefault("", V2)  # core files (cgroup.*) of unified keys
    return where


class _Translator:
    def __init__(self, where: dict[str, str], prefix: str, only: set[str] | None,
                 document: str) -> None:
        self.where = where
        self.prefix = prefix
        self.only = only
        self.document = document
        self.out = Translation()

    def path(self, rel: str) -> str:
        return f"{self.prefix}.{rel}" if self.prefix else f"$.{rel}"

    def bad(self, rel: str, detail: str, **params: object) -> ConfigError:
        """``detail`` is a template (marked with ``N_``), formatted with ``params``."""
        return ConfigError(self.path(rel), detail, self.document, **params)

    def wanted(self, sources: tuple[str, ...]) -> bool:
        return self.only is None or any(s in self.only for s in sources)

    def version(self, controller: str, rel: str) -> str:
        """Where ``controller`` lives, or an error naming the field that needs it."""
        v = self.where.get(controller)
        if v is None:
            if any(ver == V2 for ver in self.where.values()) and not any(
                    ver == V1 for ver in self.where.values()) and controller in (
                    "net_cls", "net_prio"):
                raise CgroupError("{field}: cgroup v2 has no {controller} controller",
                                  field=self.path(rel), controller=controller)
            raise CgroupError("{field}: the {controller} cgroup controller is not "
                              "available on this host", field=self.path(rel),
                              controller=controller)
        return v

    def add(self, controller: str, version: str, rel: str, choices: list[tuple[str, str]],
            sources: tuple[str, ...] | None = None, missing: str = MISSING_ERROR,
            check_usage: bool = False) -> None:
        sources = sources or (rel,)
        if self.wanted(sources):
            self.out.writes.append(Write(controller, version, choices, self.path(rel),
                                         sources, missing, check_usage))

    def warn(self, rel: str, text: str) -> None:
        """``text`` is a template (marked with ``N_``); the warning is rendered now,
        in the user's language, because callers log it as it is."""
        if self.wanted((rel,)):
            self.out.warnings.append(message("{field}: {detail}", field=self.path(rel),
                                             detail=message(text)))

    def unsupported_v2(self, rel: str, what: str) -> None:
        """``what`` is a noun phrase marked with ``N_`` (translated on its own)."""
        if self.wanted((rel,)):
            raise CgroupError("{field}: cgroup v2 has no {what}", field=self.path(rel),
                              what=message(what))


def _set(value: int | None) -> bool:
    """Set, for the fields where 0 means "not set" (runc's reading)."""
    return value is not None and value != 0


def _max(value: int) -> str:
    return "max" if value == -1 else str(value)


# --------------------------------------------------------------------------- memory


def _memory(t: _Translator, m: Memory) -> None:
    limit = m.limit if _set(m.limit) else None
    swap = m.swap if _set(m.swap) else None
    reservation = m.reservation if _set(m.reservation) else None
    if swap is not None and swap != -1:
        if limit is None or limit == -1:
            raise t.bad("memory.swap", N_("a swap limit needs a memory limit (memory.limit)"))
        if swap < limit:
            raise t.bad("memory.swap", N_("memory+swap ({swap}) must be at least the memory "
                                          "limit ({limit})"), swap=swap, limit=limit)
    fields = [name for name, value in (
        ("limit", limit), ("swap", swap), ("reservation", reservation),
        ("kernelTCP", m.kernel_tcp), ("swappiness", m.swappiness),
        ("disableOOMKiller", m.disable_oom_killer), ("useHierarchy", m.use_hierarchy))
        if value is not None]
    if m.kernel is not None:
        t.warn("memory.kernel", N_("kernel memory limits are no longer supported by the "
                                   "kernel; ignored"))
    if not fields:
        return
    v = t.version("memory", "memory." + fields[0])
    check = bool(m.check_before_update)
    if v == V1:
        if limit is not None:
            t.add("memory", v, "memory.limit", [("memory.limit_in_bytes", str(limit))],
                  check_usage=check and limit != -1)
        if swap is not None:
            t.add("memory", v, "memory.swap", [("memory.memsw.limit_in_bytes", str(swap))])
        elif limit == -1:
            t.add("memory", v, "memory.limit", [("memory.memsw.limit_in_bytes", "-1")],
                  missing=MISSING_SKIP)
        if reservation is not None:
            t.add("memory", v, "memory.reservation",
                  [("memory.soft_limit_in_bytes", str(reservation))])
        if m.kernel_tcp is not None:
            t.add("memory", v, "memory.kernelTCP",
                  [("memory.kmem.tcp.limit_in_bytes", str(m.kernel_tcp))],
                  missing=MISSING_WARN)
        if m.swappiness is not None:
            t.add("memory", v, "memory.swappiness", [("memory.swappiness", str(m.swappiness))])
        if m.disable_oom_killer is not None:
            t.add("memory", v, "memory.disableOOMKiller",
                  [("memory.oom_control", "1" if m.disable_oom_killer else "0")])
        if m.use_hierarchy is True:
            t.add("memory", v, "memory.useHierarchy", [("memory.use_hierarchy", "1")],
                  missing=MISSING_SKIP)
    else:
        if limit is not None:
            t.add("memory", v, "memory.limit", [("memory.max", _max(limit))],
                  check_usage=check and limit != -1)
        if swap is not None or limit == -1:
            if swap == -1 or swap is None:
                value = "max"
            else:
                assert limit is not None
                value = str(swap - limit)
            t.add("memory", v, "memory.swap", [("memory.swap.max", value)],
                  sources=("memory.swap", "memory.limit") if swap is not None else
                  ("memory.limit",), missing=MISSING_ERROR if swap is not None else
                  MISSING_SKIP)
        if reservation is not None:
            t.add("memory", v, "memory.reservation", [("memory.low", _max(reservation))])
        if m.kernel_tcp is not None:
            t.warn("memory.kernelTCP", N_("cgroup v2 has no kernel TCP memory limit; ignored"))
        if m.swappiness is not None:
            t.warn("memory.swappiness", N_("cgroup v2 has no per-cgroup swappiness; ignored"))
        if m.disable_oom_killer:
            t.unsupported_v2("memory.disableOOMKiller", N_("way to disable the OOM killer"))
    if m.use_hierarchy is False:
        t.warn("memory.useHierarchy", N_("the kernel always accounts memory hierarchically; "
                                         "ignored"))


# --------------------------------------------------------------------------- cpu


def _cpu(t: _Translator, c: CPU) -> None:
    if c.period is not None and not 1000 <= c.period <= 1_000_000:
        raise t.bad("cpu.period", N_("expected 1000 to 1000000 (microseconds), got {got}"),
                    got=c.period)
    if c.quota is not None and c.quota != 0 and c.quota != -1 and c.quota < 1000:
        raise t.bad("cpu.quota", N_("expected -1 (no limit) or at least 1000 "
                                    "(microseconds), got {got}"), got=c.quota)
    if c.realtime_runtime is not None and c.realtime_runtime < -1:
        raise t.bad("cpu.realtimeRuntime", N_("expected -1 or more, got {got}"),
                    got=c.realtime_runtime)
    if c.idle is not None and c.idle not in (0, 1):
        raise t.bad("cpu.idle", N_("expected 0 or 1, got {got}"), got=c.idle)
    for name, text in (("cpus", c.cpus), ("mems", c.mems)):
        if text and not _cpu_list(text.strip()):
            raise t.bad(f"cpu.{name}", N_("expected a list such as '0-3,5', got {got!r}"),
                        got=text)
    shares = c.shares if _set(c.shares) else None
    quota = c.quota if _set(c.quota) else None
    fields = [name for name, value in (
        ("shares", shares), ("quota", quota), ("period", c.period), ("burst", c.burst),
        ("realtimeRuntime", c.realtime_runtime), ("realtimePeriod", c.realtime_period),
        ("idle", c.idle)) if value is not None]
    if fields:
        v = t.version("cpu", "cpu." + fields[0])
        if v == V1:
            if shares is not None:
                t.add("cpu", v, "cpu.shares", [("cpu.shares", str(shares))])
            if c.period is not None:
                t.add("cpu", v, "cpu.period", [("cpu.cfs_period_us", str(c.period))])
            if quota is not None:
                t.add("cpu", v, "cpu.quota", [("cpu.cfs_quota_us", str(quota))])
            if c.burst is not None:
                t.add("cpu", v, "cpu.burst", [("cpu.cfs_burst_us", str(c.burst))])
            if c.realtime_period is not None:
                t.add("cpu", v, "cpu.realtimePeriod",
                      [("cpu.rt_period_us", str(c.realtime_period))])
            if c.realtime_runtime is not None:
                t.add("cpu", v, "cpu.realtimeRuntime",
                      [("cpu.rt_runtime_us", str(c.realtime_runtime))])
            if c.idle is not None:
                t.add("cpu", v, "cpu.idle", [("cpu.idle", str(c.idle))])
        else:
            if shares is not None:
                clamped = min(max(shares, 2), 262144)
                weight = 1 + (clamped - 2) * 9999 // 262142
                t.add("cpu", v, "cpu.shares", [("cpu.weight", str(weight))])
            if quota is not None or c.period is not None:
                q = "max" if quota is None or quota == -1 else str(quota)
                period = c.period if c.period is not None else 100000
                t.add("cpu", v, "cpu.quota" if quota is not None else "cpu.period",
                      [("cpu.max", f"{q} {period}")], sources=("cpu.quota", "cpu.period"))
            if c.burst is not None:
                t.add("cpu", v, "cpu.burst", [("cpu.max.burst", str(c.burst))])
            if c.realtime_period is not None:
                t.unsupported_v2("cpu.realtimePeriod", N_("realtime cpu scheduling limits"))
            if c.realtime_runtime is not None:
                t.unsupported_v2("cpu.realtimeRuntime", N_("realtime cpu scheduling limits"))
            if c.idle is not None:
                t.add("cpu", v, "cpu.idle", [("cpu.idle", str(c.idle))])
    for name, text in (("cpus", c.cpus), ("mems", c.mems)):
        if text:
            v = t.version("cpuset", f"cpu.{name}")
            t.add("cpuset", v, f"cpu.{name}", [(f"cpuset.{name}", text.strip())])


# --------------------------------------------------------------------------- block io


def _io_weight(weight: int) -> int:
    """blkio's [10, 1000] onto io.weight's [1, 10000] (crun)."""
    return 1 + (weight - 10) * 9999 // 990


_THROTTLES = (
    ("throttleReadBpsDevice", "throttle_read_bps_device", "blkio.throttle.read_bps_device",
     "rbps"),
    ("throttleWriteBpsDevice", "throttle_write_bps_device", "blkio.throttle.write_bps_device",
     "wbps"),
    ("throttleReadIOPSDevice", "throttle_read_iops_device", "blkio.throttle.read_iops_device",
     "riops"),
    ("throttleWriteIOPSDevice", "throttle_write_iops_device",
     "blkio.throttle.write_iops_device", "wiops"),
)


def _check_weight(t: _Translator, rel: str, weight: int | None, zero_ok: bool) -> None:
    if weight is None or (weight == 0 and zero_ok):
        return
    if not 10 <= weight <= 1000:
        raise t.bad(rel, N_("expected 10 to 1000, got {got}"), got=weight)


def _blkio(t: _Translator, b: BlockIO) -> None:
    _check_weight(t, "blockIO.weight", b.weight, True)
    _check_weight(t, "blockIO.leafWeight", b.leaf_weight, True)
    for i, wd in enumerate(b.weight_device or []):
        _check_weight(t, f"blockIO.weightDevice[{i}].weight", wd.weight, True)
        _check_weight(t, f"blockIO.weightDevice[{i}].leafWeight", wd.leaf_weight, True)
    entries: list[tuple[str, int, int]] = []  # (rel path, major, minor) of every device
    for i, wd in enumerate(b.weight_device or []):
        entries.append((f"blockIO.weightDevice[{i}]", wd.major, wd.minor))
    for name, attr, _, _ in _THROTTLES:
        for i, td in enumerate(getattr(b, attr) or []):
            entries.append((f"blockIO.{name}[{i}]", td.major, td.minor))
    for rel, major, minor in entries:
        if major < 0 or minor < 0:
            raise t.bad(rel, N_("expected device numbers, got {major}:{minor}"), major=major,
                        minor=minor)
    if not (_set(b.weight) or _set(b.leaf_weight) or entries):
        return
    first = ("blockIO.weight" if _set(b.weight) else "blockIO.leafWeight"
             if _set(b.leaf_weight) else entries[0][0])
    v = t.version("blkio", first)
    if v == V1:
        if _set(b.weight):
            t.add("blkio", v, "blockIO.weight", [("blkio.weight", str(b.weight)),
                                                 ("blkio.bfq.weight", str(b.weight))])
        if _set(b.leaf_weight):
            t.add("blkio", v, "blockIO.leafWeight", [("blkio.leaf_weight", str(b.leaf_weight))])
        for i, wd in enumerate(b.weight_device or []):
            dev_ = f"{wd.major}:{wd.minor}"
            if wd.weight is not None:
                t.add("blkio", v, f"blockIO.weightDevice[{i}].weight",
                      [("blkio.weight_device", f"{dev_} {wd.weight}"),
                       ("blkio.bfq.weight_device", f"{dev_} {wd.weight}")],
                      sources=("blockIO.weightDevice",))
            if wd.leaf_weight is not None:
                t.add("blkio", v, f"blockIO.weightDevice[{i}].leafWeight",
                      [("blkio.leaf_weight_device", f"{dev_} {wd.leaf_weight}")],
                      sources=("blockIO.weightDevice",))
        for name, attr, file, _ in _THROTTLES:
            for i, td in enumerate(getattr(b, attr) or []):
                t.add("blkio", v, f"blockIO.{name}[{i}]",
                      [(file, f"{td.major}:{td.minor} {td.rate}")], sources=(f"blockIO.{name}",))
        return
    if _set(b.weight):
        assert b.weight is not None
        t.add("blkio", v, "blockIO.weight", [("io.bfq.weight", f"default {b.weight}"),
                                             ("io.weight", f"default {_io_weight(b.weight)}")])
    if _set(b.leaf_weight):
        t.unsupported_v2("blockIO.leafWeight", N_("leaf weights"))
    for i, wd in enumerate(b.weight_device or []):
        dev_ = f"{wd.major}:{wd.minor}"
        if wd.weight is not None:
            t.add("blkio", v, f"blockIO.weightDevice[{i}].weight",
                  [("io.bfq.weight", f"{dev_} {wd.weight}"),
                   ("io.weight", f"{dev_} {_io_weight(wd.weight) if wd.weight else 0}")],
                  sources=("blockIO.weightDevice",))
        if wd.leaf_weight is not None:
            t.unsupported_v2(f"blockIO.weightDevice[{i}].leafWeight", N_("leaf weights"))
    lines: dict[tuple[int, int], list[str]] = {}
    first_rel: dict[tuple[int, int], str] = {}
    for name, attr, _, key in _THROTTLES:
        for i, td in enumerate(getattr(b, attr) or []):
            d = (td.major, td.minor)
            lines.setdefault(d, []).append(f"{key}={td.rate or 'max'}")
            first_rel.setdefault(d, f"blockIO.{name}[{i}]")
    for d, keys in lines.items():
        t.add("blkio", v, first_rel[d], [("io.max", f"{d[0]}:{d[1]} " + " ".join(keys))],
              sources=tuple(f"blockIO.{name}" for name, _, _, _ in _THROTTLES))


# --------------------------------------------------------------------------- the rest


def _hugetlb(t: _Translator, res: Resources) -> None:
    for i, h in enumerate(res.hugepage_limits or []):
        rel = f"hugepageLimits[{i}]"
        if not _page_size(h.page_size):
            raise t.bad(f"{rel}.pageSize", N_("expected a size such as '2MB' or '1GB', "
                                              "got {got!r}"), got=h.page_size)
        v = t.version("hugetlb", rel)
        file = (f"hugetlb.{h.page_size}.limit_in_bytes" if v == V1
                else f"hugetlb.{h.page_size}.max")
        t.add("hugetlb", v, rel, [(file, str(h.limit))], sources=("hugepageLimits",))


def _network(t: _Translator, res: Resources) -> None:
    n = res.network
    if n is None:
        return
    if n.class_id is not None:
        v = t.version("net_cls", "network.classID")
        if v == V2:
            t.unsupported_v2("network.classID", N_("net_cls controller"))
        t.add("net_cls", v, "network.classID", [("net_cls.classid", str(n.class_id))])
    for i, p in enumerate(n.priorities or []):
        rel = f"network.priorities[{i}]"
        if not p.name or any(ch.isspace() for ch in p.name):
            raise t.bad(f"{rel}.name", N_("expected an interface name, got {got!r}"),
                        got=p.name)
        v = t.version("net_prio", rel)
        if v == V2:
            t.unsupported_v2(rel, N_("net_prio controller"))
        t.add("net_prio", v, rel, [("net_prio.ifpriomap", f"{p.name} {p.priority}")],
              sources=("network.priorities",))


def _rdma(t: _Translator, res: Resources) -> None:
    for name, limit in (res.rdma or {}).items():
        rel = f"rdma[{name!r}]"
        if not name or any(ch.isspace() for ch in name):
            raise t.bad(rel, N_("expected an RDMA device name, got {got!r}"), got=name)
        keys = []
        if limit.hca_handles is not None:
            keys.append(f"hca_handle={limit.hca_handles}")
        if limit.hca_objects is not None:
            keys.append(f"hca_object={limit.hca_objects}")
        if not keys:
            continue
        v = t.version("rdma", rel)
        t.add("rdma", v, rel, [("rdma.max", f"{name} " + " ".join(keys))], sources=("rdma",))


def _unified(t: _Translator, res: Resources) -> None:
    for key, value in (res.unified or {}).items():
        rel = f"unified[{key!r}]"
        if not key or "/" in key or ".." in key or key.startswith("."):
            raise t.bad(rel, N_("expected a cgroup file name (no '/' or '..')"))
        if not any(ver == V2 for ver in t.where.values()):
            raise CgroupError("{field}: this host has no cgroup v2 tree", field=t.path(rel))
        prefix = key.split(".", 1)[0]
        controller = V1_NAME.get(prefix, prefix)
        if controller in KNOWN:
            if t.where.get(controller) != V2:
                raise CgroupError("{field}: the {controller} controller is not on this "
                                  "host's cgroup v2 tree", field=t.path(rel),
                                  controller=prefix)
        else:
            controller = ""
        t.add(controller, V2, rel, [(key, value)], sources=("unified",))


def translate(res: Resources | None, where: dict[str, str], prefix: str = "$.linux.resources",
              only: set[str] | None = None, document: str = "config.json") -> Translation:
    """The writes (and device rules) that apply ``res`` on a host laid out as ``where``.

    ``only``: the resource fields an ``update`` was given (relative JSON paths such
    as ``memory.limit``); other fields are still checked, but not written.
    Raises ``ConfigError`` (a value is invalid) or ``CgroupError`` (this host cannot
    apply a field), both naming the field.
    """
    t = _Translator(where, prefix, only, document)
    rules = dev.from_spec(res.devices if res is not None else None, t.path("devices"))
    if t.wanted(("devices",)):
        state = dev.emulate(rules, t.path("devices"))
        version = where.get("devices")
        if version is None:
            if res is not None and res.devices:
                raise CgroupError("{field}: the devices cgroup controller is not available "
                                  "on this host", field=t.path("devices"))
        else:
            t.out.devices = state
            t.out.devices_version = version
    if res is None:
        return t.out
    if res.memory is not None:
        _memory(t, res.memory)
    if res.cpu is not None:
        _cpu(t, res.cpu)
    if res.pids is not None and res.pids.limit is not None:
        v = t.version("pids", "pids.limit")
        t.add("pids", v, "pids.limit", [("pids.max", _max(res.pids.limit))])
    if res.block_io is not None:
        _blkio(t, res.block_io)
    _hugetlb(t, res)
    _network(t, res)
    _rdma(t, res)
    _unified(t, res)
    return t.out


# The fields whose 0 (or "") runc 1.1.5's ``update`` reads as "leave it as it is":
# it starts from a document of zeroes, overlays what it was given, and its cgroup
# setters skip a 0 (cpu.go, memory.go, pids.go, blkio.go, cpuset.go).  Docker
# relies on it: ``docker update --memory 64m`` sends period, quota, shares,
# reservation and blkio weight as 0.  Newer runc (runtime-spec 1.3's pointer) reads
# ``pids.limit 0`` as a limit; 1.1.5, our reference, and Docker 20.10 never send it
# for one (``docker update --pids-limit 0`` sends no pids at all).
UNSET_WHEN_ZERO = {
    "memory": ("limit", "reservation", "swap", "kernel", "kernelTCP"),
    "cpu": ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems"),
    "pids": ("limit",),
    "blockIO": ("weight",),
}


def _zero(value: object) -> bool:
    """0 or "" (not False, not 0.0: those are the decoder's to refuse)."""
    return value == "" or (type(value) is int and value == 0)


def drop_unset(update: dict[str, object]) -> dict[str, object]:
    """``update`` without the zeroes that mean "not set" (``UNSET_WHEN_ZERO``), and
    without the sections that leaves empty.  Anything else, valid or not, stays for
    the decoder and ``translate`` to check."""
    out: dict[str, object] = {}
    for key, value in update.items():
        fields = UNSET_WHEN_ZERO.get(key)
        if fields and isinstance(value, dict):
            value = {k: v for k, v in value.items() if not (k in fields and _zero(v))}
            if not value:
                continue
        out[key] = value
    return out


def given_fields(update: dict[str, object]) -> set[str]:
    """The relative JSON paths an update document sets (``{"memory": {"limit": 1}}`` →
    ``{"memory.limit"}``); lists and maps count as one field."""
    out: set[str] = set()
    for key, value in update.items():
        if key in ("unified", "rdma", "hugepageLimits", "devices"):
            out.add(key)
        elif isinstance(value, dict):
            out.update(f"{key}.{sub}" for sub in value)
        else:
            out.add(key)
    return out
