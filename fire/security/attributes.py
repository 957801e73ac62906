"""The process attributes that are plain numbers for the kernel: scheduler, I/O
priority, NUMA memory policy, CPU lists, personality.

Pure: each function turns the config's names into the numbers the init passes to
one system call, and refuses what the kernel would refuse (or silently misread)
with a ``ConfigError`` naming the field, at ``create``, before anything exists.
"""

from __future__ import annotations

from fire.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.spec.config import IOPriority, MemoryPolicy, Personality, Scheduler

# ------------------------------------------------------------------ scheduler
SCHED_POLICIES = {
    "SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
    "SCHED_IDLE": 5, "SCHED_DEADLINE": 6,
}
SCHED_FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}
_REALTIME = ("SCHED_FIFO", "SCHED_RR")


def scheduler(sched: Scheduler, where: str = "$.process.scheduler"
              ) -> tuple[int, int, int, int, int, int, int]:
    """(policy, flags, nice, priority, runtime, deadline, period) for sched_setattr."""
    policy = sched.policy
    if policy == "SCHED_ISO":
        raise ConfigError(f"{where}.policy", "SCHED_ISO is not implemented by Linux")
    nice = sched.nice or 0
    if not -20 <= nice <= 19:
        raise ConfigError(f"{where}.nice", "must be between -20 and 19, got {value}", value=nice)
    priority = sched.priority or 0
    if priority and policy not in _REALTIME:
        raise ConfigError(f"{where}.priority",
                          "only SCHED_FIFO and SCHED_RR take a priority, not {policy}",
                          policy=policy)
    if policy in _REALTIME and not 1 <= priority <= 99:
        raise ConfigError(f"{where}.priority",
                          "{policy} needs a priority between 1 and 99, got {value}",
                          policy=policy, value=priority)
    runtime, deadline, period = sched.runtime or 0, sched.deadline or 0, sched.period or 0
    if policy != "SCHED_DEADLINE" and (runtime or deadline or period):
        raise ConfigError(where, "runtime, deadline and period are for SCHED_DEADLINE only")
    if policy == "SCHED_DEADLINE":
        if not runtime or not deadline:
            raise ConfigError(where, "SCHED_DEADLINE needs a runtime and a deadline")
        # period 0: the kernel takes the deadline as the period.
        if not runtime <= deadline <= (period or deadline):
            raise ConfigError(where, "SCHED_DEADLINE needs runtime <= deadline <= period")
    flags = 0
    for i, name in enumerate(sched.flags or []):
        bit = SCHED_FLAGS.get(name)
        if bit is None:
            raise ConfigError(f"{where}.flags[{i}]", "unknown scheduler flag {flag!r}", flag=name)
        flags |= bit
    return SCHED_POLICIES[policy], flags, nice, priority, runtime, deadline, period


# ------------------------------------------------------------------ I/O priority
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_CLASS_SHIFT = 13


def io_priority(prio: IOPriority) -> int:
    """The ``ioprio`` value: class in the top bits, level 0 (highest) to 7."""
    return IOPRIO_CLASSES[prio.class_] << IOPRIO_CLASS_SHIFT | prio.priority


# ------------------------------------------------------------------ CPU and node lists
def id_list(text: str, where: str, limit: int = 8192) -> list[int]:
    """``"0-3,7"`` → ``[0, 1, 2, 3, 7]`` (the kernel's list format)."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise ConfigError(where, "{text!r} is not a list like '0-3,7'", text=text)
        first, last = int(lo), int(hi) if dash else int(lo)
        if first > last or last >= limit:
            raise ConfigError(where, "{part!r} is not a valid range", part=part)
        out.update(range(first, last + 1))
    return sorted(out)


# ------------------------------------------------------------------ memory policy
MPOL_MODES = {
    "MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6,
}
MPOL_FLAGS = {
    "MPOL_F_STATIC_NODES": 1 << 15, "MPOL_F_RELATIVE_NODES": 1 << 14,
    "MPOL_F_NUMA_BALANCING": 1 << 13,
}
_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
_OPTIONAL_NODES = ("MPOL_PREFERRED",)  # empty: "local allocation"


def memory_policy(policy: MemoryPolicy, where: str = "$.linux.memoryPolicy"
                  ) -> tuple[int, list[int]]:
    """(mode | flags, nodes) for set_mempolicy."""
    mode = policy.mode
    nodes = id_list(policy.nodes or "", f"{where}.nodes", limit=1024)
    if mode in _NO_NODES and nodes:
        raise ConfigError(f"{where}.nodes", "{mode} takes no nodes", mode=mode)
    if mode not in _NO_NODES + _OPTIONAL_NODES and not nodes:
        raise ConfigError(f"{where}.nodes", "{mode} needs at least one node", mode=mode)
    flags = 0
    for i, name in enumerate(policy.flags or []):
        bit = MPOL_FLAGS.get(name)
        if bit is None:
            raise ConfigError(f"{where}.flags[{i}]", "unknown memory policy flag {flag!r}",
                              flag=name)
        flags |= bit
    both = MPOL_FLAGS["MPOL_F_STATIC_NODES"] | MPOL_FLAGS["MPOL_F_RELATIVE_NODES"]
    if flags & both == both:
        raise ConfigError(f"{where}.flags",
                          "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other")
    if flags & both and mode in _NO_NODES:
        raise ConfigError(f"{where}.flags", "{mode} takes no node flags", mode=mode)
    if flags & MPOL_FLAGS["MPOL_F_NUMA_BALANCING"] and mode not in ("MPOL_BIND",
                                                                     "MPOL_PREFERRED_MANY"):
        raise ConfigError(f"{where}.flags",
                          "MPOL_F_NUMA_BALANCING goes with MPOL_BIND or MPOL_PREFERRED_MANY")
    return MPOL_MODES[mode] | flags, nodes


# ------------------------------------------------------------------ personality
PER_LINUX = 0x0000
PER_LINUX32 = 0x0008


def personality(pers: Personality, where: str = "$.linux.personality") -> int:
    """The persona for personality(2).  runtime-spec 1.3 defines no flags: one
    given is refused rather than ignored (several, like ADDR_NO_RANDOMIZE, would
    weaken the container)."""
    if pers.flags:
        raise ConfigError(f"{where}.flags",
                          "unsupported personality flag {flag!r} (runtime-spec defines none)",
                          flag=pers.flags[0])
    return PER_LINUX32 if pers.domain == "LINUX32" else PER_LINUX
