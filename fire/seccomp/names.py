"""The names ``linux.seccomp`` uses, and the numbers the kernel wants.

Pure tables (no libseccomp): shared by the compiler, ``fire features`` and the
tests.  Values are the kernel's (``SECCOMP_RET_*``, ``AUDIT_ARCH_*``,
``SECCOMP_FILTER_FLAG_*``) and libseccomp's comparison operators.
"""

from __future__ import annotations

# SECCOMP_RET_* action values; ERRNO and TRACE carry 16 bits of data.
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
RET_ACTION_FULL = 0xFFFF0000
RET_DATA = 0x0000FFFF

ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": RET_KILL_PROCESS,
    "SCMP_ACT_KILL_THREAD": RET_KILL_THREAD,
    "SCMP_ACT_TRAP": RET_TRAP,
    "SCMP_ACT_ERRNO": RET_ERRNO,
    "SCMP_ACT_TRACE": RET_TRACE,
    "SCMP_ACT_ALLOW": RET_ALLOW,
    "SCMP_ACT_LOG": RET_LOG,
    "SCMP_ACT_NOTIFY": RET_USER_NOTIF,
}
# Actions whose return value carries data: errnoRet (default EPERM).
WITH_ERRNO = {"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"}

# libseccomp's enum scmp_compare.
OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

_LE = 0x40000000
_64 = 0x80000000
_N32 = 0x20000000
# AUDIT_ARCH_* values (= libseccomp's SCMP_ARCH_* tokens): the architectures of
# runtime-spec 1.3 / libseccomp 2.5.
ARCHES: dict[str, int] = {
    "SCMP_ARCH_X86": 3 | _LE,
    "SCMP_ARCH_X86_64": 62 | _64 | _LE,
    "SCMP_ARCH_X32": 62 | _LE,
    "SCMP_ARCH_ARM": 40 | _LE,
    "SCMP_ARCH_AARCH64": 183 | _64 | _LE,
    "SCMP_ARCH_MIPS": 8,
    "SCMP_ARCH_MIPS64": 8 | _64,
    "SCMP_ARCH_MIPS64N32": 8 | _64 | _N32,
    "SCMP_ARCH_MIPSEL": 8 | _LE,
    "SCMP_ARCH_MIPSEL64": 8 | _64 | _LE,
    "SCMP_ARCH_MIPSEL64N32": 8 | _64 | _LE | _N32,
    "SCMP_ARCH_PPC": 20,
    "SCMP_ARCH_PPC64": 21 | _64,
    "SCMP_ARCH_PPC64LE": 21 | _64 | _LE,
    "SCMP_ARCH_S390": 22,
    "SCMP_ARCH_S390X": 22 | _64,
    "SCMP_ARCH_PARISC": 15,
    "SCMP_ARCH_PARISC64": 15 | _64,
    "SCMP_ARCH_RISCV64": 243 | _64 | _LE,
}

# seccomp(2) filter flags a config may ask for.  TSYNC is accepted and not passed:
# the init is single-threaded, there is no other thread to synchronise.
FLAG_TSYNC = 0x1
FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": 0x2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 0x4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 0x20,
}
FLAG_NEW_LISTENER = 0x8
FLAG_WAIT_KILLABLE_RECV = 0x20


def action_value(name: str, errno_ret: int | None) -> int:
    """The filter return value of action ``name`` (errnoRet folded in)."""
    base = ACTIONS[name]
    if name in WITH_ERRNO:
        return base | ((1 if errno_ret is None else errno_ret) & RET_DATA)  # EPERM = 1
    return base


def action_name(value: int) -> str:
    """A readable name for a filter return value ("SCMP_ACT_ERRNO(13)")."""
    full = value & RET_ACTION_FULL
    for name, base in ACTIONS.items():
        if name in ("SCMP_ACT_KILL",):
            continue
        if base == full:
            if name in WITH_ERRNO:
                return f"{name}({value & RET_DATA})"
            return name
    return f"0x{value:08x}"
