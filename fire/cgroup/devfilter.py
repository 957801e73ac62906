"""The cgroup v2 device filter: an eBPF ``BPF_PROG_TYPE_CGROUP_DEVICE`` program.

cgroup v2 has no devices.allow/deny files; the kernel instead runs the programs
attached to the cgroup (and to its ancestors) on every open/mknod of a device node
and allows it only if all of them return 1.  runc and crun generate such a program
from the container's rules; so do we, from the normal form of ``fire.cgroup.devices``
(a default action plus exceptions that all have the opposite action, so their
order does not matter).  Pure: this module only assembles bytes; loading and
attaching are ``fire.syscalls.bpf``.

The program reads ``struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor;}``
(``access_type`` = access << 16 | type) and, per exception::

    if type != T            goto next     (skipped for a rule of both types)
    if access & ~A != 0     goto next     (allow exceptions: the request must be
                                           within the rule's rwm)
    if access & A == 0      goto next     (deny exceptions: any requested bit the
                                           rule denies is enough; v1's semantics)
    if major != MAJ         goto next     (skipped for a wildcard)
    if minor != MIN         goto next     (skipped for a wildcard)
    return !default
  next:
    ...
    return default
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.devices import DeviceState

# include/uapi/linux/bpf.h
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}

# Opcodes (class | op | source).
_LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
_MOV32_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
_MOV32_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K
_AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
_RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_EXIT = 0x95  # BPF_JMP | BPF_EXIT

R0, R1, R2, R3, R4, R5 = range(6)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _mask(access: str) -> int:
    bits = 0
    for c in access:
        bits |= _ACCESS[c]
    return bits


def program(state: DeviceState) -> bytes:
    """The program's instructions (8 bytes each) for ``state``."""
    allow_exc = 0 if state.default_allow else 1
    out = [
        _insn(_LDX_W, R2, R1, 0),  # r2 = access_type
        _insn(_MOV32_X, R3, R2),  # r3 = access_type >> 16  (access)
        _insn(_RSH32_K, R3, imm=16),
        _insn(_AND32_K, R2, imm=0xFFFF),  # r2 = type
        _insn(_LDX_W, R4, R1, 4),  # r4 = major
        _insn(_LDX_W, R5, R1, 8),  # r5 = minor
    ]
    for rule in state.rules():
        checks: list[tuple[int, ...]] = []  # (JNE register, immediate) or a mask step
        if rule.type in _TYPES:
            checks.append((R2, _TYPES[rule.type]))
        mask = _mask(rule.access)
        if rule.allow and mask != 7:
            checks.append((-1, 7 & ~mask))  # jump if a bit outside the rule's is asked
        elif not rule.allow:
            checks.append((-2, mask))  # jump if none of the rule's bits is asked
        if rule.major >= 0:
            checks.append((R4, rule.major))
        if rule.minor >= 0:
            checks.append((R5, rule.minor))
        block: list[tuple[int, int, int, int]] = []  # (code, dst, src, imm); jumps patched
        for reg, value in checks:
            if reg in (-1, -2):
                block.append((_MOV32_X, R1, R3, 0))
                block.append((_AND32_K, R1, 0, value))
                block.append((_JNE_K if reg == -1 else _JEQ_K, R1, 0, 0))
            else:
                block.append((_JNE_K, reg, 0, value))
        block.append((_MOV32_K, R0, 0, allow_exc))
        block.append((_EXIT, 0, 0, 0))
        end = len(block)
        for i, (code, dst, src, imm) in enumerate(block):
            off = end - (i + 1) if code in (_JNE_K, _JEQ_K) else 0
            out.append(_insn(code, dst, src, off, imm))
    out.append(_insn(_MOV32_K, R0, imm=1 - allow_exc))
    out.append(_insn(_EXIT))
    return b"".join(out)


def run(prog: bytes, type: str, major: int, minor: int, access: str) -> int:
    """Interpret ``prog`` for one request (the subset of eBPF ``program`` emits).

    The kernel is the real judge (tests attach the program for real); this lets
    unit tests check the generated code without root.
    """
    regs = [0] * 11
    ctx = (_mask(access) << 16 | _TYPES[type], major, minor)
    pc = 0
    n = len(prog) // 8
    while pc < n:
        code, regbyte, off, imm = struct.unpack_from("<BBhi", prog, pc * 8)
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if code == _LDX_W:
            regs[dst] = ctx[off // 4]
        elif code == _MOV32_X:
            regs[dst] = regs[src] & 0xFFFF_FFFF
        elif code == _MOV32_K:
            regs[dst] = imm & 0xFFFF_FFFF
        elif code == _AND32_K:
            regs[dst] &= imm & 0xFFFF_FFFF
        elif code == _RSH32_K:
            regs[dst] = (regs[dst] & 0xFFFF_FFFF) >> imm
        elif code == _JNE_K:
            if regs[dst] != imm & 0xFFFF_FFFF:
                pc += off
        elif code == _JEQ_K:
            if regs[dst] == imm & 0xFFFF_FFFF:
                pc += off
        elif code == _EXIT:
            return regs[R0]
        else:
            raise ValueError(f"opcode {code:#x} at {pc - 1}")
    raise ValueError("the program has no exit")
