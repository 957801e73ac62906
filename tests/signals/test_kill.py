"""``fire kill``: a pidfd checked against the stored start time, ``--all`` through
the cgroup, and created-but-not-started containers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fire.procfs import start_time
from tests.conftest import REPO, Bundle, Fire
from tests.hooks.helpers import marker, processes_with

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def _state_file(fire: Fire, cid: str) -> Path:
    return fire.root / cid / "state.json"


def _without_pid_namespace(bundle: Bundle) -> None:
    linux = bundle.config["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "pid"]


def _wait_until(check: object, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_a_state_naming_a_live_stranger_never_signals_it(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    path = _state_file(fire, cid)
    original = path.read_text()
    # A reused pid belongs to a process started later: start times count clock ticks
    # (10 ms), and `create` now returns within a tick of its init's fork.
    time.sleep(0.05)
    stranger = subprocess.Popen(["sleep", "1000"])
    try:
        forged = json.loads(original)
        forged["pid"] = stranger.pid  # the container's start time stays: a reused pid
        path.write_text(json.dumps(forged))
        for args in (("kill", cid, "KILL"), ("kill", cid)):
            r = fire(*args)
            assert r.code == 1, r
            assert "container not running" in r.err
        assert fire.state(cid)["status"] == "stopped"
        # --all of a stopped container signals what its cgroup holds (runc 1.1): the
        # stranger is not in it (USR1 would end a sleep), only the container's init.
        assert fire("kill", "--all", cid, "USR1").code == 0
        time.sleep(0.1)
        assert stranger.poll() is None, "the stranger was signalled"

        # The control: the same record with the stranger's own start time names it,
        # and then kill does reach it (so the check above is what protected it).
        forged["pidStart"] = start_time(stranger.pid)
        path.write_text(json.dumps(forged))
        assert fire("kill", cid, "TERM").code == 0
        assert stranger.wait(timeout=10) == -15
    finally:
        if stranger.poll() is None:
            stranger.kill()
            stranger.wait()
        path.write_text(original)
    assert fire("delete", cid).code == 0


def test_delete_never_kills_a_stranger_behind_a_reused_pid(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    real_pid = fire.state(cid)["pid"]
    stranger = subprocess.Popen(["sleep", "1000"])
    try:
        path = _state_file(fire, cid)
        forged = json.loads(path.read_text())
        forged["pid"] = stranger.pid
        forged["initPid"] = stranger.pid
        path.write_text(json.dumps(forged))
        assert fire("delete", cid).code == 0, "the stored process is gone: stopped"
        assert stranger.poll() is None
        assert not _wait_until(lambda: stranger.poll() is not None, 0.2)
        assert start_time(real_pid) is None, "the container itself was killed (cgroup)"
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_a_real_pid_reuse_in_a_private_pid_namespace(fire: Fire, bundle: Bundle,
                                                     tmp_path: Path) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    script = Path(__file__).with_name("reuse_in_pidns.py")
    root = tmp_path / "nsroot"
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, str(script),
                        str(root), str(bundle.path), cid], capture_output=True, text=True,
                       timeout=120, env={**fire.env(), "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["reused"], f"pid {out['pid']} did not come back: {out}"
    assert out["kill"][0] == 1
    assert "container not running" in out["kill"][1]
    assert out["alive_after_kill"]
    assert out["kill_all"][0] == 0, "--all of a stopped container: its cgroup (runc 1.1)"
    assert out["alive_after_kill_all"], "the stranger is not in the cgroup"
    assert out["delete"][0] == 0
    assert out["alive_after_delete"], "delete killed the stranger"
    assert out["state_after"] == 1


def test_kill_all_signals_every_process_of_the_container(fire: Fire, bundle: Bundle) -> None:
    m = marker()
    _without_pid_namespace(bundle)  # no pid 1 whose death would take the rest along
    bundle.args("sh", "-c", f"sleep {m} & sleep {m} & sleep {m} & wait").write()
    one, every = fire.unique_id(), fire.unique_id()
    for cid in (one, every):
        assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    assert _wait_until(lambda: len(processes_with(f"sleep {m}", exact=True)) == 6)

    assert fire("kill", one, "TERM").code == 0  # the main process only
    assert fire.wait_status(one, "stopped")["status"] == "stopped"
    assert fire("kill", "--all", every, "TERM").code == 0
    assert fire.wait_status(every, "stopped")["status"] == "stopped"
    assert _wait_until(lambda: len(processes_with(f"sleep {m}", exact=True)) == 3)
    time.sleep(0.2)
    assert len(processes_with(f"sleep {m}", exact=True)) == 3, "--all reached them all; without, only one"
    for cid in (one, every):
        assert fire("delete", cid).code == 0
    assert processes_with(f"sleep {m}", exact=True) == [], "delete kills what is left in the cgroup"


@pytest.mark.parametrize("args", [("KILL",), ("TERM",), ("--all", "KILL"), ("--all", "INT"),
                                  ("SIGRTMIN+3",)])
def test_killing_a_created_container(fire: Fire, bundle: Bundle, args: tuple[str, ...]) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    opts, sig = args[:-1], args[-1]
    r = fire("kill", *opts, cid, sig)
    assert r.code == 0, r
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert fire("start", cid).code == 1, "a killed container never runs its program"
    assert fire("delete", cid).code == 0


def test_kill_refuses_bad_signals_and_stopped_containers(fire: Fire, bundle: Bundle) -> None:
    bundle.args("true").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    for bad in ("NOPE", "65", "RTMIN+99", "SIGNOPE"):
        r = fire("kill", cid, bad)
        assert r.code == 1
        assert "signal" in r.err
    assert fire("start", cid).code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    r = fire("kill", cid, "KILL")
    assert r.code == 1
    assert "container not running" in r.err
    assert fire("delete", cid).code == 0


def test_kill_all_of_a_stopped_container_whose_cgroup_is_gone(fire: Fire, bundle: Bundle) -> None:
    """systemd removes a scope's cgroup once its last process exits; the runc shim
    then sends ``kill --all ID 9`` (a container without its own pid namespace, or on
    the task's exit): like runc 1.1, that is nothing to do, not a freezer error
    (found by tests/cri/test_pods_systemd.py: StopPodSandbox hung on the retries)."""
    from fire.cgroup import driver as cgroup_driver

    bundle.args("true").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    cg = cgroup_driver.from_state(json.loads(_state_file(fire, cid).read_text())["cgroup"])
    assert cg is not None
    for d in cg.dirs():  # as systemd does with an emptied scope
        try:
            Path(d).rmdir()
        except FileNotFoundError:
            pass
    r = fire("kill", "--all", cid, "KILL")
    assert r.code == 0, r
    assert fire("delete", cid).code == 0
