"""Every command of issue #2 §3, as an engine or a user calls it: spec, features,
--version, demo, list formats, the seed's forms, signal spellings, run's exit codes."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import pytest

from fire.spec import mountopts
from tests.conftest import Bundle
from tests.hooks.helpers import marker, processes_with

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def test_version(fire: Fire) -> None:
    r = fire("--version")
    assert r.code == 0
    first, second = r.out.splitlines()
    assert first.startswith("fire version ")
    assert second == "spec: 1.3.0"


def test_help(fire: Fire) -> None:
    r = fire("--help")
    assert r.code == 0
    for command in ("create", "start", "state", "kill", "delete", "run", "list", "spec",
                    "features"):
        assert f"  {command} " in r.out
    assert fire("create", "--help").out.startswith("usage: fire create")


def test_spec_writes_runcs_default(fire: Fire, tmp_path: Path) -> None:
    r = fire("spec", "--bundle", str(tmp_path))
    assert r.code == 0, r
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["ociVersion"] == "1.3.0"
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    assert cfg["process"]["terminal"] is True
    assert {ns["type"] for ns in cfg["linux"]["namespaces"]} >= {"pid", "network", "ipc", "uts",
                                                                 "mount"}
    again = fire("spec", "--bundle", str(tmp_path))
    assert again.code == 1
    assert "exists" in again.err


def test_spec_rootless(fire: Fire, tmp_path: Path) -> None:
    assert fire("spec", "-b", str(tmp_path), "--rootless").code == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert {"type": "user"} in cfg["linux"]["namespaces"]
    assert cfg["linux"]["uidMappings"][0]["hostID"] == os.getuid()


def test_a_spec_bundle_runs(fire: Fire, tmp_path: Path, rootfs: Path) -> None:
    """What `fire spec` writes is a config Fire runs (with a rootfs and no terminal)."""
    assert fire("spec", "-b", str(tmp_path)).code == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "echo from spec; hostname"]
    cfg["root"]["path"] = str(rootfs)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = fire("run", "-b", str(tmp_path), fire.unique_id())
    assert r.code == 0, r
    assert r.out.split() == ["from", "spec", "fire"]


def test_features(fire: Fire) -> None:
    r = fire("features")
    assert r.code == 0
    doc = r.json()
    assert doc["ociVersionMin"] == "1.0.0"
    assert doc["ociVersionMax"] == "1.3.0"
    assert doc["mountOptions"] == mountopts.all_options()
    linux = doc["linux"]
    assert set(linux["namespaces"]) == {"pid", "network", "mount", "ipc", "uts", "user",
                                        "cgroup", "time"}
    assert linux["mountExtensions"]["idmap"]["enabled"] is True
    assert "CAP_SYS_ADMIN" in linux["capabilities"]
    assert doc["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer",
                            "poststart", "poststop"]


def test_demo_builds_and_runs_the_default_bundle(fire: Fire, tmp_path: Path) -> None:
    r = fire("demo", "--bundle", str(tmp_path / "demo"), fire.unique_id("demo"))
    assert r.code == 0, r
    assert "Hello from Fire!" in r.out
    assert (tmp_path / "demo" / "rootfs" / "bin" / "busybox").exists()
    assert json.loads((tmp_path / "demo" / "config.json").read_text())["ociVersion"] == "1.3.0"


# ----------------------------------------------------------------------------- forms


def test_seed_forms(fire: Fire, bundle: Bundle) -> None:
    """`fire create ID BUNDLE`, `fire run ID BUNDLE`, `fire kill ID --signal SIG`."""
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", cid, str(bundle.path)).code == 0
    assert fire.state(cid)["bundle"] == str(bundle.path)
    assert fire("start", cid).code == 0
    assert fire("kill", cid, "--signal", "KILL").code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert fire("delete", cid).code == 0
    bundle.args("sh", "-c", "exit 3").write()
    assert fire("run", fire.unique_id(), str(bundle.path)).code == 3


def test_option_equals_forms(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    pid_file = tmp_path / "pid"
    assert fire(f"--root={fire.root}", "create", f"--bundle={bundle.path}",
                f"--pid-file={pid_file}", cid).code == 0
    assert pid_file.read_text() == str(fire.state(cid)["pid"])
    rows = fire("list", "--format=json").json()
    assert [r["id"] for r in rows] == [cid]
    assert fire("delete", "--force=true", cid).code == 0


@pytest.mark.parametrize("signal", ["KILL", "SIGKILL", "9", "kill", "sigkill"])
def test_signal_spellings(fire: Fire, bundle: Bundle, signal: str) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    assert fire("kill", cid, signal).code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert fire("delete", cid).code == 0


def test_kill_all(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    """--all signals every process: the init and two subshells each trap USR1 and
    leave a file (a kill of pid 1 alone would leave one)."""
    def waiter(name: str) -> str:
        return f"trap 'echo > /out/{name}; exit' USR1; while :; do sleep 0.05; done"
    bundle.config["mounts"].append({"destination": "/out", "type": "bind",
                                    "source": str(tmp_path), "options": ["bind"]})
    bundle.args("sh", "-c", f"({waiter('c1')}) & ({waiter('c2')}) & "
                f"echo > /out/ready; trap 'echo > /out/p1' USR1; "
                "while :; do sleep 0.05; done").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    deadline = time.monotonic() + 10
    while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # the subshells set their traps
    assert fire("kill", "--all", cid, "USR1").code == 0
    got = {"p1", "c1", "c2"}
    while not got <= {p.name for p in tmp_path.iterdir()} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert got <= {p.name for p in tmp_path.iterdir()}
    assert fire.state(cid)["status"] == "running"
    assert fire("kill", "--all", cid, "KILL").code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert fire("delete", cid).code == 0


def test_kill_signal_zero_checks_liveness(fire: Fire, bundle: Bundle) -> None:
    """runc: signal 0 is a liveness check, exit 0 for a live container, no effect;
    "container not running" for a stopped one."""
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    assert fire("kill", cid, "0").code == 0
    assert fire("kill", "--all", cid, "0").code == 0
    assert fire.state(cid)["status"] == "running"
    assert fire("kill", cid, "KILL").code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    r = fire("kill", cid, "0")
    assert r.code == 1
    assert "container not running" in r.err
    assert fire("delete", cid).code == 0


def test_kill_all_reaches_what_a_stopped_container_left_in_its_cgroup(
        fire: Fire, bundle: Bundle) -> None:
    """runc 1.1, which the containerd shim calls for a --pid host container: without
    a pid namespace the init's children outlive it; `kill --all` of the stopped
    container signals them (exit 0), a plain `kill` is "container not running"."""
    tag = marker()
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"]
    bundle.args("sh", "-c", f"sleep {tag} & exit 0").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert len(processes_with(tag)) == 1, "the init's child outlived it"
    r = fire("kill", cid, "KILL")
    assert r.code == 1
    assert "container not running" in r.err
    assert fire("kill", "--all", cid, "KILL").code == 0
    deadline = time.monotonic() + 5
    while processes_with(tag) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert processes_with(tag) == []
    assert fire("kill", "--all", cid, "KILL").code == 0, "nothing left: still success"
    assert fire("delete", cid).code == 0


@pytest.mark.parametrize(("signal", "code"), [("TERM", 143), ("KILL", 137), ("USR1", 138)])
def test_run_exit_code_after_a_signal(fire: Fire, bundle: Bundle, signal: str, code: int
                                      ) -> None:
    """128+N after signal N.  Without a pid namespace the shell is not an init, so
    it can die from its own signal."""
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"]
    bundle.args("sh", "-c", f"kill -{signal} $$; sleep 5").write()
    assert fire("run", "-b", str(bundle.path), fire.unique_id()).code == code


def test_run_forwards_signals(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    """A signal fire receives goes to the container (here, an init with a handler)."""
    bundle.args("sh", "-c", "trap 'echo got-term; exit 9' TERM; echo ready; "
                "while true; do sleep 0.1; done").write()
    with open(tmp_path / "out", "w") as out:
        proc = fire.popen("run", "-b", str(bundle.path), fire.unique_id(), stdout=out)
        deadline = time.monotonic() + 20
        while "ready" not in (tmp_path / "out").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(15)
        assert proc.wait(30) == 9
    assert (tmp_path / "out").read_text().split() == ["ready", "got-term"]


def test_run_keep_and_detach(fire: Fire, bundle: Bundle) -> None:
    bundle.args("true").write()
    cid = fire.unique_id()
    assert fire("run", "--keep", "-b", str(bundle.path), cid).code == 0
    assert fire.state(cid)["status"] == "stopped", "--keep leaves it for delete"
    assert fire("delete", cid).code == 0
    other = fire.unique_id()
    assert fire("run", "-b", str(bundle.path), other).code == 0
    assert fire("state", other).code == 1, "run deletes the container after it exits"


def test_list_table(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    out = fire("list").out.splitlines()
    assert out[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert out[1].split()[:3] == [cid, str(fire.state(cid)["pid"]), "created"]
    assert out[1].split()[-1] == "root", "runc: the owner of the state directory"
    assert [row["owner"] for row in fire("list", "--format", "json").json()] == ["root"]
    ps = fire("ps", "--format", "json")
    assert ps.code == 0
    assert [row["id"] for row in ps.json()] == [cid], "ps without an id lists containers"
    assert fire("delete", cid).code == 0
    assert fire("list", "--format", "json").json() == []


def test_state_fields(fire: Fire, bundle: Bundle) -> None:
    bundle.config["annotations"] = {"org.example/key": "value"}
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    st = fire.state(cid)
    assert st["ociVersion"] == "1.3.0"
    assert st["annotations"] == {"org.example/key": "value"}
    assert st["rootfs"] == str(bundle.rootfs)
    assert st["created"].endswith("Z")
    assert fire("start", cid).code == 0
    assert fire.state(cid)["status"] == "running"
    assert fire("delete", "-f", cid).code == 0


def test_older_spec_versions_are_accepted(fire: Fire, bundle: Bundle) -> None:
    for version in ("1.0.0", "1.0.2-dev", "1.1.0", "1.2.0"):
        bundle.config["ociVersion"] = version
        bundle.args("true").write()
        r = fire("run", "-b", str(bundle.path), fire.unique_id())
        assert r.code == 0, (version, r)


def test_bundle_defaults_to_the_current_directory(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sh", "-c", "echo here").write()
    with open(bundle.path / "out", "w") as out:
        proc = fire.popen("run", fire.unique_id(), cwd=str(bundle.path), stdout=out)
        assert proc.wait(60) == 0
    assert (bundle.path / "out").read_text() == "here\n"


__all__ = ["Bundle"]


def test_session_keyring(fire: Fire, bundle: Bundle) -> None:
    """A new session keyring named after the container, unless --no-new-keyring."""
    bundle.config["linux"]["maskedPaths"] = []
    cid = fire.unique_id()
    bundle.args("cat", "/proc/keys").write()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    assert f"_ses.{cid}" in r.out
    other = fire.unique_id()
    r = fire("run", "--no-new-keyring", "-b", str(bundle.path), other)
    assert r.code == 0, r
    assert f"_ses.{other}" not in r.out


def test_config_changes_after_create_have_no_effect(fire: Fire, bundle: Bundle,
                                                   tmp_path: Path) -> None:
    """runtime-tools' config_updates_without_affect: create read config.json once."""
    bundle.args("sh", "-c", "echo original").write()
    cid = fire.unique_id()
    with open(tmp_path / "out", "w") as out:
        proc = fire.popen("create", "-b", str(bundle.path), cid, stdout=out)
        assert proc.wait(60) == 0
    bundle.args("sh", "-c", "echo changed").write()
    bundle.config["hostname"] = "changed"
    assert fire("start", cid).code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert (tmp_path / "out").read_text() == "original\n"
    assert fire("delete", cid).code == 0
