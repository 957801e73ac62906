"""Pods through containerd's CRI plugin, with Fire as the runtime handler (and runc,
the reference, as the other parameter of every test).

Each test does what kubelet does for a pod: RunPodSandbox (the pause container),
CreateContainer and StartContainer for its containers, then Exec/Status/Stats/Stop/
Remove calls, and checks the result on the kernel (namespaces, cgroups, mounts) as
well as in the CRI's answers.
"""

from __future__ import annotations

import os
import re
import threading
import time
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from cri_api.v1 import api_pb2 as cri

from tests.engines.conftest import _cgroup_dirs

if TYPE_CHECKING:
    from tests.cri.engine import CRI
    from tests.engines.conftest import Runtime

MiB = 1024 * 1024


def _ns(pid: int, name: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


def _pid(engine: CRI, cid: str) -> int:
    return int(engine.info(cid)["pid"])


def _pod_pid(engine: CRI, pod: str) -> int:
    return int(engine.pod_info(pod)["pid"])


def _ran_with(runtime: Runtime, handler: str, cid: str) -> None:
    """The handler asked for ran the container: Fire's call log names it or not."""
    if handler == "fire":
        runtime.assert_ran(cid)
    else:
        assert "create" not in runtime.verbs(cid), "runc's container went to fire"


def _pod(engine: CRI, handler: str, pods: list[str], name: str, **kw: Any
         ) -> tuple[str, cri.PodSandboxConfig]:
    config = engine.pod_config(name, **kw)
    pod = engine.run_pod(handler, config)
    pods.append(pod)
    return pod, config


def _cgroup_of(pid: int, controller: str) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                return path
    raise AssertionError(f"{pid} has no {controller} cgroup")


def _controller_dir(controller: str, path: str) -> str:
    """``path`` in the hierarchy that holds ``controller`` (cpu and cpuacct may be
    mounted together or apart)."""
    from fire.cgroup.hierarchy import host_hierarchies

    for h in host_hierarchies():
        if controller in h.controllers:
            return h.mountpoint.rstrip("/") + path
    raise AssertionError(f"no {controller} hierarchy")


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _rpc_error(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


# --------------------------------------------------------------------------- 1


@pytest.mark.parametrize("pid_pod", [False, True], ids=["pid-container", "pid-pod"])
def test_container_joins_the_sandbox_namespaces(cri_engine: CRI, cri_runtime: Runtime,
                                                handler: str, pods: list[str],
                                                pid_pod: bool) -> None:
    pod, config = _pod(cri_engine, handler, pods, "ns", pid_pod=pid_pod)
    cid = cri_engine.run_container(pod, config, "app", "sleep", "1000")
    _ran_with(cri_runtime, handler, cid)
    _ran_with(cri_runtime, handler, pod)
    pause, app = _pod_pid(cri_engine, pod), _pid(cri_engine, cid)
    for name in ("net", "ipc", "uts"):
        assert _ns(app, name) == _ns(pause, name), name
        assert _ns(app, name) != _ns(os.getpid(), name), name
    assert _ns(app, "mnt") != _ns(pause, "mnt")
    if pid_pod:
        assert _ns(app, "pid") == _ns(pause, "pid")
        out = cri_engine.exec_sync(cid, "cat", "/proc/1/cmdline").stdout
        assert out.split(b"\0")[:2] == [b"/bin/sleep", b"infinity"]
    else:
        assert _ns(app, "pid") != _ns(pause, "pid")
        assert cri_engine.exec_sync(cid, "cat", "/proc/1/cmdline").stdout.startswith(b"sleep")
    assert cri_engine.exec_sync(cid, "hostname").stdout == b"ns\n"


# --------------------------------------------------------------------------- 2


def test_host_network_pod(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    pod, config = _pod(cri_engine, handler, pods, "hostnet", host_network=True)
    cid = cri_engine.run_container(pod, config, "app", "sleep", "1000")
    assert _ns(_pid(cri_engine, cid), "net") == _ns(os.getpid(), "net")
    assert cri_engine.pod_status(pod).network.ip == ""


def test_cni_pods_have_their_addresses_and_reach_each_other(cri_engine: CRI, handler: str,
                                                            pods: list[str]) -> None:
    net = ip_network(cri_engine.subnet)
    cids, ips = [], []
    for name in ("cni-a", "cni-b"):
        pod, config = _pod(cri_engine, handler, pods, name)
        cids.append(cri_engine.run_container(pod, config, "app", "sleep", "1000"))
        ips.append(cri_engine.pod_status(pod).network.ip)
    for cid, ip in zip(cids, ips, strict=True):
        assert ip_address(ip) in net
        r = cri_engine.exec_sync(cid, "ip", "-4", "addr", "show", "eth0")
        assert r.exit_code == 0, r
        assert f"inet {ip}/" in r.stdout.decode()
    r = cri_engine.exec_sync(cids[0], "ping", "-c", "1", "-W", "5", ips[1])
    assert r.exit_code == 0, r


# --------------------------------------------------------------------------- 3


def test_log_file_exit_codes_and_reasons(cri_engine: CRI, handler: str, pods: list[str]
                                         ) -> None:
    pod, config = _pod(cri_engine, handler, pods, "logs")
    failing = cri_engine.run_container(pod, config, "failing", "sh", "-c",
                                       "echo out; echo err >&2; printf partial; exit 3")
    ok = cri_engine.run_container(pod, config, "ok", "true")
    status = cri_engine.wait_exited(failing)
    assert (status.state, status.exit_code, status.reason) == (cri.CONTAINER_EXITED, 3, "Error")
    # Not finished_at >= started_at: containerd stamps started_at when the runtime's
    # `start` has returned, and a container this short may have exited by then.
    assert status.finished_at > status.created_at > 0
    assert status.started_at > 0
    status = cri_engine.wait_exited(ok)
    assert (status.state, status.exit_code, status.reason) == (cri.CONTAINER_EXITED, 0,
                                                               "Completed")
    lines = Path(cri_engine.status(failing).log_path).read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d)"
    assert len(lines) == 3, lines
    for line in lines:
        assert re.match(stamp + " ", line), line
    streams = sorted(line.split(" ", 1)[1] for line in lines)
    assert streams == ["stderr F err", "stdout F out", "stdout P partial"]


def test_oom_killed_reason(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    pod, config = _pod(cri_engine, handler, pods, "oom")
    cid = cri_engine.run_container(
        pod, config, "hog", "sh", "-c", "x=a; while :; do x=$x$x$x$x; done",
        resources=cri.LinuxContainerResources(memory_limit_in_bytes=16 * MiB))
    status = cri_engine.wait_exited(cid, timeout=60)
    assert (status.state, status.exit_code) == (cri.CONTAINER_EXITED, 137)
    # The shim reports the OOM (an eventfd on the cgroup) apart from the exit: the
    # reason may follow the exit by a moment.
    deadline = time.monotonic() + 10
    while status.reason != "OOMKilled" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = cri_engine.status(cid)
    assert status.reason == "OOMKilled", status


# --------------------------------------------------------------------------- 4


def test_exec_sync(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    pod, config = _pod(cri_engine, handler, pods, "exec")
    cid = cri_engine.run_container(pod, config, "app", "sleep", "1000")
    r = cri_engine.exec_sync(cid, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 7)
    error = _rpc_error(lambda: cri_engine.exec_sync(cid, "no-such-program"))
    assert "executable file not found" in (error.details() or ""), error
    started = time.monotonic()
    error = _rpc_error(lambda: cri_engine.exec_sync(cid, "sleep", "60", timeout=1))
    assert time.monotonic() - started < 30
    assert "timeout" in (error.details() or ""), error
    # The container survives its timed-out exec and still answers.
    assert cri_engine.exec_sync(cid, "echo", "alive").stdout == b"alive\n"
    # A megabyte of output, and probes of several containers at once.
    r = cri_engine.exec_sync(cid, "sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' a")
    assert (r.exit_code, len(r.stdout), set(r.stdout)) == (0, 1048576, {ord("a")})
    answers: list[bytes] = []

    def probe(i: int) -> None:
        answers.append(cri_engine.exec_sync(cid, "echo", str(i)).stdout)

    threads = [threading.Thread(target=probe, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(answers) == [b"0\n", b"1\n", b"2\n", b"3\n"]
    short = cri_engine.run_container(pod, config, "short", "true")
    cri_engine.wait_exited(short)
    error = _rpc_error(lambda: cri_engine.exec_sync(short, "true"))
    assert "CONTAINER_EXITED" in (error.details() or ""), error


# --------------------------------------------------------------------------- 5


def test_resources_update_and_stats(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    pod, config = _pod(cri_engine, handler, pods, "res")
    cid = cri_engine.run_container(
        pod, config, "app", "sh", "-c", "x=$(head -c 3000000 /dev/urandom | md5sum); sleep 1000",
        resources=cri.LinuxContainerResources(memory_limit_in_bytes=64 * MiB,
                                              cpu_period=100000, cpu_quota=50000,
                                              cpu_shares=512))
    pid = _pid(cri_engine, cid)
    parent = config.linux.cgroup_parent
    memory = _cgroup_of(pid, "memory")
    assert memory.startswith(parent + "/"), (memory, parent)
    assert _cgroup_of(pid, "cpu") == memory
    assert _cgroup_of(_pod_pid(cri_engine, pod), "memory").startswith(parent + "/")
    mem_dir = _controller_dir("memory", memory)
    cpu_dir = _controller_dir("cpu", memory)
    assert _read(f"{mem_dir}/memory.limit_in_bytes") == str(64 * MiB)
    assert _read(f"{cpu_dir}/cpu.cfs_quota_us") == "50000"
    assert _read(f"{cpu_dir}/cpu.shares") == "512"

    cri_engine.rt.UpdateContainerResources(cri.UpdateContainerResourcesRequest(
        container_id=cid, linux=cri.LinuxContainerResources(
            memory_limit_in_bytes=128 * MiB, cpu_period=100000, cpu_quota=20000,
            cpu_shares=256)))
    assert _read(f"{mem_dir}/memory.limit_in_bytes") == str(128 * MiB)
    assert _read(f"{cpu_dir}/cpu.cfs_quota_us") == "20000"
    assert _read(f"{cpu_dir}/cpu.shares") == "256"
    linux = cri_engine.status(cid).resources.linux
    assert (linux.memory_limit_in_bytes, linux.cpu_quota) == (128 * MiB, 20000)

    deadline = time.monotonic() + 30
    while True:
        stats = cri_engine.rt.ContainerStats(cri.ContainerStatsRequest(container_id=cid)).stats
        if stats.cpu.usage_core_nano_seconds.value > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert stats.attributes.id == cid
    assert stats.cpu.usage_core_nano_seconds.value > 0
    assert stats.memory.working_set_bytes.value > 0
    listed = cri_engine.rt.ListContainerStats(cri.ListContainerStatsRequest(
        filter=cri.ContainerStatsFilter(pod_sandbox_id=pod))).stats
    assert [s.attributes.id for s in listed] == [cid]


# --------------------------------------------------------------------------- 6


def test_security_context(cri_engine: CRI, handler: str, pods: list[str], tmp_path: Path
                          ) -> None:
    host_dir = tmp_path / "data"
    host_dir.mkdir()
    (host_dir / "file").write_text("from the host\n")
    pod, config = _pod(cri_engine, handler, pods, "sec")
    container = cri_engine.container_config(
        "app", "sleep", "1000",
        security_context=cri.LinuxContainerSecurityContext(
            run_as_user=cri.Int64Value(value=1000),
            readonly_rootfs=True,
            capabilities=cri.Capability(add_capabilities=["SYS_TIME"],
                                        drop_capabilities=["CHOWN", "NET_RAW"]),
            seccomp=cri.SecurityProfile(profile_type=cri.SecurityProfile.RuntimeDefault)))
    container.mounts.append(cri.Mount(container_path="/data", host_path=str(host_dir),
                                      readonly=True))
    cid = cri_engine.create(pod, config, container)
    cri_engine.start_container(cid)

    assert cri_engine.exec_sync(cid, "id", "-u").stdout == b"1000\n"
    r = cri_engine.exec_sync(cid, "touch", "/new")
    assert r.exit_code != 0, r
    assert b"Read-only file system" in r.stderr, r
    assert cri_engine.exec_sync(cid, "cat", "/data/file").stdout == b"from the host\n"
    r = cri_engine.exec_sync(cid, "touch", "/data/new")
    assert r.exit_code != 0, r
    assert b"Read-only file system" in r.stderr, r
    assert not (host_dir / "new").exists()
    status = {}
    pid = _pid(cri_engine, cid)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    bounding = int(status["CapBnd"], 16)
    assert not bounding & 1 << 0, "CHOWN dropped"
    assert not bounding & 1 << 13, "NET_RAW dropped"
    assert bounding & 1 << 25, "SYS_TIME added"
    assert bounding & 1 << 5, "KILL kept (the default set)"
    assert status["Seccomp"] == "2"
    assert status["Uid"].split() == ["1000"] * 4
    assert int(status["Seccomp_filters"]) >= 1


# --------------------------------------------------------------------------- 7


def _leftovers(engine: CRI, ids: list[str], cgroups: list[str]) -> list[str]:
    found = []
    mountinfo = Path("/proc/self/mountinfo").read_text()
    for cid in ids:
        if cid in mountinfo:
            found.append(f"mount of {cid}")
        for root in (engine.dir / "fire-root" / "k8s.io", engine.dir / "runc-root" / "k8s.io"):
            if (root / cid).exists():
                found.append(f"state {root / cid}")
    for path in cgroups:
        for d in _cgroup_dirs(path):
            if os.path.isdir(d):
                found.append(f"cgroup {d}")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "containerd-shim" in cmdline and any(cid in cmdline for cid in ids):
            found.append(f"shim {entry}")
    return found


def test_stop_with_grace_period(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    pod, config = _pod(cri_engine, handler, pods, "stop")
    stubborn = cri_engine.run_container(pod, config, "stubborn", "sh", "-c",
                                        "trap '' TERM; while :; do sleep 1; done")
    polite = cri_engine.run_container(pod, config, "polite", "sh", "-c",
                                      "trap 'exit 0' TERM; while :; do sleep 0.1; done")
    started = time.monotonic()
    cri_engine.rt.StopContainer(cri.StopContainerRequest(container_id=polite, timeout=20))
    assert time.monotonic() - started < 10
    assert cri_engine.status(polite).exit_code == 0

    started = time.monotonic()
    cri_engine.rt.StopContainer(cri.StopContainerRequest(container_id=stubborn, timeout=2))
    elapsed = time.monotonic() - started
    assert 2 <= elapsed < 20, elapsed
    status = cri_engine.status(stubborn)
    assert (status.state, status.exit_code) == (cri.CONTAINER_EXITED, 137)


def test_stop_pod_with_running_containers_then_nothing_is_left(
        cri_engine: CRI, handler: str, pods: list[str]) -> None:
    pod, config = _pod(cri_engine, handler, pods, "teardown")
    cids = [cri_engine.run_container(pod, config, f"c{i}", "sleep", "1000") for i in range(2)]
    cgroups = [_cgroup_of(_pid(cri_engine, cid), "memory") for cid in cids]
    cgroups.append(_cgroup_of(_pod_pid(cri_engine, pod), "memory"))
    netns = next(ns["path"] for ns in cri_engine.pod_info(pod)["runtimeSpec"]["linux"]
                 ["namespaces"] if ns["type"] == "network")
    cri_engine.rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod))
    for cid in cids:
        assert cri_engine.status(cid).state == cri.CONTAINER_EXITED
    assert cri_engine.pod_status(pod).state == cri.SANDBOX_NOTREADY
    for cid in cids:
        cri_engine.rt.RemoveContainer(cri.RemoveContainerRequest(container_id=cid))
    cri_engine.rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod))
    pods.remove(pod)
    assert pod not in cri_engine.pods()
    assert _leftovers(cri_engine, [pod, *cids], cgroups) == []
    assert not os.path.exists(netns)


# --------------------------------------------------------------------------- 8


def test_containerd_restart_under_a_running_pod(cri_engine: CRI, handler: str,
                                                pods: list[str]) -> None:
    pod, config = _pod(cri_engine, handler, pods, "restart")
    cid = cri_engine.run_container(pod, config, "app", "sh", "-c",
                                   "trap '' TERM; while :; do sleep 1; done")
    pid = _pid(cri_engine, cid)
    cri_engine.stop_daemon()
    try:
        time.sleep(0.5)
        assert os.path.exists(f"/proc/{pid}"), "the container died with containerd"
    finally:
        cri_engine.start()
    assert cri_engine.status(cid).state == cri.CONTAINER_RUNNING
    assert cri_engine.pod_status(pod).state == cri.SANDBOX_READY
    assert cri_engine.exec_sync(cid, "echo", "still here").stdout == b"still here\n"
    cri_engine.rt.StopContainer(cri.StopContainerRequest(container_id=cid, timeout=1))
    assert cri_engine.status(cid).exit_code == 137
    assert not os.path.exists(f"/proc/{pid}")


# --------------------------------------------------------------------------- 9


def test_four_pods_at_once(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    results: dict[int, tuple[str, str, str]] = {}
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            config = cri_engine.pod_config(f"many{i}")
            pod = cri_engine.run_pod(handler, config)
            pods.append(pod)
            cid = cri_engine.run_container(pod, config, "app", "sleep", "1000")
            name = cri_engine.exec_sync(cid, "hostname").stdout.decode().strip()
            results[i] = (pod, name, cri_engine.pod_status(pod).network.ip)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert errors == []
    assert sorted(name for _, name, _ in results.values()) == [f"many{i}" for i in range(4)]
    assert len({ip for _, _, ip in results.values()}) == 4


# --------------------------------------------------------------------------- the pod's plumbing


def test_pod_plumbing(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    """What the CRI plugin adds to every container's spec and kubelet relies on: the
    pod's sysctls (a net.* one set in the network namespace the CNI made, which the
    sandbox joins by path), a /dev/shm shared by the pod, /etc/hosts and
    /etc/hostname from the sandbox, masked and read-only /proc paths,
    oom_score_adj, rlimits."""
    config = cri_engine.pod_config("plumbing")
    config.linux.sysctls["kernel.shm_rmid_forced"] = "1"
    config.linux.sysctls["net.ipv4.ip_unprivileged_port_start"] = "80"
    pod = cri_engine.run_pod(handler, config)
    pods.append(pod)
    # kubelet sets each container's oom_score_adj from its QoS class (1000 for a
    # best-effort one).
    a = cri_engine.run_container(pod, config, "a", "sleep", "1000",
                                 resources=cri.LinuxContainerResources(oom_score_adj=1000))
    b = cri_engine.run_container(pod, config, "b", "sleep", "1000")
    assert cri_engine.exec_sync(a, "cat", "/proc/sys/kernel/shm_rmid_forced").stdout == b"1\n"
    assert cri_engine.exec_sync(
        a, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start").stdout == b"80\n"
    r = cri_engine.exec_sync(a, "sh", "-c", "echo shared > /dev/shm/x")
    assert r.exit_code == 0, r
    assert cri_engine.exec_sync(b, "cat", "/dev/shm/x").stdout == b"shared\n"
    assert cri_engine.exec_sync(a, "cat", "/etc/hostname").stdout == b"plumbing\n"
    # /etc/hosts is the node's (kubelet, not the CRI plugin, writes a pod's own).
    assert cri_engine.exec_sync(a, "cat", "/etc/hosts").stdout == Path("/etc/hosts").read_bytes()
    spec = cri_engine.info(a)["runtimeSpec"]
    # masked: each masked file that exists here reads as /dev/null; read-only:
    # /proc/sysrq-trigger (under the plugin's readonlyPaths) cannot be written.
    masked = [p for p in spec["linux"]["maskedPaths"] if os.path.isfile(p)]
    assert masked, spec["linux"]["maskedPaths"]
    for path in masked:
        assert cri_engine.exec_sync(a, "cat", path).stdout == b"", path
    r = cri_engine.exec_sync(a, "sh", "-c", "echo 1 > /proc/sysrq-trigger")
    assert r.exit_code != 0, r
    pid = _pid(cri_engine, a)
    assert spec["process"]["oomScoreAdj"] == 1000
    assert _read(f"/proc/{pid}/oom_score_adj") == "1000"
    limits = {r["type"]: r for r in spec["process"].get("rlimits", [])}
    if "RLIMIT_NOFILE" in limits:
        soft = cri_engine.exec_sync(a, "sh", "-c", "ulimit -n").stdout.strip()
        assert soft == str(limits["RLIMIT_NOFILE"]["soft"]).encode()
    env = cri_engine.exec_sync(a, "env").stdout.decode().splitlines()
    assert "HOSTNAME=plumbing" in env


# --------------------------------------------------------------------------- more of what pods ask


def test_privileged_host_pid_and_groups(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    """A privileged container in a hostPID pod (what node agents, CNI and CSI
    daemons run as), and run_as_group with supplemental groups."""
    config = cri_engine.pod_config("priv")
    config.linux.security_context.namespace_options.pid = cri.NODE
    config.linux.security_context.privileged = True
    pod = cri_engine.run_pod(handler, config)
    pods.append(pod)
    priv = cri_engine.run_container(
        pod, config, "priv", "sleep", "1000",
        security_context=cri.LinuxContainerSecurityContext(
            privileged=True, namespace_options=config.linux.security_context.namespace_options))
    pid = _pid(cri_engine, priv)
    assert _ns(pid, "pid") == _ns(os.getpid(), "pid")
    status = Path(f"/proc/{pid}/status").read_text()
    bounding = next(line.split()[1] for line in status.splitlines() if line.startswith("CapBnd"))
    ours = next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("CapBnd"))
    assert bounding == ours
    assert "Seccomp:\t0" in status
    # privileged: the host's devices, no masked paths
    spec = cri_engine.info(priv)["runtimeSpec"]
    assert not spec["linux"].get("maskedPaths")
    host_devices = sorted(os.listdir("/dev"))
    seen = cri_engine.exec_sync(priv, "ls", "/dev").stdout.decode().split()
    assert "null" in seen
    # (/dev/console is the container's terminal, or nothing: not the host's)
    assert {d for d in host_devices if d != "console" and Path(f"/dev/{d}").is_char_device()
            } <= set(seen)
    grouped = cri_engine.run_container(
        pod, config, "grouped", "sleep", "1000",
        security_context=cri.LinuxContainerSecurityContext(
            run_as_user=cri.Int64Value(value=1000), run_as_group=cri.Int64Value(value=2000),
            supplemental_groups=[3000, 4000],
            namespace_options=config.linux.security_context.namespace_options))
    assert cri_engine.exec_sync(grouped, "id", "-u").stdout == b"1000\n"
    assert cri_engine.exec_sync(grouped, "id", "-g").stdout == b"2000\n"
    groups = cri_engine.exec_sync(grouped, "id", "-G").stdout.split()
    assert {b"2000", b"3000", b"4000"} <= set(groups), groups


def test_host_path_with_host_to_container_propagation(cri_engine: CRI, handler: str,
                                                      pods: list[str], tmp_path: Path
                                                      ) -> None:
    """A hostPath volume with mountPropagation HostToContainer (CSI node plugins'
    consumers): a mount made on the host after the start shows inside."""
    import subprocess

    shared = tmp_path / "shared"
    shared.mkdir()
    subprocess.run(["mount", "--bind", str(shared), str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-rshared", str(shared)], check=True)
        (shared / "later").mkdir()
        pod, config = _pod(cri_engine, handler, pods, "prop")
        container = cri_engine.container_config("app", "sleep", "1000")
        container.mounts.append(cri.Mount(container_path="/vol", host_path=str(shared),
                                          propagation=cri.PROPAGATION_HOST_TO_CONTAINER))
        cid = cri_engine.create(pod, config, container)
        cri_engine.start_container(cid)
        subprocess.run(["mount", "-t", "tmpfs", "late", str(shared / "later")], check=True)
        (shared / "later" / "file").write_text("mounted later\n")
        r = cri_engine.exec_sync(cid, "cat", "/vol/later/file")
        assert r.stdout == b"mounted later\n", r
    finally:
        subprocess.run(["umount", "-R", "-l", str(shared)], check=False)


def test_tty_container_logs(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    pod, config = _pod(cri_engine, handler, pods, "tty")
    container = cri_engine.container_config("app", "sh", "-c", "tty; echo done")
    container.tty = True
    cid = cri_engine.create(pod, config, container)
    cri_engine.start_container(cid)
    status = cri_engine.wait_exited(cid)
    assert status.exit_code == 0, status
    deadline = time.monotonic() + 10
    while True:
        lines = Path(status.log_path).read_text().splitlines()
        if len(lines) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    texts = [line.split(" ", 3)[3] for line in lines]
    streams = {line.split(" ", 3)[1] for line in lines}
    assert streams == {"stdout"}, lines
    assert texts[0].startswith("/dev/pts/"), lines
    assert texts[1].rstrip("\r") == "done", lines


def test_seccomp_localhost_profile(cri_engine: CRI, handler: str, pods: list[str],
                                   tmp_path: Path) -> None:
    """A Localhost seccomp profile (a file on the node, in Docker's JSON format)
    that refuses mkdir with EPERM; everything else is allowed."""
    import json

    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": 1}]}))
    pod, config = _pod(cri_engine, handler, pods, "seccomp")
    cid = cri_engine.run_container(
        pod, config, "app", "sleep", "1000",
        security_context=cri.LinuxContainerSecurityContext(seccomp=cri.SecurityProfile(
            profile_type=cri.SecurityProfile.Localhost, localhost_ref=str(profile))))
    r = cri_engine.exec_sync(cid, "mkdir", "/tmp/x")
    assert r.exit_code != 0, r
    assert b"Operation not permitted" in r.stderr, r
    assert cri_engine.exec_sync(cid, "touch", "/tmp/y").exit_code == 0


def test_update_cpuset(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    pod, config = _pod(cri_engine, handler, pods, "cpuset")
    cid = cri_engine.run_container(pod, config, "app", "sleep", "1000")
    path = _cgroup_of(_pid(cri_engine, cid), "cpuset")
    cri_engine.rt.UpdateContainerResources(cri.UpdateContainerResourcesRequest(
        container_id=cid, linux=cri.LinuxContainerResources(cpuset_cpus="0",
                                                            cpuset_mems="0")))
    assert _read(_controller_dir("cpuset", path) + "/cpuset.cpus") == "0"
    assert _read(_controller_dir("cpuset", path) + "/cpuset.mems") == "0"


def _hugepage_sizes() -> list[str]:
    """The node's huge page sizes as kubelet names them ("2MB", "1GB")."""
    sizes = []
    for entry in sorted(os.listdir("/sys/kernel/mm/hugepages")):
        kib = int(entry.removeprefix("hugepages-").removesuffix("kB"))
        sizes.append(f"{kib // 1024 // 1024}GB" if kib >= 1024 * 1024 else f"{kib // 1024}MB")
    return sizes


def test_kubelet_shaped_resources(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    """What kubelet sends for a burstable container on a cgroup v1 node: a limit for
    every huge page size of the node (0 when none is requested), memory+swap equal
    to the memory limit, cpu shares, oom_score_adj."""
    pod, config = _pod(cri_engine, handler, pods, "kubelet")
    resources = cri.LinuxContainerResources(
        memory_limit_in_bytes=96 * MiB, memory_swap_limit_in_bytes=96 * MiB, cpu_shares=102,
        cpu_period=100000, cpu_quota=30000, oom_score_adj=968,
        hugepage_limits=[cri.HugepageLimit(page_size=size, limit=0)
                         for size in _hugepage_sizes()])
    cid = cri_engine.run_container(pod, config, "app", "sleep", "1000", resources=resources)
    pid = _pid(cri_engine, cid)
    memory = _cgroup_of(pid, "memory")
    assert _read(_controller_dir("memory", memory) + "/memory.limit_in_bytes") == str(96 * MiB)
    swap = _controller_dir("memory", memory) + "/memory.memsw.limit_in_bytes"
    if os.path.exists(swap):
        assert _read(swap) == str(96 * MiB)
    assert _read(f"/proc/{pid}/oom_score_adj") == "968"
    # containerd 1.6 passes the huge page limits only where a v1 hugetlb
    # hierarchy exists (this host has hugetlb on its cgroup2 mount: it drops them).
    spec = cri_engine.info(cid)["runtimeSpec"]
    assert spec["linux"]["resources"]["cpu"]["shares"] == 102
    cpu = _controller_dir("cpu", _cgroup_of(pid, "cpu"))
    assert (_read(f"{cpu}/cpu.shares"), _read(f"{cpu}/cpu.cfs_quota_us")) == ("102", "30000")


def test_stop_in_a_shared_pid_namespace_kills_the_whole_container(
        cri_engine: CRI, cri_runtime: Runtime, handler: str, pods: list[str]) -> None:
    """With pid namespace POD the container's init is not PID 1: when it dies its
    children are re-parented to the pause process, and the shim kills what is left
    (``kill --all``): nothing of the container may survive, its cgroup goes."""
    pod, config = _pod(cri_engine, handler, pods, "sharedpid", pid_pod=True)
    cid = cri_engine.run_container(pod, config, "app", "sh", "-c",
                                   "sleep 1001 & sleep 1002 & wait")
    pid = _pid(cri_engine, cid)
    memory = _cgroup_of(pid, "memory")
    procs = _controller_dir("memory", memory) + "/cgroup.procs"
    deadline = time.monotonic() + 10
    while len(_read(procs).split()) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    members = [int(p) for p in _read(procs).split()]
    assert len(members) == 3, members
    cri_engine.rt.StopContainer(cri.StopContainerRequest(container_id=cid, timeout=2))
    status = cri_engine.status(cid)
    assert status.state == cri.CONTAINER_EXITED
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in members) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in members if _alive(p)] == []
    if handler == "fire":
        assert ["kill", "--all", cid, "9"] in cri_runtime.calls_for(cid)
    cri_engine.rt.RemoveContainer(cri.RemoveContainerRequest(container_id=cid))
    assert not os.path.isdir(_controller_dir("memory", memory))
    # the pod itself still runs
    assert cri_engine.pod_status(pod).state == cri.SANDBOX_READY


def _alive(pid: int) -> bool:
    """Running, not a zombie (this pause image, ``sleep``, reaps no orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_exit_code_in_a_shared_pid_namespace(cri_engine: CRI, handler: str, pods: list[str]
                                             ) -> None:
    """The container's init is not PID 1 of its namespace (pause is): its exit code
    still reaches the CRI."""
    pod, config = _pod(cri_engine, handler, pods, "sharedexit", pid_pod=True)
    cid = cri_engine.run_container(pod, config, "app", "sh", "-c", "sleep 0.2; exit 5")
    status = cri_engine.wait_exited(cid)
    assert (status.state, status.exit_code, status.reason) == (cri.CONTAINER_EXITED, 5, "Error")


def test_pause_killed(cri_engine: CRI, handler: str, pods: list[str]) -> None:
    """The pause process dies (OOM, a stray kill): the sandbox is reported NOTREADY
    (kubelet then makes a new one); the pod can still be stopped and removed."""
    import signal

    pod, config = _pod(cri_engine, handler, pods, "pausekill")
    cid = cri_engine.run_container(pod, config, "app", "sleep", "1000")
    os.kill(_pod_pid(cri_engine, pod), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while cri_engine.pod_status(pod).state != cri.SANDBOX_NOTREADY:
        assert time.monotonic() < deadline, cri_engine.pod_status(pod)
        time.sleep(0.2)
    cri_engine.remove_pod(pod)
    pods.remove(pod)
    assert _leftovers(cri_engine, [pod, cid], []) == []

