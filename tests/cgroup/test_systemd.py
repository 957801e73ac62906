"""The systemd cgroup driver against a real systemd (PID 1 of the VM booted with
V2RUN_SYSTEMD=1: tests/run-v2.sh --systemd).

Each test also runs against runc (FIRE_TEST_RUNTIME=runc), which works with
``--systemd-cgroup`` in that VM.  Python is 10-25x slower there: few containers,
each checked for several things, and generous timeouts.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from tests.cgroup.helpers import bind_out, resources, stats, wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

MiB = 1 << 20
SLOW = 240.0
SD = "--systemd-cgroup"


def unit_of(cid: str) -> str:
    return f"fire-{cid}.scope"


def scope_dir(cid: str) -> str:
    return f"/sys/fs/cgroup/system.slice/{unit_of(cid)}"


def show(unit: str, *props: str) -> dict[str, str]:
    out = subprocess.run(["systemctl", "show", unit, *(f"--property={p}" for p in props)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def listed(text: str) -> list[str]:
    """Lines of ``systemctl list-units --all`` that mention ``text``."""
    out = subprocess.run(["systemctl", "list-units", "--all", "--no-legend", "--plain"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [line for line in out.splitlines() if text in line]


def cat(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def nothing_left(cid: str) -> None:
    assert listed(cid) == [], f"units left: {listed(cid)}"
    assert not os.path.exists(scope_dir(cid))


def test_run_with_limits_puts_the_container_in_a_scope(fire: Fire, bundle: Bundle,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "out"
    bind_out(bundle, out)
    bundle.args("sh", "-c", "cat /proc/self/cgroup > /out/cgroup; "
                "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max > /out/limits; "
                "touch /out/ready; sleep 1000")
    resources(bundle).update({"memory": {"limit": 64 * MiB}, "pids": {"limit": 30},
                              "cpu": {"quota": 50000, "period": 100000}})
    cid = fire.unique_id()
    bundle.config["linux"]["cgroupsPath"] = f"system.slice:fire:{cid}"
    bundle.write()
    r = fire(SD, "run", "-d", "-b", str(bundle.path), cid, timeout=SLOW)
    assert r.code == 0, r
    assert wait_for(lambda: (out / "ready").exists(), SLOW)
    props = show(unit_of(cid), "ActiveState", "MemoryMax", "TasksMax", "CPUQuotaPerSecUSec",
                 "Delegate", "Slice", "ControlGroup")
    assert props["ActiveState"] == "active", props
    assert props["MemoryMax"] == str(64 * MiB)
    assert props["TasksMax"] == "30"
    assert props["CPUQuotaPerSecUSec"] == "500ms"
    assert props["Delegate"] == "yes"
    assert props["Slice"] == "system.slice"
    assert props["ControlGroup"] == f"/system.slice/{unit_of(cid)}"
    assert cat(scope_dir(cid) + "/memory.max") == str(64 * MiB)
    assert cat(scope_dir(cid) + "/cpu.max") == "50000 100000"
    assert (out / "limits").read_text().split() == [str(64 * MiB), "30"]
    # the container's pid 1 is in the scope (systemd moved the init)
    pid = fire.state(cid)["pid"]
    assert cat(f"/proc/{pid}/cgroup") == f"0::/system.slice/{unit_of(cid)}"
    assert fire("kill", cid, "KILL").code == 0
    assert fire("delete", "--force", cid, timeout=SLOW).code == 0
    nothing_left(cid)


def test_lifecycle_on_a_scope(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    """create/start/update/pause/resume/events --stats/ps/kill --all/delete."""
    out = tmp_path / "out"
    bind_out(bundle, out)
    bundle.args("sh", "-c", "sleep 1000 & i=0; while :; do i=$((i+1)); echo $i > /out/n; "
                "usleep 100000; done")
    resources(bundle).update({"memory": {"limit": 64 * MiB}, "pids": {"limit": 20}})
    cid = fire.unique_id()
    bundle.config["linux"]["cgroupsPath"] = f"fire-test.slice:fire:{cid}"
    bundle.write()
    r = fire(SD, "create", "-b", str(bundle.path), cid, timeout=SLOW)
    assert r.code == 0, r
    sdir = f"/sys/fs/cgroup/fire.slice/fire-test.slice/{unit_of(cid)}"
    assert os.path.isdir(sdir), "the slice's parents come from systemd's - expansion"
    assert show(unit_of(cid), "ActiveState")["ActiveState"] == "active"
    assert fire("start", cid, timeout=SLOW).code == 0
    counter = out / "n"
    assert wait_for(lambda: counter.exists() and counter.read_text().strip(), SLOW)

    r = fire("update", "--memory", "128m", "--pids-limit", "40", cid, timeout=SLOW)
    assert r.code == 0, r
    assert cat(sdir + "/memory.max") == str(128 * MiB)
    assert cat(sdir + "/pids.max") == "40"
    props = show(unit_of(cid), "MemoryMax", "TasksMax")
    assert props == {"MemoryMax": str(128 * MiB), "TasksMax": "40"}

    assert fire("pause", cid, timeout=SLOW).code == 0
    assert fire.state(cid)["status"] == "paused"
    assert cat(sdir + "/cgroup.freeze") == "1"
    before = counter.read_text()
    time.sleep(1.5)
    assert counter.read_text() == before, "a paused container kept running"
    assert fire("resume", cid, timeout=SLOW).code == 0
    assert wait_for(lambda: counter.read_text() != before, SLOW)

    data = stats(fire, cid)
    assert data["pids"]["limit"] == 40
    assert data["memory"]["usage"]["usage"] > 0
    r = fire("ps", "--format", "json", cid)
    assert r.code == 0, r
    pids = json.loads(r.out)
    procs = {int(p) for p in cat(sdir + "/cgroup.procs").split()}
    assert fire.state(cid)["pid"] in set(pids) & procs  # (usleep comes and goes)
    assert len(set(pids) & procs) >= 2

    assert fire("kill", "--all", cid, "KILL").code == 0
    assert fire.wait_status(cid, "stopped", SLOW)["status"] == "stopped"
    assert fire("delete", cid, timeout=SLOW).code == 0
    nothing_left(cid)


@pytest.mark.parametrize(("path", "words"), [
    ("system.slice:fire", "slice:prefix:name"),
    ("system:fire:{cid}", "slice"),
])
def test_bad_systemd_paths_are_one_clear_error(fire: Fire, bundle: Bundle, path: str,
                                               words: str) -> None:
    cid = fire.unique_id()
    bundle.config["linux"]["cgroupsPath"] = path.format(cid=cid)
    bundle.write()
    r = fire(SD, "create", "-b", str(bundle.path), cid, timeout=SLOW)
    assert r.code == 1, r
    if fire.name == "fire":
        assert len(r.err.strip().splitlines()) == 1, r
        assert "$.linux.cgroupsPath" in r.err, r
    assert words in r.err, r
    assert fire("state", cid).code == 1
    nothing_left(cid)


def test_systemd_unreachable_is_one_clear_error(fire: Fire, bundle: Bundle) -> None:
    """The bus socket and systemd's private socket hidden in a private mount
    namespace (the rest of the VM keeps its systemd)."""
    cid = fire.unique_id()
    bundle.config["linux"]["cgroupsPath"] = f"system.slice:fire:{cid}"
    bundle.write()
    hide = ("mount -t tmpfs none /run/dbus && mount --bind /dev/null /run/systemd/private"
            ' && exec "$@"')
    argv = [*fire.argv, "--root", str(fire.root), SD, "create", "-b", str(bundle.path), cid]
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", hide,
                           "sh", *argv], capture_output=True, text=True, timeout=SLOW,
                          env=fire.env())
    assert proc.returncode == 1, proc
    if fire.name == "fire":
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "cannot reach systemd over D-Bus" in proc.stderr
    assert fire("state", cid).code == 1
    nothing_left(cid)
