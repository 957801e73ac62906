"""The OCI runtime-spec 1.3 `config.json`, as msgspec Structs.

Why msgspec: one declaration gives decoding, type checks and range checks, and its
errors carry the JSON path of the offending value (``$.process.user.uid``), which is
exactly what a user needs to fix a bundle.  The rules we follow here:

* Unknown properties are ignored, never rejected: runtime-spec `config.md` says a
  runtime MUST ignore properties it does not know (no ``forbid_unknown_fields``).
* Field names are snake_case; ``rename="camel"`` maps them, and the OCI acronyms
  that camel-casing gets wrong (``containerID``, ``hostID``, ``kernelTCP``…) are named
  explicitly.
* Integer widths follow the Go types of the reference implementation (uint32 ids,
  int64 limits, uint64 counters), so an out-of-range value is refused here, with its
  path, long before it could reach the kernel.
* Only checks about a single value live here (types, ranges, enums).  Rules that
  relate several fields (a user namespace needs id maps, no namespace twice…) live in
  ``fire.spec.validate``, which is pure and reports paths in the same form.

Importing this module costs msgspec (~20 ms here); the engine path commands that
only read state (`state`, `kill`, `delete`, `list`) never import it.
"""

# No ``from __future__ import annotations`` here, on purpose: msgspec reads every
# field's type when the decoder is built, and string annotations would each be
# compiled and evaluated then (≈4 ms of every ``create``); real annotations cost
# nothing more at class creation.  So classes must be defined before they are used.
from typing import Annotated, Literal

from fire.spec.msgspec_import import Meta, field, msgspec

U8 = Annotated[int, Meta(ge=0, le=255)]
U16 = Annotated[int, Meta(ge=0, le=0xFFFF)]
U32 = Annotated[int, Meta(ge=0, le=0xFFFF_FFFF)]
I32 = Annotated[int, Meta(ge=-(2**31), le=2**31 - 1)]
I64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
# msgspec cannot express le=2**64-1; classes with U64 fields check it in __post_init__
# (``_check_u64``), which msgspec reports with the field's JSON path like any other error.
U64 = Annotated[int, Meta(ge=0)]
U64_MAX = 2**64 - 1
# A memory-like limit: a byte count, or -1 for "unlimited".
Limit = Annotated[int, Meta(ge=-1, le=2**63 - 1)]
AbsPath = str

NamespaceType = Literal["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]


class Base(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True, kw_only=True):
    """Common shape of every config object."""

    def _check_u64(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if value is not None and value > U64_MAX:
                raise ValueError(f"{name}: expected int <= {U64_MAX}, got {value}")


# --------------------------------------------------------------------------- process


class ConsoleSize(Base, kw_only=True, frozen=True):
    height: U32
    width: U32


class User(Base, kw_only=True, frozen=True):
    uid: U32 = 0
    gid: U32 = 0
    umask: U32 | None = None
    additional_gids: list[U32] | None = None
    username: str | None = None


class Capabilities(Base, kw_only=True, frozen=True):
    bounding: list[str] | None = None
    effective: list[str] | None = None
    inheritable: list[str] | None = None
    permitted: list[str] | None = None
    ambient: list[str] | None = None


class Rlimit(Base, kw_only=True, frozen=True):
    type: str
    soft: U64
    hard: U64

    def __post_init__(self) -> None:
        self._check_u64('soft', 'hard')


class Scheduler(Base, kw_only=True, frozen=True):
    policy: Literal[
        "SCHED_OTHER",
        "SCHED_FIFO",
        "SCHED_RR",
        "SCHED_BATCH",
        "SCHED_ISO",
        "SCHED_IDLE",
        "SCHED_DEADLINE",
    ]
    nice: I32 | None = None
    priority: I32 | None = None
    flags: list[str] | None = None
    runtime: U64 | None = None
    deadline: U64 | None = None
    period: U64 | None = None

    def __post_init__(self) -> None:
        self._check_u64('runtime', 'deadline', 'period')


class IOPriority(Base, kw_only=True, frozen=True):
    class_: Literal["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"] = field(
        name="class"
    )
    priority: Annotated[int, Meta(ge=0, le=7)] = 0


class ExecCPUAffinity(Base, kw_only=True, frozen=True):
    initial: str | None = None
    final: str | None = None


class Process(Base, kw_only=True, frozen=True):
    args: list[str] | None = None
    cwd: str = "/"
    terminal: bool = False
    console_size: ConsoleSize | None = None
    env: list[str] | None = None
    user: User = User()
    command_line: str | None = None
    rlimits: list[Rlimit] | None = None
    apparmor_profile: str | None = None
    capabilities: Capabilities | None = None
    no_new_privileges: bool = False
    oom_score_adj: Annotated[int, Meta(ge=-1000, le=1000)] | None = None
    scheduler: Scheduler | None = None
    selinux_label: str | None = None
    io_priority: IOPriority | None = None
    exec_cpu_affinity: ExecCPUAffinity | None = field(default=None, name="execCPUAffinity")


# --------------------------------------------------------------------------- root, mounts


class Root(Base, kw_only=True, frozen=True):
    path: str
    readonly: bool = False


class IDMapping(Base, kw_only=True, frozen=True):
    container_id: U32 = field(name="containerID")
    host_id: U32 = field(name="hostID")
    size: Annotated[int, Meta(ge=1, le=0xFFFF_FFFF)]


class Mount(Base, kw_only=True, frozen=True):
    destination: str
    type: str | None = None
    source: str | None = None
    options: list[str] | None = None
    uid_mappings: list[IDMapping] | None = None
    gid_mappings: list[IDMapping] | None = None


# --------------------------------------------------------------------------- hooks


class Hook(Base, kw_only=True, frozen=True):
    path: str
    args: list[str] | None = None
    env: list[str] | None = None
    timeout: int | None = None


class Hooks(Base, kw_only=True, frozen=True):
    prestart: list[Hook] | None = None
    create_runtime: list[Hook] | None = None
    create_container: list[Hook] | None = None
    start_container: list[Hook] | None = None
    poststart: list[Hook] | None = None
    poststop: list[Hook] | None = None


# --------------------------------------------------------------------------- linux


class Namespace(Base, kw_only=True, frozen=True):
    type: NamespaceType
    path: str | None = None


class Device(Base, kw_only=True, frozen=True):
    type: Literal["c", "b", "u", "p"]
    path: str
    major: I64 | None = None
    minor: I64 | None = None
    file_mode: U32 | None = None
    uid: U32 | None = None
    gid: U32 | None = None


class DeviceRule(Base, kw_only=True, frozen=True):
    allow: bool
    type: Literal["a", "c", "b"] | None = None
    major: I64 | None = None
    minor: I64 | None = None
    access: str | None = None


class Memory(Base, kw_only=True, frozen=True):
    limit: Limit | None = None
    reservation: Limit | None = None
    swap: Limit | None = None
    kernel: Limit | None = None
    kernel_tcp: Limit | None = field(default=None, name="kernelTCP")
    swappiness: Annotated[int, Meta(ge=0, le=100)] | None = None
    disable_oom_killer: bool | None = field(default=None, name="disableOOMKiller")
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None


class CPU(Base, kw_only=True, frozen=True):
    shares: U64 | None = None
    # -1 (or any negative) quota means "no limit", as cgroup v1's cpu.cfs_quota_us.
    quota: I64 | None = None
    burst: U64 | None = None
    period: Annotated[int, Meta(ge=1)] | None = None
    realtime_runtime: I64 | None = None
    realtime_period: U64 | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: I64 | None = None

    def __post_init__(self) -> None:
        self._check_u64('shares', 'burst', 'period', 'realtime_period')


class Pids(Base, kw_only=True, frozen=True):
    # runtime-spec 1.3: -1 (or unset) is unlimited, 0 is a real limit.
    limit: Limit | None = None


class WeightDevice(Base, kw_only=True, frozen=True):
    major: I64
    minor: I64
    weight: U16 | None = None
    leaf_weight: U16 | None = None


class ThrottleDevice(Base, kw_only=True, frozen=True):
    major: I64
    minor: I64
    rate: U64

    def __post_init__(self) -> None:
        self._check_u64('rate')


class BlockIO(Base, kw_only=True, frozen=True):
    weight: U16 | None = None
    leaf_weight: U16 | None = None
    weight_device: list[WeightDevice] | None = None
    throttle_read_bps_device: list[ThrottleDevice] | None = None
    throttle_write_bps_device: list[ThrottleDevice] | None = None
    throttle_read_iops_device: list[ThrottleDevice] | None = field(
        default=None, name="throttleReadIOPSDevice"
    )
    throttle_write_iops_device: list[ThrottleDevice] | None = field(
        default=None, name="throttleWriteIOPSDevice"
    )


class HugepageLimit(Base, kw_only=True, frozen=True):
    page_size: str
    limit: U64

    def __post_init__(self) -> None:
        self._check_u64('limit')


class InterfacePriority(Base, kw_only=True, frozen=True):
    name: str
    priority: U32


class Network(Base, kw_only=True, frozen=True):
    class_id: U32 | None = field(default=None, name="classID")
    priorities: list[InterfacePriority] | None = None


class Rdma(Base, kw_only=True, frozen=True):
    hca_handles: U32 | None = None
    hca_objects: U32 | None = None


class Resources(Base, kw_only=True, frozen=True):
    devices: list[DeviceRule] | None = None
    memory: Memory | None = None
    cpu: CPU | None = None
    pids: Pids | None = None
    block_io: BlockIO | None = field(default=None, name="blockIO")
    hugepage_limits: list[HugepageLimit] | None = None
    network: Network | None = None
    rdma: dict[str, Rdma] | None = None
    unified: dict[str, str] | None = None


class SeccompArg(Base, kw_only=True, frozen=True):
    index: Annotated[int, Meta(ge=0, le=5)]
    value: U64
    value_two: U64 = 0
    op: Literal[
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ]

    def __post_init__(self) -> None:
        self._check_u64('value', 'value_two')


SeccompAction = Literal[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
]


class SeccompSyscall(Base, kw_only=True, frozen=True):
    names: list[str]
    action: SeccompAction
    errno_ret: U32 | None = None
    args: list[SeccompArg] | None = None


class Seccomp(Base, kw_only=True, frozen=True):
    default_action: SeccompAction
    default_errno_ret: U32 | None = None
    architectures: list[str] | None = None
    flags: list[str] | None = None
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: list[SeccompSyscall] | None = None


class Personality(Base, kw_only=True, frozen=True):
    domain: Literal["LINUX", "LINUX32"]
    flags: list[str] | None = None


class IntelRdt(Base, kw_only=True, frozen=True):
    clos_id: str | None = field(default=None, name="closID")
    l3_cache_schema: str | None = None
    mem_bw_schema: str | None = None
    schemata: list[str] | None = None
    enable_monitoring: bool | None = None
    enable_cmt: bool | None = field(default=None, name="enableCMT")
    enable_mbm: bool | None = field(default=None, name="enableMBM")


class TimeOffset(Base, kw_only=True, frozen=True):
    secs: I64 = 0
    nanosecs: U32 = 0


class MemoryPolicy(Base, kw_only=True, frozen=True):
    mode: Literal[
        "MPOL_DEFAULT",
        "MPOL_BIND",
        "MPOL_INTERLEAVE",
        "MPOL_WEIGHTED_INTERLEAVE",
        "MPOL_PREFERRED",
        "MPOL_PREFERRED_MANY",
        "MPOL_LOCAL",
    ]
    nodes: str | None = None
    flags: list[str] | None = None


class NetDevice(Base, kw_only=True, frozen=True):
    name: str | None = None


class Linux(Base, kw_only=True, frozen=True):
    namespaces: list[Namespace] | None = None
    uid_mappings: list[IDMapping] | None = None
    gid_mappings: list[IDMapping] | None = None
    time_offsets: dict[str, TimeOffset] | None = None
    devices: list[Device] | None = None
    cgroups_path: str | None = None
    resources: Resources | None = None
    rootfs_propagation: str | None = None
    seccomp: Seccomp | None = None
    sysctl: dict[str, str] | None = None
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None
    mount_label: str | None = None
    personality: Personality | None = None
    intel_rdt: IntelRdt | None = None
    memory_policy: MemoryPolicy | None = None
    net_devices: dict[str, NetDevice] | None = None


# --------------------------------------------------------------------------- the document


class Spec(Base, kw_only=True, frozen=True):
    oci_version: str
    root: Root | None = None
    process: Process | None = None
    hostname: str | None = None
    domainname: str | None = None
    mounts: list[Mount] | None = None
    hooks: Hooks | None = None
    annotations: dict[str, str] | None = None
    linux: Linux | None = None


def namespace_types(spec: Spec) -> list[str]:
    """The namespace types the config lists, in order."""
    linux = spec.linux
    return [ns.type for ns in (linux.namespaces or [])] if linux else []
