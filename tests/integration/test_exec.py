"""``fire exec``: a new process inside a running container, as runc runs it.

Each test starts a real container (busybox, ``sleep``) with a private ``--root``
and checks what the exec'd process sees from inside and what the host sees of it
(namespaces, cgroup, root, fds, capabilities), plus the engine contract: exit
codes, ``--detach`` re-parenting to the caller's subreaper, pid files, the
terminal over ``--console-socket``, errors in runc's words.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.core_support import open_rootfs, userns

if TYPE_CHECKING:
    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]
__all__ = ["open_rootfs"]  # a fixture used here


@pytest.fixture
def container(fire: Fire, bundle: Bundle) -> str:
    """A running container whose process sleeps."""
    bundle.args("sleep", "1000").write()
    cid = fire.unique_id("exec")
    fire("create", "--bundle", str(bundle.path), cid, check=True)
    fire("start", cid, check=True)
    return cid


def _status_lines(pid: int | str, keys: tuple[str, ...]) -> dict[str, str]:
    path = f"/proc/{pid}/status"
    with open(path) as f:
        lines = f.read().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines) if k in keys}


def _read_pid(path: Path) -> int:
    text = path.read_text()
    assert text.isdigit(), f"pid file holds digits only, got {text!r}"
    return int(text)


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.02)


# --------------------------------------------------------------------------- running


def test_exec_runs_the_command_and_passes_arguments_untouched(fire: Fire, container: str
                                                               ) -> None:
    r = fire("exec", container, "sh", "-c", 'printf "%s|" "$@"', "sh", "-e", "--cwd", "x", "-t")
    assert r.code == 0, r
    assert r.out == "-e|--cwd|x|-t|", "arguments after the command are the command's"


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exec_returns_the_exit_code(fire: Fire, container: str, code: int) -> None:
    assert fire("exec", container, "sh", "-c", f"exit {code}").code == code


def test_exec_returns_128_plus_the_signal(fire: Fire, container: str) -> None:
    assert fire("exec", container, "sh", "-c", "kill -TERM $$").code == 128 + 15


def test_exec_passes_stdin(fire: Fire, container: str) -> None:
    r = fire("exec", container, "cat", input="through stdin\n")
    assert (r.code, r.out) == (0, "through stdin\n")


def test_env_cwd_user_and_groups(fire: Fire, container: str) -> None:
    r = fire("exec", "-e", "FOO=bar", "--env", "PATH=/bin", "--cwd", "/tmp", "-u", "1000:1000",
             "-g", "5", "--additional-gids", "65534", container,
             "sh", "-c", 'echo "$FOO $PATH $HOME"; pwd; id -u; id -g; id -G')
    assert r.code == 0, r
    assert r.out.splitlines() == ["bar /bin /home/user", "/tmp", "1000", "1000", "1000 5 65534"]


def test_user_without_group_keeps_the_containers_gid(fire: Fire, container: str) -> None:
    r = fire("exec", "-u", "1000", container, "sh", "-c", "id -u; id -g")
    assert r.out.splitlines() == ["1000", "0"], r


def test_joins_every_namespace_the_cgroup_and_the_root(fire: Fire, container: str,
                                                      tmp_path: Path) -> None:
    init = fire.state(container)["pid"]
    pid_file = tmp_path / "exec.pid"
    r = fire("exec", "-d", "--pid-file", str(pid_file), container, "sleep", "100")
    assert r.code == 0, r
    pid = _read_pid(pid_file)
    try:
        for ns in ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{init}/ns/{ns}"), ns
        assert Path(f"/proc/{pid}/ns/pid").stat().st_ino != Path("/proc/self/ns/pid").stat().st_ino
        with open(f"/proc/{pid}/cgroup") as a, open(f"/proc/{init}/cgroup") as b:
            assert a.read() == b.read()
        root, mine = os.stat(f"/proc/{pid}/root"), os.stat(f"/proc/{init}/root")
        assert (root.st_dev, root.st_ino) == (mine.st_dev, mine.st_ino)
        cwd = os.stat(f"/proc/{pid}/cwd")
        assert (cwd.st_dev, cwd.st_ino) == (root.st_dev, root.st_ino), "cwd is the container's /"
        assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"], "no other fd reaches it"
        ps = fire("ps", "--format", "json", container)
        assert pid in json.loads(ps.out)
        inside = fire("exec", container, "ps", "-o", "pid,args")
        assert "sleep 100" in inside.out
    finally:
        os.kill(pid, signal.SIGKILL)


def test_gets_the_containers_capabilities_rlimits_and_no_new_privs(fire: Fire, container: str
                                                                    ) -> None:
    init = fire.state(container)["pid"]
    keys = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
    want = _status_lines(init, keys)
    r = fire("exec", container, "sh", "-c", "cat /proc/self/status; echo nofile=$(ulimit -n)")
    assert r.code == 0, r
    got = {k: v.strip() for k, _, v in (line.partition(":") for line in r.out.splitlines())
           if k in keys}
    assert got == want
    assert "nofile=1024" in r.out
    assert want["NoNewPrivs"] == "1"


def test_cap_adds_a_capability(fire: Fire, container: str) -> None:
    r = fire("exec", "--cap", "CAP_SYS_ADMIN", "-c", "net_admin", container, "cat",
             "/proc/self/status")
    assert r.code == 0, r
    eff = int(next(line for line in r.out.splitlines() if line.startswith("CapEff:")).split()[1],
              16)
    assert eff & (1 << 21), "CAP_SYS_ADMIN"
    assert eff & (1 << 12), "CAP_NET_ADMIN"
    assert eff & (1 << 5), "the container's own CAP_KILL stays"


def test_seccomp_filter_is_the_containers(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "1000")
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    bundle.write()
    cid = fire.unique_id("exec")
    fire("create", "-b", str(bundle.path), cid, check=True)
    fire("start", cid, check=True)
    pid = fire.state(cid)["pid"]
    if _status_lines(pid, ("Seccomp",))["Seccomp"] == "0":
        pytest.skip("the container itself has no seccomp filter: linux.seccomp is not "
                    "applied on this branch yet (security area)")
    r = fire("exec", cid, "cat", "/proc/self/status")
    assert "Seccomp:\t2" in r.out, "the exec'd process runs under the container's filter"
    assert fire("exec", cid, "pwd").code != 0, "getcwd fails with EPERM"


def test_seccomp_notify_listener_goes_to_listener_path(fire: Fire, bundle: Bundle,
                                                      tmp_path: Path) -> None:
    """Each exec'd process gets its own listener, handed to listenerPath as the
    container's own was (runc does the same)."""
    import errno

    from tests.security.helpers import SeccompAgent

    sock = tmp_path / "agent.sock"
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(sock),
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}
    bundle.args("sleep", "1000").write()
    cid = fire.unique_id("exec")
    first = SeccompAgent(sock, errno.EXDEV)
    try:
        fire("create", "-b", str(bundle.path), cid, check=True)
        fire("start", cid, check=True)
        sock.unlink()  # the next connection goes to a second agent
        second = SeccompAgent(sock, errno.EXDEV)
        try:
            r = fire("exec", cid, "sh", "-c", "mkdir /tmp/n; echo done")
        finally:
            fire("kill", cid, "KILL")
            second.close()
    finally:
        first.close()
    assert r.code == 0, r
    assert os.strerror(errno.EXDEV) in r.err, "the exec's agent answered its mkdir"
    assert second.notified
    assert second.state is not None
    assert second.state["state"]["id"] == cid


def test_joins_the_user_namespace(fire: Fire, bundle: Bundle, open_rootfs: str) -> None:
    userns(bundle, open_rootfs)
    bundle.args("sleep", "1000").write()
    cid = fire.unique_id("exec")
    fire("create", "-b", str(bundle.path), cid, check=True)
    fire("start", cid, check=True)
    init = fire.state(cid)["pid"]
    r = fire("exec", "-u", "1000", cid, "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0] == "1000"
    assert lines[1].split() == ["0", "100000", "65536"]
    pid_file = Path(str(bundle.path)) / "exec.pid"
    fire("exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "100", check=True)
    pid = _read_pid(pid_file)
    try:
        assert os.readlink(f"/proc/{pid}/ns/user") == os.readlink(f"/proc/{init}/ns/user")
        assert os.stat(f"/proc/{pid}").st_uid == 100000, "in-container root is host 100000"
    finally:
        os.kill(pid, signal.SIGKILL)


def test_exec_into_a_created_container(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "1000").write()
    cid = fire.unique_id("exec")
    fire("create", "-b", str(bundle.path), cid, check=True)
    r = fire("exec", cid, "hostname")
    assert (r.code, r.out) == (0, "fire\n")  # default spec's hostname: uts joined
    assert fire.state(cid)["status"] == "created"


def test_preserve_fds_passes_fd_3_and_nothing_else(fire: Fire, container: str,
                                                  tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("shared\n")

    def run(*opts: str) -> subprocess.CompletedProcess[str]:
        # sh puts the file on fd 3, then becomes fire.
        return subprocess.run(["sh", "-c", 'exec 3<"$0"; exec "$@"', str(secret), *fire.argv,
                               "--root", str(fire.root), "exec", *opts, container, "sh", "-c",
                               "cat /proc/self/fd/3 2>/dev/null || echo none"],
                              capture_output=True, text=True, env=fire.env(), timeout=60)

    assert run().stdout == "none\n", "a caller's fd does not reach the process by default"
    kept = run("--preserve-fds", "1")
    assert kept.stdout == "shared\n", kept


# --------------------------------------------------------------------------- --process


def test_process_file(fire: Fire, container: str, tmp_path: Path) -> None:
    process = {"args": ["sh", "-c", "echo $X; id -u; pwd"], "env": ["X=from-json"],
               "cwd": "/tmp", "user": {"uid": 1000, "gid": 1000}, "terminal": False,
               "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                "permitted": ["CAP_KILL"]},
               "noNewPrivileges": True}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    r = fire("exec", "--process", str(path), container)
    assert r.code == 0, r
    assert r.out.splitlines() == ["from-json", "1000", "/tmp"]


@pytest.mark.parametrize(("process", "where"), [
    ({"args": "sh", "cwd": "/"}, "$.args"),
    ({"args": [], "cwd": "/"}, "$.args"),
    ({"args": ["true"], "cwd": "tmp"}, "$.cwd"),
    ({"args": ["true"], "cwd": "/", "user": {"uid": -1, "gid": 0}}, "$.user.uid"),
    ({"args": ["true"], "cwd": "/", "rlimits": [{"type": "RLIMIT_NOPE", "hard": 1, "soft": 1}]},
     "$.rlimits[0].type"),
])
def test_a_bad_process_file_names_the_json_path(fire: Fire, container: str, tmp_path: Path,
                                                process: dict[str, object], where: str) -> None:
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    r = fire("exec", "-p", str(path), container)
    assert r.code == 1
    assert str(path) in r.err
    assert where in r.err
    assert "Traceback" not in r.err
    assert len(json.loads(fire("ps", "--format", "json", container).out)) == 1


def test_a_malformed_process_file(fire: Fire, container: str, tmp_path: Path) -> None:
    path = tmp_path / "process.json"
    path.write_text("{not json")
    r = fire("exec", "-p", str(path), container)
    assert r.code == 1
    assert "malformed JSON" in r.err
    assert str(path) in r.err


# --------------------------------------------------------------------------- errors


def test_missing_binary_says_not_found(fire: Fire, container: str) -> None:
    r = fire("exec", container, "no-such-program")
    assert r.code == 1
    assert "executable file not found in $PATH" in r.err
    r = fire("exec", container, "/bin/no-such-program")
    assert r.code == 1
    assert "no such file or directory" in r.err
    assert len(json.loads(fire("ps", "--format", "json", container).out)) == 1, \
        "the failed exec left no process in the container"


def test_missing_binary_with_json_log(fire: Fire, container: str, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    r = fire("--log", str(log), "--log-format", "json", "exec", "-d", container, "nope")
    assert r.code == 1
    lines = log.read_text().splitlines()
    assert len(lines) == 1, "exactly one error line (podman parses the whole log)"
    entry = json.loads(lines[0])
    assert entry["level"] == "error"
    assert "executable file not found" in entry["msg"]
    assert "executable file not found" in r.err


def test_a_bad_cwd_fails_and_leaves_nothing(fire: Fire, container: str) -> None:
    r = fire("exec", "--cwd", "/no/such/dir", container, "true")
    assert r.code == 1
    assert "/no/such/dir" in r.err
    assert len(json.loads(fire("ps", "--format", "json", container).out)) == 1


def test_usage_errors(fire: Fire, container: str, tmp_path: Path) -> None:
    no_command = fire("exec", container)
    assert no_command.code == 1
    assert "command" in no_command.err
    socket_without_tty = fire("exec", "-d", "--console-socket", str(tmp_path / "s"),
                              container, "true")
    assert socket_without_tty.code == 1
    assert "console socket" in socket_without_tty.err
    tty_detached = fire("exec", "-d", "-t", container, "true")
    assert tty_detached.code == 1
    assert "console socket" in tty_detached.err
    bad_user = fire("exec", "-u", "root", container, "true")
    assert bad_user.code == 1
    assert "UID" in bad_user.err
    bad_cap = fire("exec", "--cap", "CAP_NOPE", container, "true")
    assert bad_cap.code == 1
    assert "CAP_NOPE" in bad_cap.err


def test_exec_into_a_stopped_or_missing_container(fire: Fire, container: str) -> None:
    fire("kill", container, "KILL", check=True)
    assert fire.wait_status(container, "stopped")["status"] == "stopped"
    r = fire("exec", container, "true")
    assert r.code == 1
    assert "container not running" in r.err
    missing = fire("exec", "no-such-container-x", "true")
    assert missing.code == 1
    assert "container does not exist" in missing.err


def test_paused_container_needs_ignore_paused(fire: Fire, container: str) -> None:
    from fire.cgroup.freezer import freeze, thaw

    with open(fire.root / container / "state.json") as f:
        cgroup = json.load(f)["cgroup"]
    freeze(cgroup)  # what `fire pause` does
    try:
        r = fire("exec", container, "true")
        assert r.code == 1
        assert "paused" in r.err
        proc = fire.popen("exec", "--ignore-paused", container, "sh", "-c", "echo joined",
                          stdout=subprocess.PIPE)
        time.sleep(1)
        assert proc.poll() is None, "a process that joins a frozen cgroup is frozen too"
    finally:
        thaw(cgroup)
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (0, "joined\n")


# --------------------------------------------------------------------------- detach


def test_detach_leaves_the_process_to_the_callers_subreaper(fire: Fire, container: str,
                                                           tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    helper = (
        "import ctypes, os, subprocess, sys\n"
        "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER, as conmon\n"
        "r = subprocess.run(sys.argv[2:])\n"
        "pid = int(open(sys.argv[1]).read())\n"
        "got, status = os.waitpid(pid, 0)\n"
        "print(r.returncode, got == pid, os.waitstatus_to_exitcode(status))\n")
    argv = [*fire.argv, "--root", str(fire.root), "exec", "--detach", "--pid-file",
            str(pid_file), container, "sh", "-c", "sleep 0.3; exit 7"]
    r = subprocess.run([sys.executable, "-c", helper, str(pid_file), *argv],
                       capture_output=True, text=True, env=fire.env(), timeout=60)
    assert r.stdout.split() == ["0", "True", "7"], r


def test_a_failed_detached_exec_leaves_no_process_to_the_subreaper(fire: Fire, container: str
                                                                   ) -> None:
    helper = (
        "import ctypes, os, subprocess, sys, time\n"
        "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER, as conmon\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "time.sleep(0.5)\n"
        "try:\n"
        "    left = os.waitpid(-1, os.WNOHANG)\n"
        "except ChildProcessError:\n"
        "    left = None\n"
        "print(r.returncode, left)\n")
    argv = [*fire.argv, "--root", str(fire.root), "exec", "--detach", container,
            "no-such-program"]
    r = subprocess.run([sys.executable, "-c", helper, *argv], capture_output=True, text=True,
                       env=fire.env(), timeout=60)
    assert r.stdout.split() == ["1", "None"], r


def test_detach_returns_while_the_process_runs(fire: Fire, container: str, tmp_path: Path
                                              ) -> None:
    pid_file = tmp_path / "pid"
    start = time.monotonic()
    r = fire("exec", "-d", "--pid-file", str(pid_file), container, "sleep", "30")
    assert r.code == 0, r
    assert time.monotonic() - start < 20
    pid = _read_pid(pid_file)
    assert os.path.exists(f"/proc/{pid}")
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)


# --------------------------------------------------------------------------- signals


def test_signals_are_forwarded(fire: Fire, container: str) -> None:
    script = ('trap "echo got USR1; exit 7" USR1; echo ready; '
              "while :; do sleep 0.05; done")
    proc = fire.popen("exec", container, "sh", "-c", script, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGUSR1)
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (7, "got USR1\n")


# --------------------------------------------------------------------------- terminals


def _read_all(fd: int, timeout: float = 30) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the slave side is closed
            break
        if not chunk:
            break
        data += chunk
    return data


def test_tty_in_the_foreground_proxies_our_terminal(fire: Fire, container: str) -> None:
    master, slave = pty.openpty()
    try:
        proc = fire.popen("exec", "-t", container, "sh", "-c", "tty; stty size; exit 5",
                          stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        slave = -1
        out = _read_all(master).decode()
        assert proc.wait(timeout=30) == 5, out
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert "/dev/pts/" in out
    assert "\r\n" in out, "the program's terminal translates newlines: it is a pty"


def test_tty_with_console_socket_sends_the_master(fire: Fire, container: str, tmp_path: Path
                                                 ) -> None:
    path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    pid_file = tmp_path / "pid"
    try:
        proc = fire.popen("exec", "-d", "-t", "--console-socket", path, "--pid-file",
                          str(pid_file), container, "sh", "-c", "tty; read line; echo $line")
        conn, _ = listener.accept()
        with conn:
            msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
        assert proc.wait(timeout=30) == 0
        assert len(fds) == 1
        assert msg == b"/dev/ptmx"
        master = fds[0]
        try:
            os.write(master, b"typed\n")
            out = _read_all(master).decode()
        finally:
            os.close(master)
    finally:
        listener.close()
    assert "/dev/pts/" in out
    assert "typed" in out
    _wait_gone(_read_pid(pid_file))


# --------------------------------------------------------------------------- cgroups


def test_cgroup_option_puts_the_process_in_a_sub_cgroup(fire: Fire, container: str,
                                                       tmp_path: Path) -> None:
    from fire.cgroup.hierarchy import host_hierarchies

    pids_dir = next((h.mountpoint for h in host_hierarchies() if "pids" in h.controllers),
                    None)
    if pids_dir is None:
        pytest.skip("no pids controller on this host")
    sub = os.path.join(pids_dir, container, "sub")
    os.mkdir(sub)
    pid_file = tmp_path / "pid"
    try:
        bad = fire("exec", "--cgroup", "pids:nope", container, "true")
        assert bad.code == 1
        assert "does not exist" in bad.err
        r = fire("exec", "-d", "--pid-file", str(pid_file), "--cgroup", "pids:sub", container,
                 "sleep", "100")
        assert r.code == 0, r
        pid = _read_pid(pid_file)
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
        pids_line = next(line for line in lines if ":pids:" in line)
        assert pids_line.endswith(f"/{container}/sub")
        memory_line = next((line for line in lines if ":memory:" in line), None)
        if memory_line is not None:
            assert memory_line.endswith(f"/{container}")
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid)
    finally:
        deadline = time.monotonic() + 10
        while True:
            try:
                os.rmdir(sub)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


# --------------------------------------------------------------------------- engine path


def test_detached_exec_imports_nothing_heavy(fire: Fire, container: str) -> None:
    code = ("import sys\n"
            "from fire.cli import main\n"
            f"rc = main(['--root', {str(fire.root)!r}, 'exec', '-d', {container!r}, 'true'])\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'trio', 'rich', 'textual', 'pyroute2', 'asyncio', 'msgspec'})\n"
            "print(rc, heavy)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=fire.env(), timeout=60)
    assert r.stdout.strip() == "0 []", r
