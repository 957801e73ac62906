"""Real engines driving Fire: Debian's podman (with conmon), containerd (runc v2
shim, driven by ``ctr``) and Docker (``docker.io``: dockerd and its managed
containerd, runc v2 shim).

Nothing here touches the host's engines: podman gets its own ``--root``,
``--runroot``, ``tmp_dir`` and a ``containers.conf`` (``CONTAINERS_CONF``);
containerd and dockerd are started by the session with their own root, state and
socket under a temporary directory, and stopped at the end.  Fire's own state goes
to a private root too.

The ``fire`` the engines call is a small script shaped like pip's console script:
an absolute interpreter path on its first line (podman's cleanup process runs it
with no PATH and no HOME), then ``fire.cli.main`` and, as Fire's own launcher,
``leave`` (no interpreter teardown: an engine waits for the exit, and the runc
shim watches for OOM only once ``start`` has returned).  It also appends every call's
argv to a log, which is how each test proves Fire, not runc or crun, ran its
container, and how the engine contract (``kill --all``, ``exec --detach``…) is
checked.

Machine specifics (see docs/engines.md): ``--network none`` (no network here);
default ulimits of 1024 (podman's default 1048576 needs CAP_SYS_RESOURCE, which
root lacks here); ``runtime_supports_json = ["fire"]`` so that podman passes
``--log-format=json``.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.engines.images import docker_archive, oci_archive, rootfs_tar

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

REPO = Path(__file__).resolve().parent.parent.parent
PODMAN_IMAGE = "localhost/fire-busybox:test"
CTR_IMAGE = "docker.io/library/fire-busybox:test"
DOCKER_IMAGE = "fire-busybox:test"
TIMEOUT = 120


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.engines)
            item.add_marker(pytest.mark.root)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


def run(argv: list[str], env: dict[str, str], input: str | None = None,
        timeout: float = TIMEOUT) -> Result:
    # Files, not pipes: conmon and the shims outlive the command and could keep a
    # pipe open forever.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(argv, input=input, stdout=out, stderr=err, text=True, env=env,
                              timeout=timeout, stdin=None if input is not None
                              else subprocess.DEVNULL)
        out.seek(0)
        err.seek(0)
        return Result(proc.returncode, out.read(), err.read())


def run_in_pty(argv: list[str], env: dict[str, str], typed: bytes = b"",
               timeout: float = TIMEOUT) -> Result:
    """Run with a pseudo-terminal as stdin, stdout and stderr (what ``-t`` wants)."""
    from fire.syscalls.tty import set_winsize

    master, slave = pty.openpty()
    set_winsize(slave, 24, 80)
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                start_new_session=True)
    finally:
        os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        if typed:
            os.write(master, typed)
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every holder of the slave has closed it
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = out.decode(errors="replace")
    return Result(code, text, "")


# --------------------------------------------------------------------------- fire


class Runtime:
    """The ``fire`` executable the engines are told to use, and its call log."""

    def __init__(self, workdir: Path) -> None:
        self.path = workdir / "fire"
        self.calls_file = workdir / "calls.jsonl"
        self.root = workdir / "fire-root"
        self.path.write_text(
            f"#!{sys.executable}\n"
            "import json, os, sys\n"
            f"sys.path.insert(0, {str(REPO)!r})\n"
            f"os.environ.setdefault('FIRE_ROOT', {str(self.root)!r})\n"
            "from fire.cli import leave, main\n"
            "argv, rc = sys.argv[1:], 1\n"
            "try:\n"
            "    rc = main()\n"
            "finally:\n"
            f"    with open({str(self.calls_file)!r}, 'a') as log:\n"
            "        log.write(json.dumps({'argv': argv, 'rc': rc, 'PATH': os.environ.get('PATH'),"
            " 'HOME': os.environ.get('HOME')}) + '\\n')\n"
            "leave(rc)\n")
        self.path.chmod(0o755)

    def calls(self) -> list[dict[str, Any]]:
        try:
            text = self.calls_file.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def calls_for(self, cid: str) -> list[list[str]]:
        """The argv of every call about container ``cid``, global options dropped."""
        out = []
        for call in self.calls():
            argv = call["argv"]
            if cid in argv:
                out.append(_command_part(argv))
        return out

    def verbs(self, cid: str) -> list[str]:
        return [argv[0] for argv in self.calls_for(cid) if argv]

    def assert_ran(self, cid: str) -> None:
        """Fire (not runc or crun) created and started this container."""
        verbs = self.verbs(cid)
        assert "create" in verbs, f"fire never created {cid}: {verbs}"


_GLOBAL_WITH_VALUE = {"--root", "--log", "--log-format", "--criu"}


def _command_part(argv: list[str]) -> list[str]:
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name = argv[i].split("=", 1)[0]
        i += 2 if name in _GLOBAL_WITH_VALUE and "=" not in argv[i] else 1
    return argv[i:]


def sweep_fire_root(runtime: Runtime, root: Path) -> None:
    """``delete --force`` what Fire still holds under ``root`` (processes, cgroups,
    state) for the containers of this session (named in the call log): what an
    engine failed to clean up must not outlive the tests."""
    if not root.is_dir():
        return
    ours = {arg for call in runtime.calls() for arg in call["argv"]}
    for cid in os.listdir(root):
        if cid in ours:
            run([str(runtime.path), "--root", str(root), "delete", "--force", cid],
                dict(os.environ), timeout=60)


def _cgroup_dirs(path: str) -> list[str]:
    """``path`` in every mounted cgroup hierarchy (existing or not)."""
    from fire.cgroup.hierarchy import host_hierarchies

    return [h.mountpoint.rstrip("/") + path for h in host_hierarchies()]


def _parents() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        out[int(entry)] = int(data[data.rindex(b")") + 2:].split()[1])
    return out


def kill_strays(marker: str) -> None:
    """SIGKILL the engine helpers (conmon, shims) whose command line names
    ``marker`` (this session's directory), and everything below them."""
    parents = _parents()
    roots = []
    for pid in parents:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and ("conmon" in cmdline or "containerd-shim" in cmdline):
            roots.append(pid)
    doomed: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        doomed.append(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    for pid in reversed(doomed):  # children first
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove_empty_dirs(dirs: Iterable[str]) -> None:
    """The cgroup directories an engine made under its parents, in order; one still
    in use (or never made) stays."""
    for d in dirs:
        try:
            os.rmdir(d)
        except OSError:
            pass


@pytest.fixture(scope="session")
def engines_dir() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("the engines need root")
    path = Path(tempfile.mkdtemp(prefix="fire-engines-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def runtime(engines_dir: Path) -> Runtime:
    return Runtime(engines_dir)


@pytest.fixture(scope="session")
def image_layer(engines_dir: Path) -> str:
    return rootfs_tar(str(engines_dir))


# --------------------------------------------------------------------------- podman


CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
log_driver = "k8s-file"

[engine]
runtime = "fire"
runtime_supports_json = ["fire"]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{dir}/events.log"
tmp_dir = "{dir}/libpod-tmp"
volume_path = "{dir}/volumes"

[engine.runtimes]
fire = ["{fire}"]
"""


class EngineCLI:
    """An engine's command line (podman, ctr, docker): ``self.argv`` + arguments, run
    with ``self.env``; ``check`` asserts success, ``pty`` runs under a terminal."""

    name = ""  # the command, in assertion messages
    argv: list[str]
    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None, timeout: float = TIMEOUT
                 ) -> Result:
        return run([*self.argv, *args], self.env, input, timeout)

    def check(self, *args: str, input: str | None = None) -> str:
        r = self(*args, input=input)
        assert r.code == 0, f"{self.name} {' '.join(args)}: {r}"
        return r.out

    def pty(self, *args: str, typed: bytes = b"") -> Result:
        return run_in_pty([*self.argv, *args], self.env, typed)


class Podman(EngineCLI):
    name = "podman"

    def __init__(self, workdir: Path, runtime: Runtime) -> None:
        self.dir = workdir
        self.runtime = runtime
        workdir.mkdir()
        conf = workdir / "containers.conf"
        conf.write_text(CONTAINERS_CONF.format(dir=workdir, fire=runtime.path))
        self.env = dict(os.environ, CONTAINERS_CONF=str(conf))
        self.argv = ["podman", "--root", str(workdir / "storage"), "--runroot",
                     str(workdir / "runroot"), "--storage-driver", "overlay"]
        # podman (cgroupfs) puts conmon in /libpod_parent/conmon and the containers
        # beside it; the session removes those directories if it made them.
        self.cgroup_parents = [d for d in _cgroup_dirs("/libpod_parent") if not os.path.isdir(d)]

    def full_id(self, name: str) -> str:
        return self.check("inspect", "--format", "{{.Id}}", name).strip()

    def cleanup(self) -> None:
        self("rm", "--all", "--force", "--time", "0")
        self("rmi", "--all", "--force")
        sweep_fire_root(self.runtime, self.runtime.root)
        kill_strays(str(self.dir))
        remove_empty_dirs(d for parent in self.cgroup_parents for d in (parent + "/conmon", parent))


@pytest.fixture(scope="session")
def podman(engines_dir: Path, runtime: Runtime, image_layer: str) -> Iterator[Podman]:
    if shutil.which("podman") is None or shutil.which("conmon") is None:
        pytest.skip("podman and conmon are not installed (bin/setup --dev installs them)")
    engine = Podman(engines_dir / "podman", runtime)
    engine.check("import", "--change", "CMD=/bin/sh", image_layer, PODMAN_IMAGE)
    yield engine
    engine.cleanup()


# --------------------------------------------------------------------------- containerd

# The head of every private containerd's config.toml (tests/cri adds its CRI plugin's
# table and keeps that plugin: ``cri`` is the line that disables it here).
CONTAINERD_HEAD = """\
version = 2
root = "{dir}/root"
state = "{dir}/state"
disabled_plugins = [{cri}
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{dir}/containerd.sock"

[ttrpc]
  address = "{dir}/containerd.sock.ttrpc"

[debug]
  address = ""
"""
NO_CRI = '\n  "io.containerd.grpc.v1.cri",'


class Containerd(EngineCLI):
    """A private containerd; ``ctr`` commands run against it, namespace fire-test."""

    name = "ctr"

    def __init__(self, workdir: Path, runtime: Runtime) -> None:
        self.dir = workdir
        self.runtime = runtime
        workdir.mkdir()
        config = workdir / "config.toml"
        config.write_text(CONTAINERD_HEAD.format(dir=workdir, cri=NO_CRI))
        self.socket = workdir / "containerd.sock"
        # `ctr run` names the runtime binary (--runc-binary); `ctr container create`
        # cannot, and the shim then runs "runc" from its PATH.  So this containerd's
        # PATH starts with a directory whose only `runc` is Fire: no real runc can
        # be reached from it, whatever ctr asks.
        shim_bin = workdir / "bin"
        shim_bin.mkdir()
        (shim_bin / "runc").symlink_to(runtime.path)
        env = dict(os.environ, PATH=f"{shim_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        self.log = open(workdir / "containerd.log", "w")  # noqa: SIM115  # closed in stop()
        self.proc = subprocess.Popen(["containerd", "--config", str(config)],
                                     stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, env=env)
        self.env = dict(os.environ)
        self.argv = ["ctr", "--address", str(self.socket), "--namespace", "fire-test"]
        # ctr's containers live under /fire-test (the namespace) in each hierarchy.
        self.cgroup_parents = [d for d in _cgroup_dirs("/fire-test") if not os.path.isdir(d)]
        # What `ctr run` needs to use Fire through the runc v2 shim.
        self.runc = ["--runc-binary", str(runtime.path), "--runc-root", str(workdir / "runc")]
        deadline = time.monotonic() + 30
        while self("version").code != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("containerd did not start: "
                                   + (workdir / "containerd.log").read_text()[-2000:])
            time.sleep(0.1)

    def remove(self, cid: str) -> None:
        """Kill and delete a container's task, then the container."""
        self("task", "kill", "--all", "--signal", "SIGKILL", cid)
        deadline = time.monotonic() + 30
        while self("task", "delete", cid).code != 0 and time.monotonic() < deadline:
            if "not found" in self("task", "ls").out or cid not in self("task", "ls").out:
                break
            time.sleep(0.2)
        self("container", "delete", cid)

    def stop(self) -> None:
        for line in self("container", "ls", "--quiet").out.split():
            self.remove(line)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        # --runc-root for `ctr run`; the shim's default for `ctr container create`.
        sweep_fire_root(self.runtime, self.dir / "runc" / "fire-test")
        sweep_fire_root(self.runtime, Path("/run/containerd/runc/fire-test"))
        kill_strays(str(self.dir))
        remove_empty_dirs(self.cgroup_parents)


@pytest.fixture(scope="session")
def containerd(engines_dir: Path, runtime: Runtime, image_layer: str) -> Iterator[Containerd]:
    if shutil.which("containerd") is None or shutil.which("containerd-shim-runc-v2") is None:
        pytest.skip("containerd is not installed (bin/setup --dev installs it)")
    engine = Containerd(engines_dir / "containerd", runtime)
    try:
        archive = oci_archive(str(engines_dir), image_layer, CTR_IMAGE)
        engine.check("images", "import", archive)
        yield engine
    finally:
        engine.stop()


# --------------------------------------------------------------------------- docker

# Debian's docker.io, by absolute path: another ``docker`` earlier in PATH (a newer
# client) may not speak to this daemon's API.
DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"


class Docker(EngineCLI):
    """A private dockerd (and the containerd it starts and manages) under ``workdir``.

    Its daemon.json registers Fire as the runtime ``fire``; ``runc`` stays Docker's
    built-in one, the reference each scenario is compared with.  No bridge, no
    iptables or forwarding changes: ``--network none``, ``host`` and ``container:``
    are what this machine can run.  Containers go under a cgroup parent of their
    own, so the session can prove it removed every cgroup it made.

    With ``systemd``, the daemon uses the systemd cgroup driver
    (``native.cgroupdriver=systemd``, a systemd host's setting): each container is
    the scope ``docker-<id>.scope`` in system.slice, which systemd removes.
    """

    name = "docker"

    def __init__(self, workdir: Path, runtime: Runtime, *, systemd: bool = False) -> None:
        self.dir = workdir
        self.runtime = runtime
        self.systemd = systemd
        workdir.mkdir()
        self.socket = workdir / "docker.sock"
        self.pidfile = workdir / "dockerd.pid"
        self.cgroup_parent = "/" + unique("fire-docker")
        config = workdir / "daemon.json"
        settings: dict[str, Any] = {
            "iptables": False, "ip-forward": False, "ip-masq": False, "bridge": "none",
            "runtimes": {"fire": {"path": str(runtime.path)}},
            "storage-driver": "overlay2",
            "log-driver": "json-file",
        }
        if systemd:
            settings["exec-opts"] = ["native.cgroupdriver=systemd"]
        else:
            settings["cgroup-parent"] = self.cgroup_parent
        config.write_text(json.dumps(settings, indent=2))
        self.env = dict(os.environ, DOCKER_CONFIG=str(workdir / "client"))
        self.env.pop("DOCKER_HOST", None)
        self.argv = [DOCKER, "-H", f"unix://{self.socket}"]
        self.log = open(workdir / "dockerd.log", "w")  # noqa: SIM115  # closed in stop()
        # No --containerd: dockerd starts its own containerd, whose root and state
        # live under --data-root and --exec-root, with its socket there too.
        self.proc = subprocess.Popen(
            [DOCKERD, "--config-file", str(config), "--data-root", str(workdir / "data"),
             "--exec-root", str(workdir / "exec"), "-H", f"unix://{self.socket}",
             "--pidfile", str(self.pidfile)],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + 60
        while self("version").code != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("dockerd did not start: "
                                   + (workdir / "dockerd.log").read_text()[-3000:])
            time.sleep(0.2)

    def inspect(self, name: str, template: str) -> str:
        return self.check("inspect", "--format", template, name).strip()

    def cgroup_dir(self, controller: str, cid: str) -> str:
        """The host directory of container ``cid``'s cgroup for ``controller``."""
        from fire.cgroup.manager import Manager

        d = Manager(f"{self.cgroup_parent}/{cid}").dir_for(controller)
        assert d is not None, f"no {controller} controller on this host"
        return d

    def stop(self) -> list[str]:
        """Stop dockerd by its pid and remove what it left; returns what had to be
        removed by force (mounts, processes, cgroups), which the session reports."""
        ids = self("ps", "--all", "--quiet", "--no-trunc").out.split()
        if ids:
            self("rm", "--force", *ids)
        pid = int(self.pidfile.read_text()) if self.pidfile.exists() else self.proc.pid
        assert pid == self.proc.pid, "the pid file names the dockerd this session started"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        left: list[str] = []
        # Docker 20.10 gives every runtime, runc included, this --root.
        fire_root = self.dir / "exec" / "runtime-runc" / "moby"
        ours = {arg for call in self.runtime.calls() for arg in call["argv"]}
        if fire_root.is_dir():
            left += [f"fire state {cid}" for cid in os.listdir(fire_root) if cid in ours]
        sweep_fire_root(self.runtime, fire_root)
        left += [f"process {p}" for p in _kill_processes_naming(str(self.dir))]
        # dockerd's own mounts are removed quietly: it may leave its bind mount of
        # the host's netns ("default") and its data root's bind onto itself after
        # a clean "Daemon shutdown complete" (with runc as with Fire).  Any other
        # mount (a container's rootfs or netns) is reported.
        own = {str(self.dir / "exec" / "netns" / "default"), str(self.dir / "data")}
        left += [f"mount {m}" for m in _unmount_under(str(self.dir)) if m not in own]
        if not self.systemd:
            left += [f"cgroup {d}" for d in _remove_cgroups(self.cgroup_parent)]
        if self.pidfile.exists():
            left.append(f"pid file {self.pidfile}")
        if left:
            left.append("dockerd's log ends: " + (self.dir / "dockerd.log").read_text()[-3000:])
        return left


def _kill_processes_naming(marker: str) -> list[int]:
    """SIGKILL every process whose command line names ``marker`` (containerd, its
    shims, dockerd), and what runs below them; returns the pids found."""
    parents = _parents()
    roots = []
    for pid in parents:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and pid != os.getpid():
            roots.append(pid)
    doomed: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        doomed.append(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    for pid in reversed(doomed):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return roots


def _unmount_under(prefix: str) -> list[str]:
    """Detach every mount at or below ``prefix`` (deepest first); returns them."""
    from fire.syscalls.mount import MNT_DETACH, umount2

    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    ours = sorted({p for p in points if p == prefix or p.startswith(prefix + "/")},
                  key=len, reverse=True)
    for point in ours:
        try:
            umount2(point, MNT_DETACH)
        except OSError:
            pass
    return ours


def _remove_cgroups(parent: str) -> list[str]:
    """Remove ``parent`` and the container cgroups below it in every hierarchy;
    returns the container cgroups that were still there."""
    found: list[str] = []
    for top in _cgroup_dirs(parent):
        if not os.path.isdir(top):
            continue
        for entry in sorted(os.scandir(top), key=lambda e: e.name):
            if entry.is_dir():
                found.append(entry.path)
                try:
                    os.rmdir(entry.path)
                except OSError:
                    pass
        try:
            os.rmdir(top)
        except OSError:
            found.append(top)
    return found


@pytest.fixture(scope="session")
def docker(engines_dir: Path, runtime: Runtime, image_layer: str) -> Iterator[Docker]:
    for path in (DOCKER, DOCKERD):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} is not installed (bin/setup --dev installs docker.io)")
    engine = Docker(engines_dir / "docker", runtime)
    try:
        archive = docker_archive(str(engines_dir), image_layer, DOCKER_IMAGE)
        engine.check("load", "--input", archive)
        yield engine
    finally:
        left = engine.stop()
    assert not left, f"dockerd left these behind: {left}"
