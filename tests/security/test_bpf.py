"""The classic-BPF interpreter the runtime uses to ask a compiled filter what it
does (fire.seccomp.bpf): checked on hand-written programs."""

from __future__ import annotations

import struct

import pytest

from fire.seccomp import bpf

RET_K, RET_A = 0x06, 0x16
LD_ABS, LD_IMM, LD_MEM, LDX_IMM = 0x20, 0x00, 0x60, 0x01
ST, JEQ_K, JSET_K, JGT_X, JA = 0x02, 0x15, 0x45, 0x2D, 0x05
AND_K, ADD_X, TAX = 0x54, 0x0C, 0x07


def prog(*insns: tuple[int, int, int, int]) -> bytes:
    return b"".join(struct.pack("=HBBI", *i) for i in insns)


def test_loads_nr_arch_and_64_bit_args_in_halves() -> None:
    p = prog((LD_ABS, 0, 0, 0), (JEQ_K, 0, 3, 59),  # nr == 59 ?
             (LD_ABS, 0, 0, 20), (JEQ_K, 0, 1, 1),  # high half of args[0] == 1 ?
             (RET_K, 0, 0, 111), (RET_K, 0, 0, 222))
    assert bpf.run(p, 59, 0, (1 << 32,)) == 111
    assert bpf.run(p, 59, 0, (1,)) == 222
    assert bpf.run(p, 60, 0, (1 << 32,)) == 222


def test_scratch_memory_alu_jset_and_ja() -> None:
    p = prog((LD_IMM, 0, 0, 6), (ST, 0, 0, 3), (LD_MEM, 0, 0, 3), (AND_K, 0, 0, 4),
             (JSET_K, 1, 0, 4), (RET_K, 0, 0, 0), (LDX_IMM, 0, 0, 10), (ADD_X, 0, 0, 0),
             (TAX, 0, 0, 0), (JGT_X, 5, 0, 0), (JA, 0, 0, 1), (RET_K, 0, 0, 1), (RET_A, 0, 0, 0))
    assert bpf.run(p, 0, 0) == 14


@pytest.mark.parametrize("program", [
    prog((LD_ABS, 0, 0, 64)),  # past the end of seccomp_data
    prog((LD_ABS, 0, 0, 2)),  # misaligned
    prog((LD_IMM, 0, 0, 1)),  # no return
    b"\x00" * 7,
])
def test_programs_the_kernel_would_refuse(program: bytes) -> None:
    with pytest.raises(bpf.BPFError):
        bpf.run(program, 0, 0)
