"""Running a compiled seccomp program in Python, the way the kernel would.

Why: the runtime must know, before it hands the program to the init, what the
filter does to the few calls the init still makes after loading it (``execve``,
and the listener hand-over when ``SCMP_ACT_NOTIFY`` is used).  Asking the exact
program the kernel will run is more reliable than re-deriving libseccomp's rule
semantics.  The tests use it too: a compiled profile is checked call by call
without loading anything into the kernel.

Classic BPF as seccomp accepts it (``seccomp_check_filter``): loads from
``struct seccomp_data``, the scratch memory, ALU and jumps, and ``RET``.
"""

from __future__ import annotations

import struct
import sys

_INSN = struct.Struct("=HBBI")  # code, jt, jf, k
_DATA = struct.Struct("=iIQ6Q")  # nr, arch, instruction_pointer, args[6]
_M32 = 0xFFFFFFFF


class BPFError(ValueError):
    """The program is not one the kernel would accept."""


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    if len(program) % _INSN.size:
        raise BPFError(f"program size {len(program)} is not a multiple of {_INSN.size}")
    return [_INSN.unpack_from(program, off) for off in range(0, len(program), _INSN.size)]


def seccomp_data(nr: int, arch: int, args: tuple[int, ...] = (), ip: int = 0) -> bytes:
    full = (tuple(args) + (0,) * 6)[:6]
    return _DATA.pack(nr, arch, ip, *full)


def run(program: bytes, nr: int, arch: int, args: tuple[int, ...] = (), ip: int = 0) -> int:
    """The filter's return value for one system call (``SECCOMP_RET_*`` | data)."""
    insns = instructions(program)
    data = seccomp_data(nr, arch, args, ip)
    a = x = 0
    mem = [0] * 16
    pc = 0
    steps = 0
    while pc < len(insns):
        steps += 1
        if steps > 1_000_000:
            raise BPFError("the program does not terminate")
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x00:  # LD
            mode = code & 0xE0
            if mode == 0x20 and code & 0x18 == 0x00:  # LD W ABS
                if k % 4 or k + 4 > len(data):
                    raise BPFError(f"load at offset {k} outside seccomp_data")
                a = int.from_bytes(data[k:k + 4], sys.byteorder)
            elif mode == 0x00:  # LD IMM
                a = k
            elif mode == 0x60:  # LD MEM
                a = mem[k]
            elif mode == 0x80:  # LD LEN
                a = len(data)
            else:
                raise BPFError(f"unsupported load 0x{code:02x}")
        elif cls == 0x01:  # LDX
            mode = code & 0xE0
            if mode == 0x00:
                x = k
            elif mode == 0x60:
                x = mem[k]
            elif mode == 0x80:
                x = len(data)
            else:
                raise BPFError(f"unsupported load 0x{code:02x}")
        elif cls == 0x02:  # ST
            mem[k] = a
        elif cls == 0x03:  # STX
            mem[k] = x
        elif cls == 0x04:  # ALU
            a = _alu(code, a, x if code & 0x08 else k)
        elif cls == 0x05:  # JMP
            op = code & 0xF0
            if op == 0x00:  # JA
                pc += k
                continue
            operand = x if code & 0x08 else k
            if op == 0x10:
                taken = a == operand
            elif op == 0x20:
                taken = a > operand
            elif op == 0x30:
                taken = a >= operand
            elif op == 0x40:
                taken = bool(a & operand)
            else:
                raise BPFError(f"unsupported jump 0x{code:02x}")
            pc += jt if taken else jf
        elif cls == 0x06:  # RET
            src = code & 0x18
            return (k if src == 0x00 else a if src == 0x10 else x) & _M32
        else:  # MISC
            if code & 0xF8 == 0x00:
                x = a
            else:
                a = x
    raise BPFError("the program ends without a return")


def _alu(code: int, a: int, operand: int) -> int:
    op = code & 0xF0
    if op == 0x00:
        return (a + operand) & _M32
    if op == 0x10:
        return (a - operand) & _M32
    if op == 0x20:
        return (a * operand) & _M32
    if op == 0x30:
        if operand == 0:
            raise BPFError("division by zero")
        return a // operand
    if op == 0x40:
        return a | operand
    if op == 0x50:
        return a & operand
    if op == 0x60:
        return (a << operand) & _M32 if operand < 32 else 0
    if op == 0x70:
        return a >> operand if operand < 32 else 0
    if op == 0x80:
        return (-a) & _M32
    if op == 0x90:
        if operand == 0:
            raise BPFError("division by zero")
        return a % operand
    if op == 0xA0:
        return a ^ operand
    raise BPFError(f"unsupported ALU operation 0x{code:02x}")
