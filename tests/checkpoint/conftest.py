"""Checkpoint/restore tests: a counting busybox container, and CRIU's kernel modules.

CRIU works in the cgroup2 VM booted with systemd (tests/run-v2.sh --systemd), once
the modules it probes are loaded: the session fixture ``criu_modules`` loads them
(the guest's throw-away root, so nothing outlives the run).  On this host's newer
kernel CRIU 3.17 cannot dump (its vDSO check), which tests/checkpoint/test_host.py
turns into a test that ``fire checkpoint`` fails fast and changes nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

MODULES = ("nf_tables", "veth", "tun", "unix_diag", "inet_diag", "tcp_diag", "udp_diag",
           "raw_diag", "netlink_diag", "packet_diag")
# /tmp/count: the last number; /tmp/seq: every number, so a restart would show
COUNTER = ("i=0; while true; do i=$((i+1)); echo $i > /tmp/count; echo $i >> /tmp/seq; "
           "sleep 0.2; done")


@pytest.fixture(scope="session")
def criu_modules() -> None:
    for module in MODULES:  # one by one: a module built into the kernel is no error
        subprocess.run(["modprobe", module], check=False, capture_output=True)


class Quiet:
    """A command run with stdio on /dev/null; its error line, from ``--log``."""

    def __init__(self, code: int, error: str) -> None:
        self.returncode = code
        self.error = error

    def __repr__(self) -> str:
        return f"Quiet(code={self.returncode}, error={self.error!r})"


def quiet(fire: Fire, *args: str, timeout: float = 240) -> Quiet:
    """Run fire with stdio on /dev/null: a created (or restored) container keeps
    them, so no pipe of ours may be among them (it would never reach EOF), and
    the container's fds then point at nothing outside it that CRIU must restore.
    Errors come back through ``--log`` (runc's text format)."""
    fd, log = tempfile.mkstemp(prefix="fire-log-")
    os.close(fd)
    try:
        with open(os.devnull, "r+") as null:
            proc = subprocess.run([*fire.argv, "--root", str(fire.root), "--log", log, *args],
                                  stdin=null, stdout=null, stderr=null, timeout=timeout,
                                  env=fire.env())
        with open(log) as f:
            text = f.read()
    finally:
        os.unlink(log)
    errors = re.findall(r'level=error msg="((?:[^"\\]|\\.)*)"', text)
    return Quiet(proc.returncode, errors[-1].replace('\\"', '"') if errors else "")


def counting(fire: Fire, bundle: Bundle, cid: str) -> Path:
    """Create and start a container counting into its rootfs's /tmp/count; return
    that file (on the host)."""
    bundle.own_rootfs()
    bundle.args("sh", "-c", COUNTER)
    bundle.write()
    r = quiet(fire, "create", "--bundle", str(bundle.path), cid)
    assert r.returncode == 0, r
    fire("start", cid, check=True)
    count = bundle.rootfs / "tmp" / "count"
    wait_count(count, 3)
    return count


def read_count(path: Path) -> int:
    for _ in range(50):
        text = path.read_text().strip()
        if text:  # the shell truncates, then writes
            return int(text)
        time.sleep(0.02)
    raise AssertionError(f"{path} stays empty")


def wait_count(path: Path, at_least: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while True:
        value = read_count(path) if path.exists() else 0
        if value >= at_least:
            return value
        assert time.monotonic() < deadline, f"{path}: {value} < {at_least} after {timeout}s"
        time.sleep(0.1)


def assert_one_sequence(count: Path) -> None:
    """/tmp/seq is 1, 2, 3, … with no gap and no restart: the same process went on."""
    numbers = [int(x) for x in (count.parent / "seq").read_text().split()]
    assert numbers == list(range(1, len(numbers) + 1)), numbers


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
