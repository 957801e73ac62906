"""The eBPF device filter attached for real to a cgroup of this host's cgroup2 tree.

The host's containers use v1's devices controller; the v2 filter is exercised
here directly (and through containers in the cgroup2 VM, tests/cgroup/test_v2.py):
a shell moved into the filtered cgroup opens what the rules allow, nothing else.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import TYPE_CHECKING

import msgspec
import pytest

from fire.cgroup.devfilter import program
from fire.cgroup.devices import emulate, from_spec
from fire.cgroup.manager import Manager
from fire.spec.config import DeviceRule
from fire.syscalls.bpf import install_device_program, query_device_programs

if TYPE_CHECKING:
    from collections.abc import Iterator

V2_ROOT = Manager("/").v2_dir() if os.geteuid() == 0 else None
pytestmark = [pytest.mark.root,
              pytest.mark.skipif(V2_ROOT is None, reason="no cgroup2 tree on this host")]


@pytest.fixture
def scratch() -> Iterator[str]:
    assert V2_ROOT is not None
    d = os.path.join(V2_ROOT.rstrip("/"), f"fire-bpf-{uuid.uuid4().hex[:10]}")
    os.mkdir(d)
    try:
        yield d
    finally:
        os.rmdir(d)


def in_cgroup(d: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", f"echo $$ > {d}/cgroup.procs && {script}"],
                          capture_output=True, text=True, timeout=60, check=False)


def install(d: str, *docs: dict[str, object]) -> None:
    rules = from_spec([msgspec.convert(doc, type=DeviceRule) for doc in docs], "$")
    install_device_program(d, program(emulate(rules)))


def test_deny_all_then_an_allow_rule(scratch: str) -> None:
    install(scratch, {"allow": False, "access": "rwm"})
    assert len(query_device_programs(scratch)) == 1
    denied = in_cgroup(scratch, "dd if=/dev/kmsg of=/dev/null bs=65536 count=1")
    assert denied.returncode != 0
    assert "Operation not permitted" in denied.stderr, denied
    ok = in_cgroup(scratch, "echo x > /dev/null && head -c 2 /dev/zero | wc -c")
    assert ok.returncode == 0, ok
    assert ok.stdout.strip() == "2"

    # a replacement: the new program is attached before the old one goes
    install(scratch, {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "r"})
    assert len(query_device_programs(scratch)) == 1
    readable = in_cgroup(scratch, "dd if=/dev/kmsg of=/dev/null bs=65536 count=1")
    assert readable.returncode == 0, readable
    write = in_cgroup(scratch, "echo x > /dev/kmsg")
    assert write.returncode != 0, "only read was allowed"


def test_allow_all_with_a_deny(scratch: str) -> None:
    install(scratch, {"allow": True, "access": "rwm"},
            {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "w"})
    # v1's semantics for a deny: one denied bit of the request is enough
    rw = in_cgroup(scratch, "dd if=/dev/kmsg of=/dev/null bs=65536 count=1 iflag=nonblock "
                   "1<>/dev/kmsg")
    assert rw.returncode != 0
    assert "Operation not permitted" in rw.stderr, rw
    assert in_cgroup(scratch, "dd if=/dev/kmsg of=/dev/null bs=65536 count=1").returncode == 0
    assert in_cgroup(scratch, "head -c 1 /dev/zero >/dev/null").returncode == 0
