"""Process attributes: prctl, capabilities, host and domain names, personality,
I/O priority, memory policy, keyrings, fd ranges, seccomp."""

from __future__ import annotations

import ctypes

from fire.syscalls._libc import check, fsencode, libc, syscall

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


def ioprio_set(ioprio: int) -> None:
    IOPRIO_WHO_PROCESS = 1
    syscall("ioprio_set", IOPRIO_WHO_PROCESS, 0, ioprio)


def set_mempolicy(mode: int, nodemask: list[int], maxnode: int) -> None:
    words = (maxnode + 63) // 64 or 1
    mask = (ctypes.c_ulong * words)()
    for node in nodemask:
        mask[node // 64] |= 1 << (node % 64)
    syscall("set_mempolicy", mode, ctypes.byref(mask) if nodemask else None,
            maxnode + 1 if nodemask else 0)


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
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_load(bpf: bytes, flags: int = 0) -> int:
    """Load a raw classic-BPF program (8 bytes per instruction); returns the
    listener fd when ``SECCOMP_FILTER_FLAG_NEW_LISTENER`` is in ``flags``."""
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
    return syscall("seccomp", SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(prog), op="seccomp")
