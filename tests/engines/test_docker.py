"""Docker 20.10 (Debian's docker.io: dockerd, its managed containerd, the runc v2
shim) with Fire registered as the runtime ``fire`` in daemon.json.

Every scenario runs twice: ``--runtime fire`` and ``--runtime runc``, Docker's
built-in reference; what is asserted holds for both.  For Fire, the call log also
proves Fire (not runc) ran the container and shows the engine's contract (exec
with ``--detach``, ``update -r -``, ``pause``…).  One daemon serves the session;
each test names its containers uniquely and removes them at the end, and the
session checks that stopping the daemon left no process, mount or cgroup behind.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest

from tests.engines.conftest import DOCKER_IMAGE, Docker, Runtime, unique

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

IMAGE = DOCKER_IMAGE
MiB = 1 << 20
FOREVER = ("sleep", "1000")


@pytest.fixture(params=["fire", "runc"])
def rt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Scenario:
    """One test's containers on one runtime: names them, runs them, removes them."""

    def __init__(self, docker: Docker, runtime: Runtime, rt: str) -> None:
        self.docker = docker
        self.runtime = runtime
        self.rt = rt
        self.names: list[str] = []

    def name(self) -> str:
        n = unique("dk")
        self.names.append(n)
        return n

    def run(self, *args: str, name: str | None = None, input: str | None = None
            ) -> tuple[str, int, str]:
        """``docker run`` (foreground unless ``-d`` is in ``args``); returns the
        container's name, the exit code and stdout."""
        name = name or self.name()
        r = self.docker("run", "--runtime", self.rt, "--name", name, *args, input=input)
        self.ran(name)
        return name, r.code, r.out

    def detached(self, *args: str, command: tuple[str, ...] = FOREVER) -> str:
        name = self.name()
        r = self.docker("run", "-d", "--runtime", self.rt, "--name", name, *args, IMAGE,
                        *command)
        assert r.code == 0, r
        self.ran(name)
        return name

    def ran(self, name: str) -> None:
        """The container ran on the runtime asked for (Fire: its call log says so)."""
        assert self.docker.inspect(name, "{{.HostConfig.Runtime}}") == self.rt
        if self.rt == "fire":
            self.runtime.assert_ran(self.id(name))

    def id(self, name: str) -> str:
        return self.docker.inspect(name, "{{.Id}}")

    def exec(self, name: str, *command: str) -> str:
        return self.docker.check("exec", name, *command)

    def fire_verbs(self, name: str) -> list[str]:
        return self.runtime.verbs(self.id(name)) if self.rt == "fire" else []

    def remove(self) -> None:
        if self.names:
            self.docker("rm", "--force", *self.names)


@pytest.fixture
def sc(docker: Docker, runtime: Runtime, rt: str) -> Iterator[Scenario]:
    s = Scenario(docker, runtime, rt)
    yield s
    s.remove()


def _wait_for(predicate: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _cg(controller: str, file: str) -> str:
    """A cgroup file as the container sees it (Docker mounts its own cgroup there)."""
    return f"/sys/fs/cgroup/{controller}/{file}"


# --------------------------------------------------------------------------- run, exec


def test_run_output_and_exit_codes(sc: Scenario) -> None:
    _, code, out = sc.run(IMAGE, "echo", "hello")
    assert (code, out) == (0, "hello\n")
    for wanted in (3, 42):
        name, code, _ = sc.run(IMAGE, "sh", "-c", f"exit {wanted}")
        assert code == wanted
        assert sc.docker.inspect(name, "{{.State.ExitCode}}") == str(wanted)
    _, code, out = sc.run("-i", IMAGE, "sh", "-c", "cat; echo done", input="in\n")
    assert (code, out) == (0, "in\ndone\n")


def test_run_it_through_a_pty(sc: Scenario) -> None:
    name = sc.name()
    r = sc.docker.pty("run", "-it", "--runtime", sc.rt, "--name", name, IMAGE,
                      "sh", "-c", "tty; exit 3")
    assert r.code == 3, r
    assert "/dev/pts/0" in r.out
    sc.ran(name)
    if sc.rt == "fire":
        create = next(argv for argv in sc.runtime.calls_for(sc.id(name)) if argv[0] == "create")
        assert "--console-socket" in create


def test_detached_exec_and_logs(sc: Scenario) -> None:
    name = sc.detached(command=("sh", "-c", "echo started; echo oops >&2; sleep 1000"))
    out = sc.exec(name, "sh", "-c", "echo $FOO")
    assert out == "\n"
    out = sc.docker.check("exec", "-u", "1000:1000", "-w", "/tmp", "-e", "FOO=bar", name,
                          "sh", "-c", "id -u; id -g; pwd; echo $FOO")
    assert out.split() == ["1000", "1000", "/tmp", "bar"]
    assert sc.docker("exec", name, "sh", "-c", "exit 5").code == 5
    r = sc.docker.pty("exec", "-it", name, "sh", "-c", "tty; exit 4")
    assert r.code == 4, r
    assert "/dev/pts/" in r.out
    assert _wait_for(lambda: "started" in sc.docker("logs", name).out)
    logs = sc.docker("logs", name)
    assert (logs.out, logs.err) == ("started\n", "oops\n")
    if sc.rt == "fire":
        execs = [argv for argv in sc.runtime.calls_for(sc.id(name)) if argv[0] == "exec"]
        assert len(execs) >= 4
        assert all("--detach" in argv and "--process" in argv for argv in execs)


# --------------------------------------------------------------------------- limits


LIMITS = ("--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--cpu-shares", "512",
          "--cpuset-cpus", "0", "--pids-limit", "33")
LIMIT_FILES = (_cg("memory", "memory.limit_in_bytes"), _cg("memory", "memory.memsw.limit_in_bytes"),
               _cg("cpu", "cpu.cfs_quota_us"), _cg("cpu", "cpu.cfs_period_us"),
               _cg("cpu", "cpu.shares"), _cg("cpuset", "cpuset.cpus"), _cg("pids", "pids.max"),
               _cg("memory", "memory.soft_limit_in_bytes"))


def _limits(sc: Scenario, name: str) -> list[str]:
    return sc.exec(name, "cat", *LIMIT_FILES).split()


def test_limits_are_visible_inside(sc: Scenario) -> None:
    _, code, out = sc.run(*LIMITS, IMAGE, "cat", *LIMIT_FILES)
    assert code == 0, out
    assert out.split()[:7] == [str(64 * MiB), str(128 * MiB), "50000", "100000", "512", "0",
                               "33"]


def test_docker_update_of_each_limit(sc: Scenario) -> None:
    """docker update sends the whole resources object with 0 for "not set": only
    the flag given changes."""
    name = sc.detached(*LIMITS)
    expected = _limits(sc, name)
    for flags, changes in (
            (("--memory", "96m", "--memory-swap", "192m"),
             {0: str(96 * MiB), 1: str(192 * MiB)}),
            (("--memory-swap", "256m"), {1: str(256 * MiB)}),
            (("--memory-reservation", "32m"), {7: str(32 * MiB)}),
            (("--cpus", "0.25"), {2: "25000", 3: "100000"}),
            (("--cpu-shares", "256"), {4: "256"}),
            (("--cpuset-cpus", "0"), {}),
            (("--pids-limit", "20"), {6: "20"}),
            (("--pids-limit", "-1"), {6: "max"})):
        r = sc.docker("update", *flags, name)
        assert r.code == 0, (flags, r)
        for index, value in changes.items():
            expected[index] = value
        assert _limits(sc, name) == expected, flags
    # --cpu-quota / --cpu-period on a container started without --cpus.
    plain = sc.detached()
    sc.docker.check("update", "--cpu-quota", "30000", plain)
    assert sc.exec(plain, "cat", _cg("cpu", "cpu.cfs_quota_us")).strip() == "30000"
    sc.docker.check("update", "--cpu-period", "60000", plain)
    assert sc.exec(plain, "cat", _cg("cpu", "cpu.cfs_quota_us"), _cg("cpu", "cpu.cfs_period_us")
                   ).split() == ["30000", "60000"]
    if sc.rt == "fire":
        updates = [argv for argv in sc.runtime.calls_for(sc.id(name)) if argv[0] == "update"]
        assert len(updates) == 8
        assert all(argv[1:3] == ["--resources", "-"] for argv in updates)


# --------------------------------------------------------------------------- lifecycle


def test_pause_and_unpause(sc: Scenario) -> None:
    name = sc.detached()
    freezer = os.path.join(sc.docker.cgroup_dir("freezer", sc.id(name)), "freezer.state")
    sc.docker.check("pause", name)
    assert sc.docker.inspect(name, "{{.State.Status}}") == "paused"
    with open(freezer) as f:
        assert f.read().strip() == "FROZEN"
    sc.docker.check("unpause", name)
    assert sc.docker.inspect(name, "{{.State.Status}}") == "running"
    with open(freezer) as f:
        assert f.read().strip() == "THAWED"
    assert sc.exec(name, "echo", "alive") == "alive\n"
    if sc.rt == "fire":
        assert {"pause", "resume"} <= set(sc.fire_verbs(name))


def test_stop_kill_and_restart(sc: Scenario) -> None:
    trap = sc.detached(command=("sh", "-c", "trap 'exit 42' TERM; trap 'exit 9' USR1; "
                                "echo ready; while true; do sleep 0.1; done"))
    assert _wait_for(lambda: "ready" in sc.docker("logs", trap).out)
    sc.docker.check("stop", trap)
    assert sc.docker.inspect(trap, "{{.State.ExitCode}}") == "42"

    sc.docker.check("start", trap)
    assert _wait_for(lambda: sc.docker("logs", trap).out.count("ready") == 2)
    sc.docker.check("kill", "--signal", "USR1", trap)
    assert sc.docker.check("wait", trap).strip() == "9"

    name = sc.detached()
    pid = sc.docker.inspect(name, "{{.State.Pid}}")
    sc.docker.check("restart", "--time", "1", name)
    assert sc.docker.inspect(name, "{{.State.Status}}") == "running"
    assert sc.docker.inspect(name, "{{.State.Pid}}") != pid
    sc.docker.check("kill", name)
    assert sc.docker.check("wait", name).strip() == "137"
    if sc.rt == "fire":
        assert sc.fire_verbs(name).count("create") == 2


def test_restart_on_failure(sc: Scenario) -> None:
    name = sc.detached("--restart", "on-failure:2", command=("sh", "-c", "exit 3"))
    assert _wait_for(lambda: sc.docker.inspect(
        name, "{{.State.Status}} {{.RestartCount}}") == "exited 2", timeout=60)
    assert sc.docker.inspect(name, "{{.State.ExitCode}}") == "3"
    if sc.rt == "fire":
        assert sc.fire_verbs(name).count("create") == 3


def test_oom_killed_exit_137(sc: Scenario) -> None:
    # The shim watches the cgroup for OOM only once `start` has returned: a program
    # that runs out of memory at once races it (runc too, seen here).  Hence the nap.
    name, code, _ = sc.run("--memory", "16m", "--memory-swap", "16m", IMAGE, "sh", "-c",
                           "sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1")
    assert code == 137
    assert sc.docker.inspect(name, "{{.State.OOMKilled}} {{.State.ExitCode}}") == "true 137"


def test_init(sc: Scenario) -> None:
    _, code, out = sc.run("--init", IMAGE, "sh", "-c",
                          "tr '\\0' ' ' < /proc/1/cmdline; echo; exit 6")
    assert code == 6
    assert out.split()[:2] == ["/sbin/docker-init", "--"]


def test_read_only_with_a_tmpfs(sc: Scenario) -> None:
    _, code, out = sc.run("--read-only", "--tmpfs", "/scratch", IMAGE, "sh", "-c",
                          "touch /x 2>/dev/null && echo wrote-rootfs; "
                          "echo t > /scratch/a && cat /scratch/a; "
                          "grep ' / ' /proc/mounts | grep -c ' ro,'; grep -c ' /scratch tmpfs' "
                          "/proc/mounts")
    assert code == 0
    assert out.split() == ["t", "1", "1"]


def test_ulimits(sc: Scenario) -> None:
    _, code, out = sc.run("--ulimit", "nofile=512:700", "--ulimit", "nproc=100:100", IMAGE,
                          "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u")
    assert (code, out.split()) == (0, ["512", "700", "100"])
    # Above fs.nr_open: refused by the kernel, even to CAP_SYS_RESOURCE.  It fails
    # create (runc's moment), and Fire's error names the field.
    with open("/proc/sys/fs/nr_open") as f:
        too_many = int(f.read()) + 1
    name = sc.name()
    r = sc.docker("run", "--runtime", sc.rt, "--name", name, "--ulimit",
                  f"nofile={too_many}:{too_many}", IMAGE, "true")
    assert r.code == 125, r
    assert "OCI runtime create failed" in r.err
    if sc.rt == "fire":
        assert "$.process.rlimits[0]: cannot set RLIMIT_NOFILE" in r.err


# --------------------------------------------------------------------------- security


def _status(out: str) -> dict[str, str]:
    fields = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_capabilities_user_and_no_new_privileges(sc: Scenario) -> None:
    _, code, out = sc.run("--cap-drop", "ALL", "--cap-add", "NET_RAW", IMAGE,
                          "cat", "/proc/self/status")
    status = _status(out)
    assert code == 0
    assert (status["CapEff"], status["CapBnd"], status["CapPrm"]) == ("0000000000002000",) * 3
    _, code, out = sc.run("--cap-add", "SYS_TIME", IMAGE, "cat", "/proc/self/status")
    assert int(_status(out)["CapBnd"], 16) & (1 << 25), "CAP_SYS_TIME added"
    _, code, out = sc.run("--user", "1000:1000", IMAGE, "sh", "-c", "id -u; id -g")
    assert (code, out.split()) == (0, ["1000", "1000"])
    _, code, out = sc.run("--security-opt", "no-new-privileges", IMAGE, "cat",
                          "/proc/self/status")
    assert _status(out)["NoNewPrivs"] == "1"
    # --privileged asks for every capability.  Where root's bounding set lacks some
    # (CAP_SYS_RESOURCE here), runc refuses to start; Fire warns and grants what
    # it has (runtime-spec 1.1+): those of the host's own bounding set.
    with open("/proc/self/status") as f:
        host = _status(f.read())["CapBnd"]
    name = sc.name()
    r = sc.docker("run", "--runtime", sc.rt, "--name", name, "--privileged", IMAGE,
                  "cat", "/proc/self/status")
    if sc.rt == "fire" or r.code == 0:
        assert r.code == 0, r
        # Docker 20.10 knows the capabilities up to CAP_AUDIT_READ (37).
        assert int(_status(r.out)["CapEff"], 16) == int(host, 16) & ((1 << 38) - 1)
    else:
        assert int(host, 16) != (1 << 41) - 1, "runc refused although the host has every cap"
        assert "unable to apply caps" in r.err


def test_seccomp_default_profile_and_unconfined(sc: Scenario) -> None:
    _, code, out = sc.run(IMAGE, "cat", "/proc/self/status")
    assert (code, _status(out)["Seccomp"]) == (0, "2")
    # Docker's profile refuses unshare(2) without CAP_SYS_ADMIN: EPERM from the filter.
    _, code, out = sc.run("--cap-add", "SYS_ADMIN", "--security-opt", "apparmor=unconfined",
                          IMAGE, "sh", "-c", "unshare -U true && echo allowed")
    assert "allowed" in out, "with SYS_ADMIN the profile lets unshare through"
    _, code, out = sc.run(IMAGE, "sh", "-c", "unshare -U true 2>&1; echo rc=$?")
    assert "rc=0" not in out, out
    _, code, out = sc.run("--security-opt", "seccomp=unconfined", IMAGE, "cat",
                          "/proc/self/status")
    assert (code, _status(out)["Seccomp"]) == (0, "0")
    _, code, out = sc.run("--security-opt", "seccomp=unconfined", IMAGE, "sh", "-c",
                          "unshare -U true && echo allowed")
    assert "allowed" in out


# --------------------------------------------------------------------------- namespaces


NAMESPACES = "for n in pid ipc net; do readlink /proc/self/ns/$n; done"


def _ns(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


def test_host_and_shared_namespaces(sc: Scenario) -> None:
    _, _, out = sc.run("--pid", "host", "--ipc", "host", "--network", "host", IMAGE,
                       "sh", "-c", NAMESPACES)
    assert out.split() == [_ns("pid"), _ns("ipc"), _ns("net")]
    _, _, out = sc.run(IMAGE, "sh", "-c", NAMESPACES)
    assert len(out.split()) == 3
    assert not set(out.split()) & {_ns("pid"), _ns("ipc"), _ns("net")}
    _, code, out = sc.run("--network", "none", IMAGE, "ls", "/sys/class/net")
    assert (code, out.split()) == (0, ["lo"])
    first = sc.detached("--network", "none")
    _, code, out = sc.run("--network", f"container:{first}", IMAGE, "readlink",
                          "/proc/self/ns/net")
    assert code == 0
    assert out == sc.exec(first, "readlink", "/proc/self/ns/net")


# --------------------------------------------------------------------------- observing


def test_stats_top_healthcheck_and_cp(sc: Scenario, tmp_path: Path) -> None:
    name = sc.detached("--memory", "64m", "--health-cmd", "test -e /tmp/ok",
                       "--health-interval", "1s", "--health-retries", "1")
    stats = sc.docker.check("stats", "--no-stream", "--format",
                            "{{.Name}} {{.PIDs}} {{.MemUsage}}", name).split()
    assert stats[0] == name
    assert int(stats[1]) >= 1  # sleep, and any health check running at that moment
    assert stats[-1] == "64MiB"
    top = sc.docker.check("top", name)
    assert "sleep 1000" in top

    # The health check runs through exec: unhealthy until /tmp/ok exists.
    assert _wait_for(lambda: sc.docker.inspect(name, "{{.State.Health.Status}}")
                     == "unhealthy", timeout=60)
    source = tmp_path / "ok"
    source.write_text("copied in\n")
    sc.docker.check("cp", str(source), f"{name}:/tmp/ok")
    assert sc.exec(name, "cat", "/tmp/ok") == "copied in\n"
    assert _wait_for(lambda: sc.docker.inspect(name, "{{.State.Health.Status}}")
                     == "healthy", timeout=60)
    sc.exec(name, "sh", "-c", "echo made inside > /tmp/out")
    sc.docker.check("cp", f"{name}:/tmp/out", str(tmp_path / "out"))
    assert (tmp_path / "out").read_text() == "made inside\n"
    if sc.rt == "fire":
        verbs = sc.fire_verbs(name)
        # Two execs are the test's own; the health checks (at least one failing and
        # one passing) are the rest.
        assert verbs.count("exec") >= 4, verbs
        assert "ps" in verbs, "docker top asks the shim, which runs `fire ps --format json`"
