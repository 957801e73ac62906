"""The six hook kinds on real containers: order, status, pid, namespace, args,
env, output, and what a failure or a timeout of each leaves behind (nothing)."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import pytest

from fire.procfs import start_time
from tests.conftest import Bundle, Fire, cgroup_dirs_of
from tests.hooks.helpers import Trace, marker, processes_with, recorder, shell

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

ORDER = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop"]


def _ns(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def _without_pid_namespace(bundle: Bundle) -> None:
    linux = bundle.config["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "pid"]


def _with_trace(bundle: Bundle, tmp_path: Path) -> Trace:
    trace = Trace(tmp_path / "trace")
    bundle.config["mounts"].append(trace.mount())
    return trace


def _gone(fire: Fire, cid: str) -> None:
    """Nothing of the container is left: no state, no cgroup."""
    st = fire("state", cid)
    assert st.code == 1, st
    assert "container does not exist" in st.err
    assert cgroup_dirs_of(cid) == []


@pytest.mark.parametrize("pid_namespace", [True, False], ids=["pidns", "hostpid"])
def test_all_six_phases_in_spec_order_with_their_status_pid_and_namespace(
        fire: Fire, bundle: Bundle, tmp_path: Path, pid_namespace: bool) -> None:
    trace = _with_trace(bundle, tmp_path)
    if not pid_namespace:
        _without_pid_namespace(bundle)
    log = trace.host
    bundle.config["hooks"] = {
        "prestart": [recorder("prestart", log, argv0="first"),
                     recorder("prestart", log, argv0="second")],
        "createRuntime": [recorder("createRuntime", log),
                          {"path": "/usr/bin/env", "args": ["env"],
                           "env": ["A=1", "B=two words", "EMPTY="]}],
        "createContainer": [recorder("createContainer", log)],
        "startContainer": [recorder("startContainer", trace.inner, inner=True),
                           {"path": "/bin/env", "args": ["env"], "env": ["INSIDE=yes"]}],
        "poststart": [recorder("poststart", log)],
        "poststop": [recorder("poststop", log)],
    }
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    create_log = tmp_path / "create.log"
    start_log = tmp_path / "start.log"
    assert fire("--log", str(create_log), "create", "-b", str(bundle.path), cid).code == 0
    assert trace.phases() == ["prestart", "prestart", "createRuntime", "createContainer"]
    pid = fire.state(cid)["pid"]
    container_mnt, container_pidns = _ns(pid, "mnt"), _ns(pid, "pid")
    r = fire("--log", str(start_log), "start", cid)
    assert r.code == 0, r
    assert fire("kill", cid, "KILL").code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert fire("delete", cid).code == 0

    lines = trace.lines()
    assert [e["phase"] for e in lines] == ORDER[:1] + ORDER, "each phase once, in spec order"
    assert [e["argv0"] for e in lines[:2]] == ["first", "second"], "a phase's hooks in listed order"
    host_mnt, host_pidns = _ns("self", "mnt"), _ns("self", "pid")
    seen_pid = 1 if pid_namespace else pid
    for entry in lines:
        phase, state = entry["phase"], entry["state"]
        assert state["id"] == cid
        assert state["bundle"] == str(bundle.path)
        assert state["ociVersion"]
        expected = {"prestart": "created", "createRuntime": "created",
                    "createContainer": "created", "startContainer": "created",
                    "poststart": "running", "poststop": "stopped"}[phase]
        assert state["status"] == expected, entry
        if phase in ("createContainer", "startContainer"):
            assert state["pid"] == seen_pid, entry  # as seen from the container's pid ns
            assert entry["mnt"] == container_mnt, "in the container's mount namespace"
            assert entry["pidns"] == (container_pidns if pid_namespace else host_pidns)
        else:
            assert entry["mnt"] == host_mnt, "in the runtime's mount namespace"
            assert entry["pidns"] == host_pidns
            if phase == "poststop":
                assert "pid" not in state, "a stopped container has no pid"
            else:
                assert state["pid"] == pid, entry
    assert lines[0]["argv0"] != "/bin/sh", "args[0] is argv0, not the path"

    # Output goes to the log, a line at a time, naming the hook; env is exactly env.
    def env_of(path: Path, name: str) -> set[str]:
        prefix = f"{name}: "
        msgs = [json_or_text(line) for line in path.read_text().splitlines()]
        return {m[len(prefix):] for m in msgs if m.startswith(prefix)}

    assert env_of(create_log, "createRuntime hook #1 (/usr/bin/env)") == {
        "A=1", "B=two words", "EMPTY="}
    assert env_of(start_log, "startContainer hook #1 (/bin/env)") == {"INSIDE=yes"}


def json_or_text(line: str) -> str:
    """The message of one runc-style text log line (time=… level=… msg="…")."""
    if line.startswith("{"):
        return str(json.loads(line)["msg"])
    msg = line.split(" msg=", 1)[1]
    return str(json.loads(msg))


FATAL = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart"]


@pytest.mark.parametrize("phase", FATAL)
def test_a_failing_hook_stops_and_deletes_the_container_and_runs_poststop(
        fire: Fire, bundle: Bundle, tmp_path: Path, phase: str) -> None:
    trace = _with_trace(bundle, tmp_path)
    inner = phase == "startContainer"
    bundle.config["hooks"] = {
        phase: [shell("echo boom-$PHASE; exit 3", inner=inner, env=[f"PHASE={phase}"])],
        "poststop": [recorder("poststop", trace.host), recorder("poststop", trace.host)],
    }
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    path = "/bin/busybox" if inner else "/bin/sh"
    message = f"{phase} hook #0 ({path}) failed: exit status 3: boom-{phase}"
    if phase in ("prestart", "createRuntime", "createContainer"):
        r = fire("create", "-b", str(bundle.path), cid)
        assert r.code == 1, r
        assert message in r.err
        pid = None
    else:
        assert fire("create", "-b", str(bundle.path), cid).code == 0
        pid = fire.state(cid)["pid"]
        started = start_time(pid)
        r = fire("start", cid)
        assert r.code == 1, r
        assert message in r.err
    assert r.err.strip().splitlines()[-1] == f"fire: {message}", "the error is the last line"
    _gone(fire, cid)
    if pid is not None:
        assert start_time(pid) != started, "the container's process is stopped"
    poststop = trace.lines()
    assert [e["phase"] for e in poststop] == ["poststop", "poststop"], "poststop hooks ran"
    assert poststop[0]["state"]["status"] == "stopped"


def test_a_failing_poststop_hook_is_a_warning_and_delete_succeeds(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    trace = _with_trace(bundle, tmp_path)
    bundle.config["hooks"] = {"poststop": [
        shell("echo cannot-clean-up; exit 7"),
        {"path": "/nonexistent/hook"},
        recorder("poststop", trace.host),
    ]}
    bundle.args("true").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    r = fire("delete", cid)
    assert r.code == 0, r
    assert "poststop hook #0 (/bin/sh) failed: exit status 7: cannot-clean-up" in r.err
    assert "warning" in r.err
    assert "poststop hook #1 (/nonexistent/hook): cannot run it: No such file or directory" in r.err
    assert trace.phases() == ["poststop"], "the remaining hooks still ran"
    _gone(fire, cid)


def test_hooks_run_under_fire_run_and_a_poststart_failure_fails_it(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    trace = _with_trace(bundle, tmp_path)
    bundle.config["hooks"] = {"poststart": [shell("exit 9")],
                              "poststop": [recorder("poststop", trace.host)]}
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    start = time.monotonic()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 1, r
    assert time.monotonic() - start < 30, "the container was stopped, not waited for"
    assert "poststart hook #0 (/bin/sh) failed: exit status 9" in r.err
    assert trace.phases() == ["poststop"]
    _gone(fire, cid)


def test_json_log_ends_with_the_error_and_keeps_hook_output_on_success(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.args("true")
    bundle.config["hooks"] = {"createRuntime": [shell("echo said-hello")]}
    bundle.write()
    ok_log = tmp_path / "ok.json"
    cid = fire.unique_id()
    assert fire("--log", str(ok_log), "--log-format", "json", "create", "-b",
                str(bundle.path), cid).code == 0
    entries = [json.loads(line) for line in ok_log.read_text().splitlines()]
    assert {"level": "info", "msg": "createRuntime hook #0 (/bin/sh): said-hello"} in [
        {"level": e["level"], "msg": e["msg"]} for e in entries]
    assert fire("delete", cid).code == 0

    bundle.config["hooks"] = {"createRuntime": [shell("echo said-goodbye; exit 1")]}
    bundle.write()
    bad_log = tmp_path / "bad.json"
    cid = fire.unique_id()
    r = fire("--log", str(bad_log), "--log-format", "json", "create", "-b", str(bundle.path), cid)
    assert r.code == 1
    last = json.loads(bad_log.read_text().splitlines()[-1])
    assert last["level"] == "error"
    assert last["msg"] == "createRuntime hook #0 (/bin/sh) failed: exit status 1: said-goodbye"
    _gone(fire, cid)


def test_a_hook_that_cannot_be_run_fails_create(fire: Fire, bundle: Bundle) -> None:
    bundle.args("true")
    bundle.config["hooks"] = {"prestart": [{"path": "/nonexistent/hook"}]}
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "prestart hook #0 (/nonexistent/hook): cannot run it: No such file or directory" in r.err
    _gone(fire, cid)


def test_a_timeout_must_be_positive(fire: Fire, bundle: Bundle) -> None:
    bundle.args("true")
    bundle.config["hooks"] = {"poststop": [{"path": "/bin/true", "timeout": 0}]}
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "$.hooks.poststop[0].timeout" in r.err
    _gone(fire, cid)


# --------------------------------------------------------------------------- timeouts

SCRIPTS = {
    "sleep": "sleep {m}",
    "background": "sleep {m} & sleep {m}",
    "setsid": "setsid sleep {m} & sleep {m}",
    "double-fork": "(setsid sleep {m} &); (sh -c 'sleep {m} &' &); sleep {m}",
}

CASES: list[tuple[str, str, bool]] = [
    *(("createRuntime", script, True) for script in SCRIPTS),
    ("prestart", "setsid", True),
    ("createContainer", "setsid", True),
    ("createContainer", "double-fork", True),
    ("createContainer", "double-fork", False),
    ("startContainer", "double-fork", True),
    ("poststart", "double-fork", True),
    ("poststart", "setsid", False),
]


@pytest.mark.parametrize(("phase", "script", "pid_namespace"), CASES,
                         ids=[f"{p}-{s}-{'pidns' if n else 'hostpid'}" for p, s, n in CASES])
def test_a_hook_past_its_timeout_is_killed_with_everything_it_started(
        fire: Fire, bundle: Bundle, tmp_path: Path, phase: str, script: str,
        pid_namespace: bool) -> None:
    m = marker()
    inner = phase == "startContainer"
    if not pid_namespace:
        _without_pid_namespace(bundle)
    bundle.config["hooks"] = {phase: [shell(SCRIPTS[script].format(m=m), inner=inner,
                                            timeout=1)]}
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    path = "/bin/busybox" if inner else "/bin/sh"
    if phase in ("prestart", "createRuntime", "createContainer"):
        began = time.monotonic()
        r = fire("create", "-b", str(bundle.path), cid)
    else:
        assert fire("create", "-b", str(bundle.path), cid).code == 0
        began = time.monotonic()
        r = fire("start", cid)
    took = time.monotonic() - began
    assert r.code == 1, r
    assert f"{phase} hook #0 ({path}) ran past its timeout of 1s" in r.err
    assert took < 4, f"the timeout of 1 s took {took:.1f} s"
    assert processes_with(f"sleep {m}") == [], "a process the hook started is still running"
    _gone(fire, cid)


def test_a_create_failing_after_the_hook_steps_runs_poststop(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    """The program is looked up after the hooks: its absence still undoes what a
    createRuntime hook did, through the poststop hooks (steps 12-13)."""
    trace = _with_trace(bundle, tmp_path)
    bundle.config["hooks"] = {"createRuntime": [recorder("createRuntime", trace.host)],
                              "poststop": [recorder("poststop", trace.host)]}
    bundle.args("no-such-program").write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "executable file not found in $PATH" in r.err
    assert trace.phases() == ["createRuntime", "poststop"]
    _gone(fire, cid)


def test_a_create_failing_before_the_hook_steps_runs_no_hook(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    """runtime.md step 2: "unable to create the environment" is only an error."""
    trace = _with_trace(bundle, tmp_path)
    bundle.config["hooks"] = {"prestart": [recorder("prestart", trace.host)],
                              "poststop": [recorder("poststop", trace.host)]}
    bundle.config["mounts"].append({"destination": "/mnt", "type": "bind",
                                    "source": str(tmp_path / "missing"), "options": ["bind"]})
    bundle.args("true").write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1, r
    assert trace.phases() == []
    _gone(fire, cid)


def test_hooks_that_never_read_a_large_state_harm_neither_init_nor_run(
        fire: Fire, bundle: Bundle) -> None:
    """Regression: the init, which turns SIGPIPE into its own exit, died silently
    when a startContainer hook exited before its state was written — and `start`
    then reported success.  Under `fire run` the SIGPIPE would go to the container."""
    bundle.config["annotations"] = {"big": "x" * 300_000}
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/true", "args": ["true"]}],
                              "poststart": [{"path": "/bin/true"}]}
    bundle.args("sh", "-c", "sleep 0.5; exit 7").write()
    assert fire("run", "-b", str(bundle.path), fire.unique_id()).code == 7
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    assert fire("start", cid).code == 0
    assert fire.state(cid)["status"] == "running"
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert fire("delete", cid).code == 0
