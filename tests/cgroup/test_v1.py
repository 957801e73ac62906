"""linux.resources and the cgroup commands on this host's cgroup v1 controllers, for real.

The host is hybrid: v1 hierarchies for the controllers (cpu and cpuacct apart), a
name=systemd hierarchy, and a cgroup2 tree holding only hugetlb.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from typing import TYPE_CHECKING

import pytest

from fire.cgroup.manager import Manager
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

WHERE = Manager("/probe").where if os.geteuid() == 0 else {}
pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks"),
              pytest.mark.skipif(WHERE.get("memory") != "v1",
                                 reason="needs cgroup v1 controllers (memory, pids, cpu…)")]

MiB = 1 << 20
HOG = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]  # touches a 64 MiB buffer


def gone(cid: str) -> bool:
    return cgroup_dirs_of(cid) == []


# --------------------------------------------------------------------------- memory


def test_memory_limit_oom_kills_the_hog_exit_137(fire: Fire, bundle: Bundle) -> None:
    bundle.args(*HOG)
    resources(bundle)["memory"] = {"limit": 32 * MiB}
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 137, r
    assert gone(cid)


def test_memory_oom_event_and_stopped_state(fire: Fire, bundle: Bundle) -> None:
    bundle.args(*HOG)
    resources(bundle)["memory"] = {"limit": 32 * MiB}
    bundle.write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    assert read(cid, "memory", "memory.limit_in_bytes") == str(32 * MiB)
    events = start_events(fire, cid, cgdir(cid, "memory"))
    assert fire("start", cid).code == 0
    out, err = events.communicate(timeout=60)
    assert events.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert {"type": "oom", "id": cid} in lines
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert keyed(cid, "memory", "memory.oom_control")["oom_kill"] >= 1
    assert fire("delete", cid).code == 0
    assert gone(cid)


def test_memory_every_oom_kill_is_an_event_while_running(fire: Fire, bundle: Bundle) -> None:
    """Three OOM kills through exec, the container alive: three ``oom`` lines.

    v1 signals the eventfd before the killer has counted its kill: a stream that
    read ``oom_kill`` only at the wake-up reported each kill one late, and the last
    never while the container ran (runc reports all three)."""
    bundle.args("sleep", "1000")
    resources(bundle)["memory"] = {"limit": 20 * MiB}
    bundle.write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    events = start_events(fire, cid, cgdir(cid, "memory"))
    assert events.stdout is not None
    os.set_blocking(events.stdout.fileno(), False)
    out = events.stdout.fileno()
    seen: list[str] = []

    def reported() -> int:
        if select.select([out], [], [], 0)[0]:
            seen.append(os.read(out, 65536).decode())
        return "".join(seen).count('"type":"oom"')

    def kills() -> int:
        return int(keyed(cid, "memory", "memory.oom_control")["oom_kill"])

    try:
        for n in range(1, 4):
            r = fire("exec", cid, "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1")
            assert r.code == 137, r
            assert kills() == n
            assert wait_for(lambda n=n: reported() >= n, timeout=10), (n, seen)
        assert fire.state(cid)["status"] == "running"
    finally:
        assert fire("delete", "--force", cid).code == 0
        seen.append(events.communicate(timeout=30)[0])
    assert "".join(seen).count('"type":"oom"') == 3, seen
    assert gone(cid)


# --------------------------------------------------------------------------- pids


def test_pids_limit_stops_a_fork_bomb(fire: Fire, bundle: Bundle) -> None:
    # ash exits when a fork fails: the bomb runs in a subshell, the main process stays
    bundle.args("sh", "-c", "(while :; do sleep 100 & done) 2>/dev/null; exec sleep 100")
    resources(bundle)["pids"] = {"limit": 10}
    bundle.write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    assert read(cid, "pids", "pids.max") == "10"
    assert wait_for(lambda: keyed(cid, "pids", "pids.events")["max"] > 0), "no fork failed"
    assert int(read(cid, "pids", "pids.current")) <= 10
    assert len(fire("ps", "--format", "json", cid).json()) <= 10
    assert fire("delete", "--force", cid).code == 0
    assert gone(cid)


def test_memory_and_pids_limits_together(fire: Fire, bundle: Bundle) -> None:
    """The security area's case: 32 MiB + pids 10 in one container.  A fork bomb
    stops at 10 processes (read with a shell builtin: no fork left), then a hog is
    OOM-killed."""
    bundle.args("sh", "-c", "(while :; do sleep 100 & done) 2>/dev/null; "
                "read n < /sys/fs/cgroup/pids/pids.current; echo pids=$n; exec " + " ".join(HOG))
    resources(bundle).update({"memory": {"limit": 32 * MiB}, "pids": {"limit": 10}})
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 137, r
    assert r.out.startswith("pids=")
    assert 1 < int(r.out.split("=")[1]) <= 10, r.out
    assert gone(cid)


def test_pids_limit_zero_is_a_real_limit(fire: Fire, bundle: Bundle) -> None:
    """runtime-spec 1.3: 0 is a limit (no fork at all), -1 is unlimited."""
    bundle.args("sh", "-c", "true & wait")
    resources(bundle)["pids"] = {"limit": 0}
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"]
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code != 0
    assert "can't fork" in r.err or "Resource temporarily unavailable" in r.err, r


# --------------------------------------------------------------------------- cpu


def test_cpu_quota_is_visible_and_throttles(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sh", "-c", "while :; do :; done")
    resources(bundle)["cpu"] = {"quota": 10000, "period": 100000, "shares": 256}
    bundle.write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    started = time.monotonic()
    assert read(cid, "cpu", "cpu.cfs_quota_us") == "10000"
    assert read(cid, "cpu", "cpu.shares") == "256"
    data = wait_for(lambda: (lambda s: s if s["cpu"]["throttling"].get("throttledPeriods")
                             else None)(stats(fire, cid)))
    assert data, "the busy loop was never throttled"
    elapsed = time.monotonic() - started
    used = data["cpu"]["usage"]["total"] / 1e9
    # 10% of one cpu; generous margin for a shared machine (an upper bound only)
    assert used <= 0.10 * elapsed + 0.25, (used, elapsed)
    assert fire("delete", "--force", cid).code == 0


def test_every_cpu_and_memory_field_lands_in_its_file(fire: Fire, bundle: Bundle) -> None:
    bundle.args("true")
    resources(bundle).update({
        "cpu": {"shares": 300, "quota": 30000, "period": 60000, "burst": 1000,
                "realtimePeriod": 1000000, "realtimeRuntime": 1000, "idle": 0,
                "cpus": "0", "mems": "0"},
        "memory": {"limit": 96 * MiB, "swap": 128 * MiB, "reservation": 48 * MiB,
                   "swappiness": 7, "disableOOMKiller": True, "kernelTCP": 8 * MiB,
                   "useHierarchy": True},
    })
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    expect = {
        ("cpu", "cpu.shares"): "300", ("cpu", "cpu.cfs_quota_us"): "30000",
        ("cpu", "cpu.cfs_period_us"): "60000", ("cpu", "cpu.cfs_burst_us"): "1000",
        ("cpu", "cpu.rt_period_us"): "1000000", ("cpu", "cpu.rt_runtime_us"): "1000",
        ("cpu", "cpu.idle"): "0", ("cpuset", "cpuset.cpus"): "0",
        ("cpuset", "cpuset.mems"): "0",
        ("memory", "memory.limit_in_bytes"): str(96 * MiB),
        ("memory", "memory.memsw.limit_in_bytes"): str(128 * MiB),
        ("memory", "memory.soft_limit_in_bytes"): str(48 * MiB),
        ("memory", "memory.swappiness"): "7",
        ("memory", "memory.kmem.tcp.limit_in_bytes"): str(8 * MiB),
        ("memory", "memory.use_hierarchy"): "1",
    }
    for (controller, name), value in expect.items():
        assert read(cid, controller, name) == value, name
    assert keyed(cid, "memory", "memory.oom_control")["oom_kill_disable"] == 1
    assert fire("delete", cid).code == 0


# --------------------------------------------------------------------------- devices

KMSG = ("mknod /dev/kmsg c 1 11 || exit 3; "
        "if dd if=/dev/kmsg of=/dev/null bs=65536 count=1 2>/tmp/err; then echo READ; "
        "else cat /tmp/err; fi; "
        "echo x >/dev/null && head -c 3 /dev/zero | wc -c && head -c 3 /dev/urandom | wc -c")


def test_devices_deny_all_blocks_a_mknoded_kmsg(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sh", "-c", KMSG)
    add_caps(bundle, "CAP_MKNOD", "CAP_SYSLOG")
    bundle.config["root"]["readonly"] = False
    bundle.own_rootfs()
    resources(bundle)["devices"] = [{"allow": False, "access": "rwm"}]
    bundle.write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert "Operation not permitted" in r.out, r
    assert "READ" not in r.out
    assert r.out.split()[-2:] == ["3", "3"], "the default devices work"


def test_devices_allow_rule_opens_kmsg(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sh", "-c", KMSG)
    add_caps(bundle, "CAP_MKNOD", "CAP_SYSLOG")
    bundle.own_rootfs()
    resources(bundle)["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rw"}]
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    assert "READ" in r.out, r


def test_devices_list_in_the_cgroup(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100")
    resources(bundle)["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "r"}]
    bundle.write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    listed = set(read(cid, "devices", "devices.list").splitlines())
    assert {"c 1:11 r", "c 1:3 rwm", "c 136:* rwm", "c *:* m", "b *:* m"} <= listed
    assert "a *:* rwm" not in listed
    assert fire("delete", cid).code == 0


def test_devices_list_keeps_the_configs_order(fire: Fire, bundle: Bundle) -> None:
    """The spec: entries are applied in the listed order; devices.list shows them
    so (runtime-tools' linux_cgroups_devices reads it so), runc's defaults after."""
    bundle.args("sleep", "100")
    resources(bundle)["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        {"allow": True, "type": "b", "major": 8, "minor": 20, "access": "rw"},
        {"allow": True, "type": "b", "major": 10, "minor": 200, "access": "r"}]
    bundle.write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    listed = read(cid, "devices", "devices.list").splitlines()
    assert listed[:5] == ["c 10:229 rwm", "b 8:20 rw", "b 10:200 r", "c *:* m", "b *:* m"]
    assert fire("delete", cid).code == 0


# --------------------------------------------------------------------------- pause


def test_pause_freezes_and_resume_thaws(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    out = tmp_path / "out"
    bind_out(bundle, out)
    bundle.args("sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done")
    bundle.write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    counter = out / "n"
    assert wait_for(lambda: counter.exists() and counter.read_text().strip())

    assert fire("pause", cid).code == 0
    assert fire.state(cid)["status"] == "paused"
    assert read(cid, "freezer", "freezer.state") == "FROZEN"
    before = counter.read_text()
    time.sleep(1.0)
    assert counter.read_text() == before, "a paused container kept running"
    again = fire("pause", cid)
    assert again.code == 1

    assert fire("resume", cid).code == 0
    assert fire.state(cid)["status"] == "running"
    assert read(cid, "freezer", "freezer.state") == "THAWED"
    assert wait_for(lambda: counter.read_text() != before), "resume did not thaw"
    assert fire("resume", cid).code == 1
    assert fire("delete", "--force", cid).code == 0


def test_pause_created_resumes_as_created(fire: Fire, bundle: Bundle) -> None:
    bundle.args("true").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    assert fire("pause", cid).code == 0
    assert fire.state(cid)["status"] == "paused"
    assert fire("resume", cid).code == 0
    assert fire.state(cid)["status"] == "created"
    assert fire("delete", cid).code == 0


def test_delete_force_of_a_paused_container(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    assert fire("pause", cid).code == 0
    assert fire("delete", "--force", cid).code == 0
    assert gone(cid)


# --------------------------------------------------------------------------- update


def test_update_changes_live_limits(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.args("sleep", "100")
    resources(bundle).update({"memory": {"limit": 64 * MiB}, "pids": {"limit": 10},
                              "cpu": {"quota": 50000, "period": 100000}})
    bundle.write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    r = fire("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "20",
             "--cpu-quota", "20000", "--cpu-share", "512", "--cpuset-cpus", "0", cid)
    assert r.code == 0, r
    assert read(cid, "memory", "memory.limit_in_bytes") == str(128 * MiB)
    assert read(cid, "memory", "memory.memsw.limit_in_bytes") == str(256 * MiB)
    assert read(cid, "pids", "pids.max") == "20"
    assert read(cid, "cpu", "cpu.cfs_quota_us") == "20000"
    assert read(cid, "cpu", "cpu.shares") == "512"
    assert read(cid, "cpuset", "cpuset.cpus") == "0"
    assert stats(fire, cid)["pids"]["limit"] == 20

    # lowering below memsw needs the other order: handled
    doc = tmp_path / "res.json"
    doc.write_text(json.dumps({"memory": {"limit": 16 * MiB, "swap": 32 * MiB},
                               "pids": {"limit": -1}}))
    assert fire("update", "-r", str(doc), cid).code == 0
    assert read(cid, "memory", "memory.limit_in_bytes") == str(16 * MiB)
    assert read(cid, "memory", "memory.memsw.limit_in_bytes") == str(32 * MiB)
    assert read(cid, "pids", "pids.max") == "max"
    r = fire("update", "-r", "-", cid, input='{"cpu": {"period": 200000}}')
    assert r.code == 0, r
    assert read(cid, "cpu", "cpu.cfs_period_us") == "200000"

    bad = fire("update", "--cpu-period", "5", cid)
    assert bad.code == 1
    assert "$.cpu.period" in bad.err
    assert read(cid, "cpu", "cpu.cfs_period_us") == "200000"
    bad = fire("update", "--memory", "lots", cid)
    assert bad.code == 1
    assert "--memory" in bad.err
    assert fire("delete", "--force", cid).code == 0
    gone_ = fire("update", "--memory", "1m", cid)
    assert gone_.code == 1
    assert "container does not exist" in gone_.err


# What Docker 20.10 sends on `runc update -r -` (captured from dockerd): the whole
# resources object, 0 meaning "not set"; pids only when the flag was given.
DOCKER_ZEROES = {"memory": {"limit": 0, "reservation": 0, "kernel": 0},
                 "cpu": {"shares": 0, "quota": 0, "period": 0}, "blockIO": {"weight": 0}}


def _docker(**sections: dict[str, object]) -> str:
    doc: dict[str, dict[str, object]] = json.loads(json.dumps(DOCKER_ZEROES))
    for name, fields in sections.items():
        doc.setdefault(name, {}).update(fields)
    return json.dumps(doc)


def test_update_with_dockers_stdin_changes_only_what_is_set(fire: Fire, bundle: Bundle) -> None:
    """0 leaves a limit as it is (runc 1.1.5's update); FIRE_TEST_RUNTIME=runc agrees."""
    bundle.args("sleep", "100")
    resources(bundle).update({"memory": {"limit": 64 * MiB, "swap": 128 * MiB,
                                         "reservation": 32 * MiB},
                              "pids": {"limit": 10},
                              "cpu": {"shares": 256, "quota": 30000, "period": 60000,
                                      "cpus": "0"}})
    cid = fire.unique_id()
    bundle.config["linux"]["cgroupsPath"] = f"/{cid}"  # runc's default is elsewhere
    bundle.write()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0

    def now() -> dict[str, str]:
        return {f: read(cid, c, f) for c, f in (
            ("memory", "memory.limit_in_bytes"), ("memory", "memory.memsw.limit_in_bytes"),
            ("memory", "memory.soft_limit_in_bytes"), ("pids", "pids.max"),
            ("cpu", "cpu.shares"), ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.cfs_period_us"),
            ("cpuset", "cpuset.cpus"))}

    before = now()
    assert before["pids.max"] == "10"
    # docker update --cpuset-cpus 0 (no change), then each flag alone
    for stdin, changed in (
            (_docker(), {}),
            (_docker(cpu={"shares": 512}), {"cpu.shares": "512"}),
            (_docker(pids={"limit": 20}), {"pids.max": "20"}),
            (_docker(memory={"swap": 256 * MiB}), {"memory.memsw.limit_in_bytes":
                                                   str(256 * MiB)}),
            (_docker(memory={"limit": 96 * MiB}), {"memory.limit_in_bytes": str(96 * MiB)}),
            (_docker(memory={"reservation": 16 * MiB}),
             {"memory.soft_limit_in_bytes": str(16 * MiB)}),
            (_docker(cpu={"quota": 20000}), {"cpu.cfs_quota_us": "20000"}),
            (_docker(cpu={"quota": 50000, "period": 100000}),
             {"cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000"}),
            (_docker(pids={"limit": -1}), {"pids.max": "max"})):
        r = fire("update", "-r", "-", cid, input=stdin)
        assert r.code == 0, (stdin, r)
        before.update(changed)
        assert now() == before, stdin
    # The same zeroes through the flags (runc's --cpu-period 0 and friends).
    r = fire("update", "--cpu-period", "0", "--cpu-quota", "0", "--cpu-share", "0",
             "--memory", "0", "--memory-swap", "0", "--memory-reservation", "0",
             "--blkio-weight", "0", "--cpu-rt-period", "0", "--cpu-rt-runtime", "0", cid)
    assert r.code == 0, r
    assert now() == before
    # Truly invalid values are still refused, naming the field, and change nothing.
    for stdin, field in ((_docker(cpu={"period": 5}), "$.cpu.period"),
                         (_docker(cpu={"shares": -1}), "$.cpu.shares"),
                         (_docker(blockIO={"weight": 5}), "$.blockIO.weight")):
        bad = fire("update", "-r", "-", cid, input=stdin)
        assert bad.code != 0, stdin
        if fire.name == "fire":
            assert field in bad.err, bad
        assert now() == before
    assert fire("delete", "--force", cid).code == 0


def test_update_memory_below_usage_with_check_before_update(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100")
    resources(bundle)["memory"] = {"limit": 64 * MiB, "checkBeforeUpdate": True}
    bundle.write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    r = fire("update", "--memory", "4096", cid)
    assert r.code == 1
    assert "below the current memory usage" in r.err
    assert read(cid, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    assert fire("delete", "--force", cid).code == 0


# --------------------------------------------------------------------------- events, ps


def test_events_stats_numbers_move(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sh", "-c", "while :; do :; done")
    resources(bundle)["memory"] = {"limit": 128 * MiB}
    bundle.write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    first = stats(fire, cid)
    assert first["memory"]["usage"]["limit"] == 128 * MiB
    assert first["memory"]["usage"]["usage"] > 0
    assert first["pids"]["current"] >= 1
    second = wait_for(lambda: (lambda s: s if s["cpu"]["usage"]["total"] >
                               first["cpu"]["usage"]["total"] else None)(stats(fire, cid)))
    assert second, "cpu usage did not move"
    assert set(second) >= {"cpu", "memory", "pids", "blkio", "hugetlb"}

    stream = fire.popen("events", "--interval", "200ms", cid, stdout=-1, stderr=-1)
    try:
        lines = [stream.stdout.readline() for _ in range(2)]  # type: ignore[union-attr]
    finally:
        stream.send_signal(signal.SIGTERM)
        stream.communicate()
    assert [json.loads(line)["type"] for line in lines] == ["stats", "stats"]
    assert fire("delete", "--force", cid).code == 0
    r = fire("events", "--stats", cid)
    assert r.code == 1


def test_ps_lists_exactly_the_container_processes(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sh", "-c", "sleep 101 & sleep 102 & exec sleep 103").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    main = fire.state(cid)["pid"]
    pids = wait_for(lambda: (lambda p: p if len(p) == 3 else None)(
        fire("ps", "--format", "json", cid).json()))
    assert pids, fire("ps", "--format", "json", cid)
    assert main in pids
    cmds = set()
    for pid in pids:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmds.add(f.read().replace(b"\0", b" ").strip().decode())
    assert cmds == {"sleep 101", "sleep 102", "sleep 103"}
    table = fire("ps", cid)
    assert table.code == 0
    head, *rows = table.out.splitlines()
    assert "PID" in head.split()
    assert sorted(int(row.split()[1]) for row in rows) == sorted(pids)
    assert sorted(fire("ps", cid, "--format", "json").json()) == sorted(pids)
    custom = fire("ps", cid, "-o", "pid,comm")
    assert custom.code == 0, custom
    assert sorted(int(row.split()[0]) for row in custom.out.splitlines()[1:]) == sorted(pids)
    assert fire("delete", "--force", cid).code == 0
    assert fire("ps", cid).code == 1


# --------------------------------------------------------------------------- errors, delete


def test_invalid_value_is_refused_before_any_cgroup(fire: Fire, bundle: Bundle) -> None:
    resources(bundle)["cpu"] = {"period": 10}
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert r.err.strip().endswith("$.linux.resources.cpu.period: expected 1000 to 1000000 "
                                  "(microseconds), got 10")
    assert gone(cid)
    assert fire("state", cid).code == 1


def test_field_this_host_cannot_apply_names_it_and_leaves_nothing(fire: Fire, bundle: Bundle
                                                                  ) -> None:
    resources(bundle)["network"] = {"classID": 42}  # no net_cls hierarchy here
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "$.linux.resources.network.classID: the net_cls cgroup controller" in r.err
    # leafWeight: CFQ's, gone from the kernel; found missing only once the cgroup exists
    resources(bundle).pop("network")
    resources(bundle)["blockIO"] = {"leafWeight": 500}
    bundle.write()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "$.linux.resources.blockIO.leafWeight: not supported on this host" in r.err, r
    assert gone(cid), "the cgroup made before the write failed was removed"
    assert fire("state", cid).code == 1


BFQ = os.path.exists("/sys/fs/cgroup/blkio/blkio.bfq.weight")


def test_blkio_weight_and_throttle(fire: Fire, bundle: Bundle) -> None:
    """The weight lands in BFQ's file (CFQ's blkio.weight is gone from this kernel);
    without BFQ (no disk uses it, so the kernel shows no file) it is refused by name."""
    st = os.stat("/dev/vda") if os.path.exists("/dev/vda") else None
    bundle.args("true")
    blkio: dict[str, object] = {"weight": 500}
    if st is not None:
        dev = {"major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev)}
        blkio["throttleReadBpsDevice"] = [{**dev, "rate": 1048576}]
    resources(bundle)["blockIO"] = blkio
    bundle.write()
    cid = fire.unique_id()
    if not BFQ:
        r = fire("create", "-b", str(bundle.path), cid)
        assert r.code == 1
        assert "$.linux.resources.blockIO.weight: not supported on this host" in r.err, r
        assert gone(cid)
        blkio.pop("weight")
        bundle.write()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    if BFQ:
        assert read(cid, "blkio", "blkio.bfq.weight").split()[-1] == "500"
    if st is not None:
        assert read(cid, "blkio", "blkio.throttle.read_bps_device") == (
            f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)} 1048576")
    assert fire("delete", cid).code == 0


def test_nested_path_removes_only_what_fire_made(fire: Fire, bundle: Bundle) -> None:
    cid = fire.unique_id()
    parent = fire.unique_id("parent")
    existing = os.path.join("/sys/fs/cgroup/pids", parent)
    os.mkdir(existing)
    try:
        bundle.args("sleep", "100")
        bundle.config["linux"]["cgroupsPath"] = f"/{parent}/{cid}"
        bundle.write()
        assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
        assert os.path.isdir(os.path.join(existing, cid))
        assert os.path.isdir(f"/sys/fs/cgroup/memory/{parent}/{cid}")
        assert fire("delete", "--force", cid).code == 0
        assert os.path.isdir(existing), "a cgroup Fire did not make was removed"
        assert not os.path.exists(os.path.join(existing, cid))
        assert not os.path.exists(f"/sys/fs/cgroup/memory/{parent}"), "what Fire made stays"
    finally:
        for d in Manager("/" + parent).dirs():
            if os.path.isdir(d):
                os.rmdir(d)


def test_hugetlb_goes_to_the_cgroup2_tree_on_this_hybrid_host(fire: Fire, bundle: Bundle
                                                               ) -> None:
    if WHERE.get("hugetlb") != "v2":
        pytest.skip("hugetlb is not on this host's cgroup2 tree")
    bundle.args("true")
    resources(bundle)["hugepageLimits"] = [{"pageSize": "2MB", "limit": 0}]
    bundle.write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    assert read(cid, "hugetlb", "hugetlb.2MB.max") == "0"
    assert fire("delete", cid).code == 0
    assert gone(cid)


def test_systemd_slice_path_is_a_clear_error(fire: Fire, bundle: Bundle) -> None:
    bundle.config["linux"]["cgroupsPath"] = "system.slice:fire:abc"
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "$.linux.cgroupsPath" in r.err
    assert "give --systemd-cgroup" in r.err
    assert fire("state", cid).code == 1
    flag = fire("--systemd-cgroup", "create", "-b", str(bundle.path), cid)
    assert flag.code == 1
    assert "this host does not run systemd" in flag.err
    assert len(flag.err.strip().splitlines()) == 1
    assert fire("state", cid).code == 1
    assert gone(cid)
    slice_only = fire("create", "--systemd-slice", "fire.slice", "-b", str(bundle.path), cid)
    assert slice_only.code == 1
    assert "--systemd-slice needs --systemd-cgroup" in slice_only.err
    assert fire("state", cid).code == 1
