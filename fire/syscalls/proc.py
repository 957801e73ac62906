"""Process attributes: prctl, capabilities, host and domain names, personality,
I/O priority, memory policy, keyrings, fd ranges, seccomp."""

from __future__ import annotations

import ctypes
import errno

from fire.syscalls._libc import KernelError, check, fsencode, libc, syscall

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                       ctypes.c_ulong]
libc.prctl.restype = ctypes.c_int


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0,
          *, what: str = "prctl") -> int:
    return check(libc.prctl(option, arg2, arg3, arg4, arg5), what)


# ----------------------------------------------------------------- capabilities
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


libc.capset.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
libc.capset.restype = ctypes.c_int
libc.capget.argtypes = [ctypes.POINTER(_CapHeader), ctypes.POINTER(_CapData)]
libc.capget.restype = ctypes.c_int


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's effective/permitted/inheritable sets (64-bit masks)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    check(libc.capset(ctypes.byref(header), data), "capset")


def capget(pid: int = 0) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of ``pid`` (0 = this thread)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()
    check(libc.capget(ctypes.byref(header), data), "capget")
    e = data[0].effective | (data[1].effective << 32)
    p = data[0].permitted | (data[1].permitted << 32)
    i = data[0].inheritable | (data[1].inheritable << 32)
    return e, p, i


def capbset_drop(cap: int) -> None:
    prctl(PR_CAPBSET_DROP, cap, what="prctl(PR_CAPBSET_DROP)")


def capbset_read(cap: int) -> bool:
    return prctl(PR_CAPBSET_READ, cap, what="prctl(PR_CAPBSET_READ)") == 1


def ambient_raise(cap: int) -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, what="prctl(PR_CAP_AMBIENT_RAISE)")


def ambient_clear_all() -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="prctl(PR_CAP_AMBIENT_CLEAR_ALL)")


# ----------------------------------------------------------------- names, personality
libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
libc.sethostname.restype = ctypes.c_int
libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
libc.setdomainname.restype = ctypes.c_int
libc.personality.argtypes = [ctypes.c_ulong]
libc.personality.restype = ctypes.c_int


def sethostname(name: str) -> None:
    raw = name.encode()
    check(libc.sethostname(raw, len(raw)), "sethostname", name)


def setdomainname(name: str) -> None:
    raw = name.encode()
    check(libc.setdomainname(raw, len(raw)), "setdomainname", name)


def personality(persona: int) -> None:
    check(libc.personality(persona), "personality")


IOPRIO_WHO_PROCESS = 1


def ioprio_set(ioprio: int, pid: int = 0) -> None:
    """I/O priority of ``pid`` (0 = this thread): ``class << 13 | level``."""
    syscall("ioprio_set", IOPRIO_WHO_PROCESS, pid, ioprio, op="ioprio_set")


def ioprio_get(pid: int = 0) -> int:
    return syscall("ioprio_get", IOPRIO_WHO_PROCESS, pid, op="ioprio_get")


def _nodemask(nodes: list[int]) -> tuple[ctypes.Array[ctypes.c_ulong], int]:
    """A nodemask and the ``maxnode`` to pass with it (the kernel reads
    ``maxnode - 1`` bits)."""
    words = (max(nodes) + 64) // 64 if nodes else 1
    mask = (ctypes.c_ulong * words)()
    for node in nodes:
        mask[node // 64] |= 1 << (node % 64)
    return mask, words * 64 + 1


def set_mempolicy(mode: int, nodes: list[int]) -> None:
    """This thread's NUMA memory policy (``mode`` may carry MPOL_F_* flags); it is
    inherited by children and kept across ``execve``."""
    if not nodes:
        syscall("set_mempolicy", mode, None, 0, op="set_mempolicy")
        return
    mask, maxnode = _nodemask(nodes)
    syscall("set_mempolicy", mode, ctypes.byref(mask), maxnode, op="set_mempolicy")


def get_mempolicy() -> tuple[int, list[int]]:
    """This thread's (mode with flags, nodes); 1024 nodes at most."""
    mode = ctypes.c_int()
    mask = (ctypes.c_ulong * 16)()
    syscall("get_mempolicy", ctypes.byref(mode), ctypes.byref(mask), 16 * 64, None, 0,
            op="get_mempolicy")
    nodes = [i for i in range(16 * 64) if mask[i // 64] >> (i % 64) & 1]
    return mode.value, nodes


class SchedAttr(ctypes.Structure):
    """``struct sched_attr`` (SCHED_ATTR_SIZE_VER1, 56 bytes)."""

    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
                ("sched_flags", ctypes.c_uint64), ("sched_nice", ctypes.c_int32),
                ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
                ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64),
                ("sched_util_min", ctypes.c_uint32), ("sched_util_max", ctypes.c_uint32)]


def sched_setattr(policy: int, *, flags: int = 0, nice: int = 0, priority: int = 0,
                  runtime: int = 0, deadline: int = 0, period: int = 0, pid: int = 0) -> None:
    """Scheduling policy and parameters of ``pid`` (0 = this thread), including
    SCHED_DEADLINE's runtime/deadline/period, which sched_setscheduler cannot set."""
    attr = SchedAttr(ctypes.sizeof(SchedAttr), policy, flags, nice, priority, runtime,
                     deadline, period, 0, 0)
    syscall("sched_setattr", pid, ctypes.byref(attr), 0, op="sched_setattr")


def sched_getattr(pid: int = 0) -> SchedAttr:
    attr = SchedAttr()
    syscall("sched_getattr", pid, ctypes.byref(attr), ctypes.sizeof(SchedAttr), 0,
            op="sched_getattr")
    return attr


def join_session_keyring(name: str | None = None) -> None:
    KEYCTL_JOIN_SESSION_KEYRING = 1
    syscall("keyctl", KEYCTL_JOIN_SESSION_KEYRING, fsencode(name), op="keyctl(JOIN_SESSION_KEYRING)")


# ----------------------------------------------------------------- fds
CLOSE_RANGE_CLOEXEC = 4


def cloexec_from(first: int) -> None:
    """Mark every fd >= ``first`` close-on-exec (close_range with CLOEXEC)."""
    syscall("close_range", first, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC, op="close_range")


# ----------------------------------------------------------------- seccomp
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 16
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_load(bpf: bytes, flags: int = 0) -> int:
    """Load a raw classic-BPF program (8 bytes per instruction); returns the
    listener fd when ``SECCOMP_FILTER_FLAG_NEW_LISTENER`` is in ``flags`` (the
    kernel makes it close-on-exec)."""
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
    return syscall("seccomp", SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(prog), op="seccomp")


def seccomp_action_available(action: int) -> bool:
    """Whether the kernel knows the filter return value ``action`` (its high bits)."""
    value = ctypes.c_uint32(action)
    try:
        syscall("seccomp", SECCOMP_GET_ACTION_AVAIL, 0, ctypes.byref(value), op="seccomp")
    except KernelError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            return False
        raise
    return True


def seccomp_flags_supported(flags: int) -> bool:
    """Whether the kernel accepts filter ``flags``: probed with no program, which a
    kernel that knows the flags answers with EFAULT, and one that does not with
    EINVAL (no filter is ever installed)."""
    try:
        syscall("seccomp", SECCOMP_SET_MODE_FILTER, flags, None, op="seccomp")
    except KernelError as exc:
        return exc.errno == errno.EFAULT
    return True  # pragma: no cover - a NULL program cannot load
