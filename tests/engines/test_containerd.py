"""containerd 1.6's runc v2 shim, driven by ``ctr``, using Fire as its runtime.

A private containerd (own root, state and socket; fixture ``containerd``) runs for
the session.  ``ctr run`` is told ``--runc-binary`` = Fire; anything else the shim
would run as "runc" is Fire too (see the fixture).  Each test checks Fire's call
log for the container, and the shim's exact calls where the contract matters.
ctr has no restart, logs, update, --user or --hostname for ``run``: those
scenarios are podman's only.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from tests.engines.conftest import CTR_IMAGE, Containerd, Runtime, unique

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

IMAGE = CTR_IMAGE


@pytest.fixture
def ids(containerd: Containerd) -> Iterator[list[str]]:
    used: list[str] = []
    yield used
    for cid in used:
        if cid in containerd("container", "ls", "--quiet").out.split():
            containerd.remove(cid)


@pytest.fixture
def cid(ids: list[str]) -> str:
    name = unique("ctr")
    ids.append(name)
    return name


def _run(containerd: Containerd, *args: str, input: str | None = None) -> tuple[int, str, str]:
    """``ctr run`` with Fire; (exit code, stdout, stderr)."""
    r = containerd("run", *containerd.runc, *args, input=input)
    return r.code, r.out, r.err


def _run_d(containerd: Containerd, cid: str, *command: str, opts: tuple[str, ...] = ()) -> None:
    code, out, err = _run(containerd, "--detach", *opts, IMAGE, cid, *command)
    assert code == 0, (out, err)


def _task_status(containerd: Containerd, cid: str) -> str:
    for line in containerd.check("task", "ls").splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == cid:
            return fields[-1]
    return ""


def _wait_for(predicate: object, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def _calls_with_rc(runtime: Runtime, cid: str) -> list[tuple[list[str], int]]:
    from tests.engines.conftest import _command_part

    return [(_command_part(c["argv"]), c["rc"]) for c in runtime.calls() if cid in c["argv"]]


# --------------------------------------------------------------------------- one-shots


def test_one_shot_echo_and_the_shims_calls(containerd: Containerd, runtime: Runtime, cid: str
                                           ) -> None:
    code, out, err = _run(containerd, "--rm", IMAGE, cid, "echo", "hello")
    assert (code, out) == (0, "hello\n"), err
    runtime.assert_ran(cid)
    calls = [c["argv"] for c in runtime.calls() if cid in c["argv"]]
    create = next(argv for argv in calls if "create" in argv)
    # --root R --log B/log.json --log-format json create --bundle B --pid-file F ID
    assert create[0] == "--root"
    assert create[2] == "--log"
    assert create[3].endswith("/log.json")
    assert create[4:6] == ["--log-format", "json"]
    assert create[6] == "create"
    assert "--bundle" in create
    assert "--pid-file" in create
    # After the task exits the shim deletes it, then force-deletes a container
    # that is already gone: both must succeed.
    deletes = [(argv, rc) for argv, rc in _calls_with_rc(runtime, cid) if argv[0] == "delete"]
    assert (["delete", cid], 0) in deletes
    assert (["delete", "--force", cid], 0) in deletes
    assert cid not in containerd.check("container", "ls", "--quiet").split(), "--rm"


def test_run_with_stdin(containerd: Containerd, cid: str) -> None:
    # One line, not "until EOF": ctr never closes the task's stdin (with runc neither).
    code, out, err = _run(containerd, "--rm", IMAGE, cid, "sh", "-c", "head -n 1; echo done",
                          input="through stdin\n")
    assert (code, out) == (0, "through stdin\ndone\n"), err


def test_run_t_through_a_pty(containerd: Containerd, runtime: Runtime, cid: str) -> None:
    r = containerd.pty("run", *containerd.runc, "--rm", "--tty", IMAGE, cid,
                       "sh", "-c", "tty; exit 3")
    assert r.code == 3, r
    assert "/dev/pts/" in r.out
    create = next(argv for argv in runtime.calls_for(cid) if argv[0] == "create")
    assert "--console-socket" in create


@pytest.mark.parametrize("code", [0, 3, 5, 7, 42])
def test_exit_codes(containerd: Containerd, cid: str, code: int) -> None:
    assert _run(containerd, "--rm", IMAGE, cid, "sh", "-c", f"exit {code}")[0] == code


def test_exit_code_137_after_kill(containerd: Containerd, runtime: Runtime, cid: str) -> None:
    foreground = subprocess.Popen([*containerd.argv, "run", *containerd.runc, "--rm", IMAGE,
                                   cid, "sleep", "1000"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: _task_status(containerd, cid) == "RUNNING")
        containerd.check("task", "kill", "--signal", "SIGKILL", cid)
        assert foreground.wait(timeout=60) == 137
    finally:
        if foreground.poll() is None:
            foreground.kill()
            foreground.wait()
    assert ["kill", cid, "9"] in runtime.calls_for(cid)


def test_missing_binary(containerd: Containerd, cid: str) -> None:
    code, _, err = _run(containerd, "--rm", IMAGE, cid, "no-such-program")
    assert code != 0
    assert "executable file not found" in err


def test_read_only(containerd: Containerd, cid: str) -> None:
    code, out, _ = _run(containerd, "--rm", "--read-only", IMAGE, cid, "sh", "-c",
                        "touch /x 2>&1; echo code=$?")
    assert code == 0
    assert "Read-only file system" in out
    assert "code=1" in out


# --------------------------------------------------------------------------- detached


def test_run_d_exec_kill_delete(containerd: Containerd, runtime: Runtime, cid: str) -> None:
    _run_d(containerd, cid, "sleep", "1000", opts=("--env", "FOO=bar"))
    r = containerd("task", "exec", "--exec-id", "e1", "--cwd", "/tmp", "--user", "1000", cid,
                   "sh", "-c", 'echo "$FOO"; pwd; id -u')
    assert (r.code, r.out) == (0, "bar\n/tmp\n1000\n"), r
    assert containerd("task", "exec", "--exec-id", "e2", cid, "sh", "-c", "exit 9").code == 9
    missing = containerd("task", "exec", "--exec-id", "e3", cid, "no-such-program")
    assert missing.code != 0
    assert "executable file not found" in missing.err
    containerd.check("task", "exec", "--detach", "--exec-id", "e4", cid, "sleep", "500")
    assert _wait_for(lambda: len(containerd.check("task", "ps", cid).splitlines()) >= 3)
    execs = [argv for argv in runtime.calls_for(cid) if argv[0] == "exec"]
    assert len(execs) >= 4
    # exec --process P --detach --pid-file F ID
    assert all("--process" in a and "--detach" in a and "--pid-file" in a for a in execs)
    containerd.check("task", "kill", "--signal", "SIGKILL", cid)
    assert _wait_for(lambda: _task_status(containerd, cid) == "STOPPED")
    containerd.check("task", "delete", cid)
    containerd.check("container", "delete", cid)
    assert ["kill", cid, "9"] in runtime.calls_for(cid)


def test_exec_t_through_a_pty(containerd: Containerd, runtime: Runtime, cid: str) -> None:
    _run_d(containerd, cid, "sleep", "1000")
    r = containerd.pty("task", "exec", "--tty", "--exec-id", "t1", cid, "sh", "-c",
                       "tty; exit 4")
    assert r.code == 4, r
    assert "/dev/pts/" in r.out
    tty_exec = [a for a in runtime.calls_for(cid) if a[0] == "exec" and "--console-socket" in a]
    assert tty_exec, "the shim passes a console socket for a tty exec"


def test_create_then_start(containerd: Containerd, runtime: Runtime, cid: str) -> None:
    # `ctr container create` cannot name a runtime binary: the shim runs "runc",
    # which is Fire in this containerd (see the fixture).
    containerd.check("container", "create", IMAGE, cid, "--", "sh", "-c",
                     "echo started; exit 5")
    r = containerd("task", "start", cid)
    assert r.code == 5, r
    assert r.out == "started\n"
    runtime.assert_ran(cid)


def test_kill_usr1_reaches_a_trap(containerd: Containerd, runtime: Runtime, cid: str,
                                  tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    _run_d(containerd, cid, "sh", "-c",
           'trap "echo got USR1" USR1; echo ready; while :; do sleep 0.1; done',
           opts=("--log-uri", f"file://{log}"))
    assert _wait_for(lambda: log.exists() and "ready" in log.read_text())
    containerd.check("task", "kill", "--signal", "SIGUSR1", cid)
    assert _wait_for(lambda: "got USR1" in log.read_text())
    assert ["kill", cid, "10"] in runtime.calls_for(cid)


def test_kill_all_stops_a_host_pid_namespace_container(containerd: Containerd,
                                                       runtime: Runtime, cid: str) -> None:
    # The host's pid namespace, named through a process of ours (pid 1's may be
    # unreadable, as on this machine).
    host_pid_ns = f"pid:/proc/{os.getpid()}/ns/pid"
    _run_d(containerd, cid, "sleep", "1000", opts=("--with-ns", host_pid_ns))
    containerd.check("task", "kill", "--all", "--signal", "SIGTERM", cid)
    assert _wait_for(lambda: _task_status(containerd, cid) == "STOPPED")
    assert ["kill", "--all", cid, "15"] in runtime.calls_for(cid)


def test_task_ps_and_metrics(containerd: Containerd, runtime: Runtime, cid: str) -> None:
    _run_d(containerd, cid, "sh", "-c", "sleep 1000 & sleep 1001 & wait")
    assert _wait_for(lambda: len(containerd.check("task", "ps", cid).splitlines()) == 4)
    assert (["ps", "--format", "json", cid], 0) in _calls_with_rc(runtime, cid)
    metrics = containerd.check("task", "metrics", cid)
    pids = next(line.split()[1] for line in metrics.splitlines()
                if line.startswith("pids.current"))
    assert int(pids) == 3


def test_resources_are_seen_in_the_cgroup(containerd: Containerd, cid: str) -> None:
    _run_d(containerd, cid, "sleep", "1000",
           opts=("--memory-limit", str(64 * 1024 * 1024), "--cpus", "0.5"))
    metrics = containerd.check("task", "metrics", cid)
    limit = next(line.split()[1] for line in metrics.splitlines()
                 if line.startswith(("memory.limit_in_bytes", "memory.usage.limit")))
    assert int(limit) == 64 * 1024 * 1024
    assert _cpu_quota(_task_pid(containerd, cid)) == 50000


def _task_pid(containerd: Containerd, cid: str) -> int:
    for line in containerd.check("task", "ls").splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == cid:
            return int(fields[1])
    raise AssertionError(f"no task {cid}")


def _cpu_quota(pid: int) -> int:
    """The CFS quota of ``pid``'s cgroup, read on the host (v1 cpu.cfs_quota_us or
    v2 cpu.max): ctr's default spec mounts no cgroupfs to look at from inside."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    for _, controllers, path in lines:
        if "cpu" in controllers.split(","):
            base = next(m for m in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct")
                        if os.path.exists(m + path + "/cpu.cfs_quota_us"))
            with open(base + path + "/cpu.cfs_quota_us") as q:
                return int(q.read())
    for _, controllers, path in lines:
        if controllers == "":
            with open(f"/sys/fs/cgroup{path}/cpu.max") as q:
                return int(q.read().split()[0])
    raise AssertionError(f"no cpu cgroup for {pid}")


def test_pause_resume(containerd: Containerd, runtime: Runtime, cid: str) -> None:
    _run_d(containerd, cid, "sleep", "1000")
    containerd.check("task", "pause", cid)
    assert _task_status(containerd, cid) == "PAUSED"
    containerd.check("task", "resume", cid)
    assert _task_status(containerd, cid) == "RUNNING"
    verbs = runtime.verbs(cid)
    assert "pause" in verbs
    assert "resume" in verbs
