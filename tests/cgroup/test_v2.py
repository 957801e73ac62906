"""linux.resources and the cgroup commands on a cgroup-v2-only kernel, for real.

Runs in the cgroup2 VM (tests/run-v2.sh): Python is 10-25x slower there, so the
suite is small and each test checks several things on one container.  The VM has
a 1 GiB dummy disk /dev/vda (254:0) for io.max.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import pytest

from tests.cgroup.helpers import (
    add_caps,
    bind_out,
    cgdir,
    keyed,
    read,
    resources,
    start_events,
    stats,
    wait_for,
)
from tests.conftest import cgroup_dirs_of

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.cgroup2, pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

MiB = 1 << 20
HOG = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]
VDA = (254, 0)
SLOW = 240.0  # seconds: everything is slower in the emulated guest


def gone(cid: str) -> bool:
    return not os.path.exists(f"/sys/fs/cgroup/{cid}") and cgroup_dirs_of(cid) == []


def test_v2_oom_exit_137(fire: Fire, bundle: Bundle) -> None:
    bundle.args(*HOG)
    resources(bundle)["memory"] = {"limit": 32 * MiB}
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid, timeout=SLOW)
    assert r.code == 137, r
    assert gone(cid)


def test_v2_oom_event_and_state(fire: Fire, bundle: Bundle) -> None:
    bundle.args(*HOG)
    resources(bundle)["memory"] = {"limit": 32 * MiB, "swap": 32 * MiB}
    bundle.write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid, timeout=SLOW).code == 0
    assert read(cid, "memory", "memory.max") == str(32 * MiB)
    if os.path.exists(os.path.join(cgdir(cid, "memory"), "memory.swap.max")):
        assert read(cid, "memory", "memory.swap.max") == "0"  # swap - limit
    events = start_events(fire, cid, cgdir(cid, "memory"))
    assert fire("start", cid, timeout=SLOW).code == 0
    out, err = events.communicate(timeout=SLOW)
    assert events.returncode == 0, err
    assert {"type": "oom", "id": cid} in [json.loads(line) for line in out.splitlines()]
    assert fire.wait_status(cid, "stopped", timeout=SLOW)["status"] == "stopped"
    assert keyed(cid, "memory", "memory.events")["oom_kill"] >= 1
    assert fire("delete", cid, timeout=SLOW).code == 0
    assert gone(cid)


def test_v2_limits_freeze_update_stats(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    """pids (a fork bomb), cpu.max, io.max, cpu.weight; pause/resume; update; stats."""
    out = tmp_path / "out"
    bind_out(bundle, out)
    bundle.args("sh", "-c", "(while :; do sleep 100 & done) 2>/dev/null; "
                "i=0; while :; do i=$((i+1)); echo $i > /out/n; usleep 100000; done")
    dev = {"major": VDA[0], "minor": VDA[1]}
    resources(bundle).update({
        "memory": {"limit": 64 * MiB},
        "pids": {"limit": 10},
        "cpu": {"quota": 10000, "period": 100000, "shares": 1024},
        "blockIO": {"throttleReadBpsDevice": [{**dev, "rate": MiB}],
                    "throttleWriteIOPSDevice": [{**dev, "rate": 100}]},
    })
    bundle.write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid, timeout=SLOW).code == 0
    assert read(cid, "pids", "pids.max") == "10"
    assert read(cid, "cpu", "cpu.max") == "10000 100000"
    assert read(cid, "cpu", "cpu.weight") == "39"
    assert read(cid, "memory", "memory.max") == str(64 * MiB)
    assert read(cid, "blkio", "io.max") == f"254:0 rbps={MiB} wbps=max riops=max wiops=100"
    assert wait_for(lambda: keyed(cid, "pids", "pids.events").get("max", 0) > 0, SLOW)
    assert int(read(cid, "pids", "pids.current")) <= 10

    counter = out / "n"
    assert wait_for(lambda: counter.exists() and counter.read_text().strip(), SLOW)
    assert fire("pause", cid, timeout=SLOW).code == 0
    assert fire.state(cid)["status"] == "paused"
    assert read(cid, "", "cgroup.freeze") == "1"
    assert keyed(cid, "", "cgroup.events")["frozen"] == 1
    before = counter.read_text()
    time.sleep(2.0)
    assert counter.read_text() == before, "a paused container kept running"
    assert fire("resume", cid, timeout=SLOW).code == 0
    assert keyed(cid, "", "cgroup.events")["frozen"] == 0
    assert wait_for(lambda: counter.read_text() != before, SLOW)

    r = fire("update", "--pids-limit", "20", "--cpu-quota", "20000", "--memory", "128m",
             "--memory-swap", "192m", cid, timeout=SLOW)
    assert r.code == 0, r
    assert read(cid, "pids", "pids.max") == "20"
    assert read(cid, "cpu", "cpu.max") == "20000 100000"
    assert read(cid, "memory", "memory.max") == str(128 * MiB)
    if os.path.exists(os.path.join(cgdir(cid, "memory"), "memory.swap.max")):
        assert read(cid, "memory", "memory.swap.max") == str(64 * MiB)
    data = stats(fire, cid)
    assert data["pids"]["limit"] == 20
    assert data["pids"]["current"] >= 2
    assert data["memory"]["usage"]["usage"] > 0
    assert data["cpu"]["usage"]["total"] > 0
    assert fire("delete", "--force", cid, timeout=SLOW).code == 0
    assert gone(cid)


KMSG = ("mknod /dev/kmsg c 1 11 || exit 3; "
        "if dd if=/dev/kmsg of=/dev/null bs=65536 count=1 2>/tmp/err; then echo READ; "
        "else cat /tmp/err; fi; echo x >/dev/null && head -c 3 /dev/zero | wc -c")


@pytest.mark.parametrize("allowed", [False, True])
def test_v2_device_filter(fire: Fire, bundle: Bundle, allowed: bool) -> None:
    bundle.args("sh", "-c", KMSG)
    add_caps(bundle, "CAP_MKNOD", "CAP_SYSLOG")
    bundle.own_rootfs()
    rules: list[dict[str, object]] = [{"allow": False, "access": "rwm"}]
    if allowed:
        rules.append({"allow": True, "type": "c", "major": 1, "minor": 11, "access": "r"})
    resources(bundle)["devices"] = rules
    bundle.write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id(), timeout=SLOW)
    assert r.code == 0, r
    if allowed:
        assert "READ" in r.out, r
    else:
        assert "Operation not permitted" in r.out, r
        assert "READ" not in r.out
    assert r.out.split()[-1] == "3", "the default devices work"


def test_v2_io_max_throttles_reads(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sh", "-c", "s=$(date +%s); dd if=/dev/vda of=/dev/null bs=1M count=3 "
                "2>/dev/null; echo $(( $(date +%s) - s ))")
    bundle.config["linux"].setdefault("devices", []).append(
        {"path": "/dev/vda", "type": "b", "major": VDA[0], "minor": VDA[1]})
    resources(bundle).update({
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "b", "major": VDA[0], "minor": VDA[1],
                     "access": "r"}],
        "blockIO": {"throttleReadBpsDevice": [{"major": VDA[0], "minor": VDA[1],
                                               "rate": MiB}]}})
    bundle.write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id(), timeout=SLOW)
    assert r.code == 0, r
    assert int(r.out.split()[-1]) >= 2, f"3 MiB at 1 MiB/s took {r.out.strip()} s"


def test_v2_nested_path_enables_controllers_and_is_removed(fire: Fire, bundle: Bundle) -> None:
    """Fire makes /parent/id: the controllers must be enabled in parent's
    subtree_control for id's files to exist; both go at delete."""
    cid = fire.unique_id()
    parent = fire.unique_id("parent")
    bundle.args("sh", "-c", "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max")
    bundle.config["linux"]["cgroupsPath"] = f"/{parent}/{cid}"
    resources(bundle).update({"pids": {"limit": 5}, "memory": {"limit": 64 * MiB}})
    bundle.write()
    r = fire("run", "-b", str(bundle.path), cid, timeout=SLOW)
    assert r.code == 0, r
    assert r.out.split() == ["5", str(64 * MiB)]
    assert not os.path.exists(f"/sys/fs/cgroup/{parent}")
