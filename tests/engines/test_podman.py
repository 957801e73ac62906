"""podman 4.3 (with conmon) using Fire as its OCI runtime, for everyday operations.

Each test names its containers uniquely, removes them at the end, and checks in
Fire's call log that Fire ran them (runc and crun are never configured).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from tests.engines.conftest import PODMAN_IMAGE, Podman, Runtime, unique

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

IMAGE = PODMAN_IMAGE
NET = ("--network", "none")


@pytest.fixture
def names(podman: Podman) -> Iterator[list[str]]:
    """Container names a test uses; removed (forced) afterwards."""
    used: list[str] = []
    yield used
    for name in used:
        podman("rm", "--force", "--time", "0", name)


@pytest.fixture
def name(names: list[str]) -> str:
    n = unique("pm")
    names.append(n)
    return n


def _run_d(podman: Podman, name: str, *command: str, opts: tuple[str, ...] = ()) -> str:
    """``podman run -d``; returns the container's full id."""
    out = podman.check("run", "-d", *NET, "--name", name, *opts, IMAGE, *command)
    return out.strip().splitlines()[-1]


def _wait_for(predicate: object, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def _cid_from(cidfile: Path) -> str:
    return cidfile.read_text().strip()


# --------------------------------------------------------------------------- one-shots


def test_the_runtime_is_fire(podman: Podman, runtime: Runtime, name: str) -> None:
    cid = _run_d(podman, name, "sleep", "100")
    assert podman.check("inspect", "--format", "{{.OCIRuntime}}", name).strip() == "fire"
    runtime.assert_ran(cid)
    assert runtime.verbs(cid)[:2] == ["create", "start"]
    create = next(c for c in runtime.calls() if cid in c["argv"] and "create" in c["argv"])
    argv = create["argv"]
    assert argv[:2] == ["--log-format=json", "--log"], "runtime_supports_json lists fire"
    assert "--pid-file" in argv
    assert "--bundle" in argv


def test_one_shot_echo(podman: Podman, runtime: Runtime, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    r = podman("run", "--rm", *NET, "--cidfile", str(cidfile), IMAGE, "echo", "hello")
    assert (r.code, r.out) == (0, "hello\n"), r
    cid = _cid_from(cidfile)
    runtime.assert_ran(cid)
    cleanup = [c for c in runtime.calls() if cid in c["argv"] and "delete" in c["argv"]]
    assert cleanup, "podman deleted the container through fire"
    # podman's cleanup process calls the runtime with no PATH: the absolute
    # interpreter path on the script's first line is what lets it start.
    assert any(c["PATH"] is None for c in cleanup)
    assert podman("container", "exists", cid).code == 1, "--rm removed it"


def test_run_interactive_stdin(podman: Podman) -> None:
    r = podman("run", "--rm", "-i", *NET, IMAGE, "sh", "-c", "cat; echo done",
               input="through stdin\n")
    assert (r.code, r.out) == (0, "through stdin\ndone\n"), r


def test_run_it_through_a_pty(podman: Podman, runtime: Runtime, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    r = podman.pty("run", "--rm", "-it", *NET, "--cidfile", str(cidfile), IMAGE,
                   "sh", "-c", "tty; exit 3")
    assert r.code == 3, r
    assert "/dev/pts/" in r.out
    runtime.assert_ran(_cid_from(cidfile))
    create = next(c["argv"] for c in runtime.calls()
                  if _cid_from(cidfile) in c["argv"] and "create" in c["argv"])
    assert "--console-socket" in create


def test_tty_prints_a_pts_path(podman: Podman) -> None:
    r = podman("run", "--rm", "-t", *NET, IMAGE, "tty")
    assert r.code == 0, r
    assert r.out.strip().startswith("/dev/pts/")


@pytest.mark.parametrize("code", [0, 3, 5, 7, 42])
def test_exit_codes(podman: Podman, code: int) -> None:
    assert podman("run", "--rm", *NET, IMAGE, "sh", "-c", f"exit {code}").code == code


def test_exit_code_137_after_kill(podman: Podman, runtime: Runtime, name: str) -> None:
    cid = _run_d(podman, name, "sleep", "1000")
    podman.check("kill", name)
    assert podman.check("wait", name).strip() == "137"
    assert ["kill", cid, "9"] in runtime.calls_for(cid)


def test_missing_binary_is_127(podman: Podman, name: str) -> None:
    r = podman("run", "--rm", *NET, IMAGE, "no-such-program")
    assert r.code == 127, r
    assert "executable file not found" in r.err
    _run_d(podman, name, "sleep", "1000")
    r = podman("exec", name, "no-such-program")
    assert r.code == 127, r


def test_read_only_user_hostname(podman: Podman) -> None:
    r = podman("run", "--rm", *NET, "--read-only", IMAGE, "sh", "-c",
               "touch /x 2>&1; echo code=$?")
    assert "Read-only file system" in r.out
    assert "code=1" in r.out
    r = podman("run", "--rm", *NET, "--user", "1000:1000", IMAGE, "id")
    assert r.out.startswith("uid=1000(user) gid=1000(user)"), r
    r = podman("run", "--rm", *NET, "--hostname", "fire-test", IMAGE, "hostname")
    assert r.out == "fire-test\n", r


# --------------------------------------------------------------------------- detached


def test_run_d_exec_stop_rm(podman: Podman, runtime: Runtime, name: str) -> None:
    cid = _run_d(podman, name, "sleep", "1000")
    r = podman("exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000", name,
               "sh", "-c", 'echo "$FOO"; pwd; id -u')
    assert (r.code, r.out) == (0, "bar\n/tmp\n1000\n"), r
    assert podman("exec", name, "sh", "-c", "exit 9").code == 9
    podman.check("exec", "-d", name, "sleep", "500")
    assert _wait_for(lambda: "sleep 500" in podman.check("top", name))
    execs = [argv for argv in runtime.calls_for(cid) if argv[0] == "exec"]
    assert len(execs) >= 3
    assert all("--detach" in argv and "--process" in argv and "--pid-file" in argv
               for argv in execs), "conmon runs every exec detached, from a process file"
    podman.check("stop", "--time", "1", name)
    assert podman.check("inspect", "--format", "{{.State.Status}}", name).strip() == "exited"
    podman.check("rm", name)
    assert podman("container", "exists", name).code == 1
    verbs = runtime.verbs(cid)
    assert "kill" in verbs
    assert "delete" in verbs


def test_exec_it_through_a_pty(podman: Podman, runtime: Runtime, name: str) -> None:
    cid = _run_d(podman, name, "sleep", "1000")
    r = podman.pty("exec", "-it", name, "sh", "-c", "tty; exit 4")
    assert r.code == 4, r
    assert "/dev/pts/" in r.out
    tty_exec = [argv for argv in runtime.calls_for(cid) if argv[0] == "exec" and "--tty" in argv]
    assert tty_exec
    assert "--console-socket" in tty_exec[-1]


def test_restart(podman: Podman, name: str) -> None:
    _run_d(podman, name, "sleep", "1000")
    first = podman.check("inspect", "--format", "{{.State.Pid}}", name).strip()
    podman.check("restart", "--time", "0", name)
    assert podman.check("inspect", "--format", "{{.State.Status}}", name).strip() == "running"
    second = podman.check("inspect", "--format", "{{.State.Pid}}", name).strip()
    assert second != first
    assert podman("exec", name, "true").code == 0


def test_create_start_attach_and_logs(podman: Podman, name: str) -> None:
    podman.check("create", *NET, "--name", name, IMAGE, "sh", "-c",
                 "echo to-stdout; echo to-stderr >&2; exit 5")
    r = podman("start", "--attach", name)
    assert r.code == 5, r
    assert "to-stdout" in r.out
    logs = podman("logs", name)
    assert logs.out == "to-stdout\n"
    assert logs.err == "to-stderr\n"


def test_kill_usr1_reaches_a_trap(podman: Podman, runtime: Runtime, name: str) -> None:
    cid = _run_d(podman, name, "sh", "-c",
                 'trap "echo got USR1" USR1; echo ready; while :; do sleep 0.1; done')
    assert _wait_for(lambda: "ready" in podman.check("logs", name))
    podman.check("kill", "--signal", "USR1", name)
    assert _wait_for(lambda: "got USR1" in podman.check("logs", name))
    assert ["kill", cid, "10"] in runtime.calls_for(cid)


def test_stop_a_pid_host_container_kills_all(podman: Podman, runtime: Runtime, name: str
                                            ) -> None:
    cid = _run_d(podman, name, "sleep", "1000", opts=("--pid", "host"))
    podman.check("stop", "--time", "10", name)
    assert podman.check("inspect", "--format", "{{.State.Status}}", name).strip() == "exited"
    assert ["kill", "--all", cid, "15"] in runtime.calls_for(cid)


def test_top_and_stats(podman: Podman, name: str) -> None:
    _run_d(podman, name, "sh", "-c", "sleep 1000 & sleep 1001 & wait")
    assert _wait_for(lambda: "sleep 1001" in podman.check("top", name))
    top = podman.check("top", name)
    assert "sleep 1000" in top
    stats = podman.check("stats", "--no-stream", "--format", "{{.PIDs}}", name)
    assert int(stats.strip()) >= 3  # sh and its two sleeps


def test_resources_are_seen_in_the_cgroup(podman: Podman, name: str) -> None:
    _run_d(podman, name, "sleep", "1000",
           opts=("--memory", "64m", "--cpus", "0.5", "--pids-limit", "50"))
    script = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max; "
              "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; "
              "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max; true")
    out = podman.check("exec", name, "sh", "-c", f"({script}) 2>/dev/null")
    assert str(64 * 1024 * 1024) in out.split()
    assert "50" in out.split()
    assert "50000" in out.split() or "50000 100000" in out


def test_pause_unpause(podman: Podman, runtime: Runtime, name: str) -> None:
    cid = _run_d(podman, name, "sleep", "1000")
    podman.check("pause", name)
    assert podman.check("inspect", "--format", "{{.State.Status}}", name).strip() == "paused"
    podman.check("unpause", name)
    assert podman.check("inspect", "--format", "{{.State.Status}}", name).strip() == "running"
    assert podman("exec", name, "true").code == 0
    verbs = runtime.verbs(cid)
    assert "pause" in verbs
    assert "resume" in verbs


def test_update(podman: Podman, runtime: Runtime, name: str) -> None:
    cid = _run_d(podman, name, "sleep", "1000", opts=("--memory", "64m"))
    podman.check("update", "--memory", "96m", name)
    out = podman.check("exec", name, "sh", "-c",
                       "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                       "/sys/fs/cgroup/memory.max 2>/dev/null; true")
    assert str(96 * 1024 * 1024) in out.split()
    assert any(argv[0] == "update" and any(a.startswith("--resources") for a in argv)
               for argv in runtime.calls_for(cid))
