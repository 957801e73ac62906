"""Fire run by an ordinary user (issue 17), with runc as the reference
(``FIRE_TEST_RUNTIME=runc``).  This host's cgroup controllers are v1: the user has
no writable cgroup, so the containers run without one (the delegated v2 case is in
test_delegated.py, in the VM)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.rootless.conftest import RUNTIME, fire_only

if TYPE_CHECKING:
    from tests.conftest import Result
    from tests.rootless.conftest import Runtime, User, UserBundle


def one_line_error(r: Result) -> str:
    assert r.code == 1, r
    assert "Traceback" not in r.err, r.err
    lines = [line for line in r.err.strip().splitlines() if "warning" not in line]
    assert len(lines) == 1, r.err
    return lines[0]


def run(runtime: Runtime, bundle: UserBundle, *argv: str) -> Result:
    bundle.args(*argv).write()
    return runtime("run", "-b", str(bundle.path), runtime.unique_id())


def started(runtime: Runtime, bundle: UserBundle, *argv: str) -> str:
    """A running container of ``argv`` (create, then start)."""
    bundle.args(*argv).write()
    cid = runtime.unique_id()
    r = runtime("create", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    r = runtime("start", cid)
    assert r.code == 0, r
    return cid


def host_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[2])  # effective
    raise AssertionError("no Uid line")


# --------------------------------------------------------------------------- basics


def test_run_exit_codes_and_private_state_dir(runtime: Runtime, ubundle: UserBundle,
                                              user: User) -> None:
    r = run(runtime, ubundle, "sh", "-c", "echo out; exit 3")
    assert (r.code, r.out) == (3, "out\n"), r
    assert run(runtime, ubundle, "true").code == 0
    # the default state directory: the user's runtime dir, private to the user
    st = runtime.root.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode) & 0o777) == (user.uid, 0o700)


def test_root_option_wins(runtime: Runtime, ubundle: UserBundle, user: User) -> None:
    root = user.home / f"state-{runtime.unique_id()}"
    ubundle.args("true").write()
    r = runtime("--root", str(root), "run", "-b", str(ubundle.path), runtime.ids[-1])
    assert r.code == 0, r
    assert stat.S_IMODE(root.stat().st_mode) & 0o777 == 0o700
    assert runtime.ids[-1] not in runtime.listed()


def test_create_start_kill_delete(runtime: Runtime, ubundle: UserBundle, user: User) -> None:
    ubundle.args("sleep", "100").write()
    cid = runtime.unique_id()
    r = runtime("create", "-b", str(ubundle.path), cid)
    assert r.code == 0, r
    st = runtime.state(cid)
    assert st["status"] == "created"
    assert host_uid(st["pid"]) == user.uid  # root inside is the user outside
    assert runtime("start", cid).code == 0
    assert runtime.state(cid)["status"] == "running"
    listed = runtime("list", "-q")
    assert listed.out.split() == [cid], listed
    assert runtime("kill", cid, "KILL").code == 0
    deadline = time.monotonic() + 10
    while runtime.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime.state(cid)["status"] == "stopped"
    assert runtime("delete", cid).code == 0
    assert runtime.listed() == []


def test_exec(runtime: Runtime, ubundle: UserBundle) -> None:
    cid = started(runtime, ubundle, "sleep", "100")
    r = runtime("exec", cid, "sh", "-c", "echo hi; id -u; exit 5")
    assert (r.code, r.out) == (5, "hi\n0\n"), r
    r = runtime("exec", "--user", "0:0", cid, "cat", "/proc/self/uid_map")
    assert r.code == 0, r
    assert r.out.split() == ["0", str(runtime.user.uid), "1"], r
    assert runtime("delete", "--force", cid).code == 0


@fire_only  # runc 1.1.5 has no process list without a cgroup ("cgroup not found")
def test_ps_and_kill_all_without_cgroup(runtime: Runtime, ubundle: UserBundle) -> None:
    cid = started(runtime, ubundle, "sh", "-c", "sleep 100 & sleep 100 & wait")
    pid = runtime.state(cid)["pid"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = json.loads(runtime("ps", "--format", "json", cid).out)
        if len(pids) == 3:
            break
        time.sleep(0.05)
    assert pid in pids, pids
    assert len(pids) == 3, pids
    assert runtime("kill", "--all", cid, "KILL").code == 0
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)
    assert runtime("delete", cid).code == 0


@fire_only  # runc 1.1.5 signals only its cgroup's processes: without one, none
def test_delete_force_without_cgroup_or_pid_namespace(runtime: Runtime,
                                                      ubundle: UserBundle) -> None:
    """Nothing left: the container's process tree goes with it (the fixture checks
    that the user has no process left)."""
    cfg = ubundle.config
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    # no proc of the host's pid namespace for a user namespace (EPERM): none at all
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/proc"]
    cfg["linux"]["maskedPaths"] = cfg["linux"]["readonlyPaths"] = []
    cid = started(runtime, ubundle, "sh", "-c", "sleep 100 & sleep 100 & wait")
    pid = runtime.state(cid)["pid"]
    deadline = time.monotonic() + 10
    while len(json.loads(runtime("ps", "--format", "json", cid).out)) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    below = [p for p in json.loads(runtime("ps", "--format", "json", cid).out) if p != pid]
    assert runtime("delete", "--force", cid).code == 0
    deadline = time.monotonic() + 10  # killed; their new parent reaps them
    while any(os.path.exists(f"/proc/{p}") for p in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in below)


@fire_only  # runc's spec differs (no network namespace); Fire's runs unchanged
def test_spec_rootless_runs_unchanged(runtime: Runtime, user: User, area: Path,
                                      user_rootfs: Path) -> None:
    bundle = area / f"spec-{runtime.unique_id()}"
    bundle.mkdir()
    user.chown(bundle)
    assert user.run(*runtime.argv, "spec", "--rootless", cwd=bundle).code == 0
    config = json.loads((bundle / "config.json").read_text())
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": user.uid, "size": 1}]
    r = user.run("cp", "-a", str(user_rootfs), str(bundle / "rootfs"))
    assert r.code == 0, r
    # terminal: true, sh: `run` in the foreground proxies the terminal
    r = runtime("run", "-b", str(bundle), runtime.ids[-1], input="ip link | grep -c '^[0-9]'\n"
                "exit 7\n")
    assert r.code == 7, r
    assert r.out.replace("\r", "").split("\n").count("1") == 1, r.out  # lo only


@fire_only  # runc 1.1.5 fails: "mount sysfs ... operation not permitted"
def test_sysfs_without_netns_is_the_hosts_read_only(runtime: Runtime,
                                                    ubundle: UserBundle) -> None:
    cfg = ubundle.config
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                  if n["type"] != "network"]
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/sys"] + [
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]}]
    r = run(runtime, ubundle, "sh", "-c", "ls /sys/kernel >/dev/null && "
            "grep ' /sys ' /proc/self/mountinfo && ! touch /sys/kernel/x")
    assert r.code == 0, r
    assert " ro," in r.out, r.out


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize("value", ["maybe", "yes"])
def test_rootless_value_outside_runcs_is_an_error(runtime: Runtime, ubundle: UserBundle,
                                                  value: str) -> None:
    ubundle.args("true").write()
    r = runtime(f"--rootless={value}", "run", "-b", str(ubundle.path), runtime.unique_id())
    assert r.code != 0, r
    if RUNTIME == "fire":
        assert "--rootless must be true, false or auto" in one_line_error(r)


def test_rootless_false_needs_a_writable_cgroup(runtime: Runtime, ubundle: UserBundle) -> None:
    """``--rootless false`` asks for the root behaviour: the cgroup is mandatory."""
    ubundle.args("true").write()
    r = runtime("--rootless=false", "run", "-b", str(ubundle.path), runtime.unique_id())
    assert r.code == 1, r
    if RUNTIME == "fire":
        assert "Permission denied" in one_line_error(r)
    assert runtime.listed() == []


# --------------------------------------------------------------------------- id maps


def test_multi_id_map_through_newuidmap(runtime: Runtime, ubundle: UserBundle,
                                        user: User) -> None:
    """uid 1000 inside is subuid+999 outside; root inside is the user outside."""
    rootfs = ubundle.own_rootfs(Path(ubundle.config["root"]["path"]))
    (rootfs / "tmp").chmod(0o1777)
    (sub_uid, _), (sub_gid, _) = user.subuid, user.subgid
    ubundle.config["linux"]["uidMappings"] = [
        {"containerID": 0, "hostID": user.uid, "size": 1},
        {"containerID": 1, "hostID": sub_uid, "size": 65536}]
    ubundle.config["linux"]["gidMappings"] = [
        {"containerID": 0, "hostID": user.gid, "size": 1},
        {"containerID": 1, "hostID": sub_gid, "size": 65536}]
    r = run(runtime, ubundle, "sh", "-c", "touch /tmp/by-root; cat /proc/self/uid_map")
    assert r.code == 0, r
    assert r.out.split() == ["0", str(user.uid), "1", "1", str(sub_uid), "65536"], r
    ubundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    r = run(runtime, ubundle, "sh", "-c", "id -u; touch /tmp/by-1000; ls -n /tmp/by-1000")
    assert r.code == 0, r
    assert r.out.split()[0] == "1000"
    assert r.out.split()[3:5] == ["1000", "1000"], r.out  # the owner inside
    by_root, by_1000 = (rootfs / "tmp/by-root").stat(), (rootfs / "tmp/by-1000").stat()
    assert (by_root.st_uid, by_root.st_gid) == (user.uid, user.gid)
    assert (by_1000.st_uid, by_1000.st_gid) == (sub_uid + 999, sub_gid + 999)


def test_map_the_user_is_not_entitled_to(runtime: Runtime, ubundle: UserBundle,
                                         user: User) -> None:
    sub_uid, count = user.subuid
    ubundle.config["linux"]["uidMappings"] = [
        {"containerID": 0, "hostID": user.uid, "size": 1},
        {"containerID": 1, "hostID": sub_uid + count, "size": 1000}]  # past the range
    ubundle.args("true").write()
    r = runtime("run", "-b", str(ubundle.path), runtime.unique_id())
    assert r.code == 1, r
    if RUNTIME == "fire":
        line = one_line_error(r)
        assert "$.linux.uidMappings" in line, line
        assert "newuidmap" in line, line
    assert runtime.listed() == []  # nothing left (processes: the fixture)


# --------------------------------------------------------------------------- cgroups


def test_device_rules_skipped_with_a_warning(runtime: Runtime, ubundle: UserBundle) -> None:
    """runc 1.1.5 ignores linux.resources.devices without a cgroup; Fire says so."""
    ubundle.config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    r = run(runtime, ubundle, "true")
    assert r.code == 0, r
    if RUNTIME == "fire":
        assert "warning: $.linux.resources.devices: not applied" in r.err, r.err


def test_limits_without_a_writable_cgroup_fail_as_in_runc(runtime: Runtime,
                                                          ubundle: UserBundle) -> None:
    """runc 1.1.5: "cannot set memory limit: container could not join or create
    cgroup"; Fire names the fields, and leaves nothing."""
    ubundle.config["linux"]["resources"] = {"memory": {"limit": 64 << 20},
                                            "pids": {"limit": 50}}
    r = run(runtime, ubundle, "true")
    assert r.code == 1, r
    if RUNTIME == "fire":
        line = one_line_error(r)
        assert "$.linux.resources.memory, $.linux.resources.pids" in line, line
    else:
        assert "cannot set memory limit" in r.err, r
    assert runtime.listed() == []


@fire_only  # runc fails these with its own wording
def test_pause_and_update_say_why(runtime: Runtime, ubundle: UserBundle) -> None:
    cid = started(runtime, ubundle, "sleep", "100")
    for args in (("pause", cid), ("update", "--pids-limit", "10", cid)):
        line = one_line_error(runtime(*args))
        assert "it has no cgroup (rootless" in line, line
    assert runtime.state(cid)["status"] == "running"
    assert runtime("delete", "--force", cid).code == 0


# --------------------------------------------------------------------------- other users


def test_another_user_cannot_see_or_touch_the_containers(runtime: Runtime, ubundle: UserBundle,
                                                         other_user: User) -> None:
    cid = started(runtime, ubundle, "sleep", "100")
    pid = runtime.state(cid)["pid"]
    argv = runtime.argv
    mine = other_user.run(*argv, "list", "-q")  # its own default root: empty
    assert (mine.code, mine.out.strip()) == (0, ""), mine
    theirs = str(runtime.root)
    listing = other_user.run(*argv, "--root", theirs, "list", "-q")
    assert cid not in listing.out, listing
    for args in (("state", cid), ("kill", cid, "KILL"), ("delete", "--force", cid),
                 ("exec", cid, "true")):
        r = other_user.run(*argv, "--root", theirs, *args)
        assert r.code != 0, (args, r)
    assert os.path.exists(f"/proc/{pid}")
    assert runtime.state(cid)["status"] == "running"
    assert runtime("delete", "--force", cid).code == 0
