"""containerd 1.6 with its CRI plugin, started privately, and a CRI client: what
tests/cri (the pytest fixtures in its conftest) and bench/cri.py drive.

The containerd has its own ``--config`` in a work directory: own root, state and
sockets, nothing shared with the host's containerd or with the one tests/engines
starts.  Its CRI plugin has two runtime handlers of type ``io.containerd.runc.v2``:
``fire`` (``BinaryName`` = a script that runs this worktree's Fire and logs each
call, tests/engines' ``Runtime``) and ``runc`` (Debian's runc, the reference).

Images are built from busybox-static (no registry): the pause image under the name
``sandbox_image`` names (``sleep infinity``) and a busybox image, imported with
``ctr -n k8s.io images import``.  Pods get their network from Debian's CNI plugins
(``bridge`` with ``host-local``) on a free private /24 and a bridge named for the
run, removed at the end.

Machine specifics: when this process's bounding set lacks CAP_SYS_RESOURCE (root
here does), ``restrict_oom_score_adj`` is set, since pods ask for oom_score_adj
-998, which only that capability may set.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
import uuid
from typing import TYPE_CHECKING, Any

from tests.engines.conftest import (
    CONTAINERD_HEAD,
    Runtime,
    _cgroup_dirs,
    kill_strays,
    run,
    sweep_fire_root,
)
from tests.engines.images import oci_archive, rootfs_tar

if TYPE_CHECKING:
    from pathlib import Path

    from cri_api.v1 import api_pb2 as cri

PAUSE_IMAGE = "registry.k8s.io/pause:fire-test"
BUSYBOX_IMAGE = "docker.io/library/fire-busybox:cri"
CNI_BIN = "/usr/lib/cni"
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
CNI_CACHE = "/var/lib/cni"  # libcni's cache of results: containerd 1.6 cannot move it
HANDLERS = ("fire", "runc")
CAP_SYS_RESOURCE = 24
K8S = "k8s.io"
# A deadline on the calls that start and stop pods (kubelet's --runtime-request-timeout
# is 2 minutes; the VM runs Fire's Python 10-25x slower): a hung call fails its test.
REQUEST_TIMEOUT = 200
# What kubelet puts in every container's security context (procMount Default):
# the CRI plugin applies them, it has no defaults of its own.
MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def lacks_cap_sys_resource() -> bool:
    """True when this process's bounding set lacks CAP_SYS_RESOURCE (then no runtime
    it starts can raise oom_score_adj below the current value)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return not int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1
    return False


# The CRI plugin's table, after tests/engines' CONTAINERD_HEAD.
CRI_TOML = """\
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = {restrict}
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.fire]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.fire.options]
        BinaryName = "{fire}"
        Root = "{dir}/fire-root"
        SystemdCgroup = {systemd}
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        Root = "{dir}/runc-root"
        SystemdCgroup = {systemd}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{dir}/cni"
    max_conf_num = 1
"""


def _free_subnet() -> str:
    """A /24 in 10.0.0.0/8 that no route on this host covers."""
    from ipaddress import ip_network

    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        taken = [ip_network(f"{r.get_attr('RTA_DST')}/{r['dst_len']}", strict=False)
                 for r in ipr.get_routes(family=2) if r.get_attr("RTA_DST")]
    rng = random.Random()
    for _ in range(100):
        net = ip_network(f"10.{rng.randrange(100, 250)}.{rng.randrange(0, 256)}.0/24")
        if not any(net.overlaps(t) for t in taken):
            return str(net)
    raise RuntimeError("no free 10.x.y.0/24 on this host")


def _delete_link(name: str) -> None:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            ipr.link("del", index=found[0])


class CRI:
    """A private containerd with the CRI plugin, and a CRI client talking to it."""

    def __init__(self, workdir: Path, runtime: Runtime, fire_binary: str | None = None,
                 *, systemd: bool = False) -> None:
        self.dir = workdir
        self.runtime = runtime
        # The systemd cgroup driver (SystemdCgroup = true in both handlers): pods get
        # the cgroup parent kubelet's systemd driver sends, a slice name.
        self.systemd = systemd
        # The tests' BinaryName is the logging script; the benchmark's the installed
        # launcher (.venv/bin/fire), as an operator's node would have.
        self.fire_binary = fire_binary or str(runtime.path)
        self.socket = workdir / "containerd.sock"
        self.bridge = "fcri" + uuid.uuid4().hex[:8]
        self.subnet = _free_subnet()
        with open(IP_FORWARD) as f:
            self.ip_forward = f.read()
        self.made_cni_cache = not os.path.exists(CNI_CACHE)
        self.cgroup_root = "/fire-cri-" + uuid.uuid4().hex[:8]
        self._write_config()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = open(workdir / "containerd.log", "ab")  # noqa: SIM115  # closed in stop()
        import grpc
        from cri_api.v1 import api_pb2_grpc

        self.channel = grpc.insecure_channel(f"unix://{self.socket}")  # connects lazily
        # The generated stubs are untyped: each call's answer is typed where it is used.
        self.rt: Any = api_pb2_grpc.RuntimeServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.img: Any = api_pb2_grpc.ImageServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.start()

    def _write_config(self) -> None:
        (self.dir / "cni").mkdir()
        (self.dir / "cni" / "10-fire-test.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0",
            "name": "fire-cri-test",
            "plugins": [
                # No gateway: the bridge plugin would give the bridge an address
                # and turn on the host's ip_forward; pods reach each other on it.
                {"type": "bridge", "bridge": self.bridge, "isGateway": False, "ipMasq": False,
                 "ipam": {"type": "host-local", "dataDir": str(self.dir / "ipam"),
                          "ranges": [[{"subnet": self.subnet}]]}},
            ],
        }))
        runc = shutil.which("runc") or "/usr/sbin/runc"
        (self.dir / "config.toml").write_text(CONTAINERD_HEAD.format(
            dir=self.dir, cri="") + "\n" + CRI_TOML.format(
            dir=self.dir, pause=PAUSE_IMAGE, fire=self.fire_binary, runc=runc,
            cni_bin=CNI_BIN, restrict=str(lacks_cap_sys_resource()).lower(),
            systemd=str(self.systemd).lower()))

    # ---------------------------------------------------------------- containerd

    def start(self) -> None:
        self.proc = subprocess.Popen(["containerd", "--config", str(self.dir / "config.toml")],
                                     stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while self.ctr("version").code != 0 or not self._cri_ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("containerd did not start: "
                                   + (self.dir / "containerd.log").read_text()[-3000:])
            time.sleep(0.1)
        self._wait_serving(deadline)

    def _wait_serving(self, deadline: float) -> None:
        """The plugin loads before it serves: after a restart it recovers its pods and
        answers "server is not initialized yet" meanwhile (seen on a busy machine)."""
        import grpc
        from cri_api.v1 import api_pb2 as cri

        while True:
            try:
                self.rt.Status(cri.StatusRequest(), timeout=10)
                return
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _cri_ready(self) -> bool:
        # The plugin serves the CRI once containerd is up; `ctr plugins ls` says
        # whether it loaded (it fails, "skip", when its config is wrong).
        r = self.ctr("plugins", "ls")
        for line in r.out.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[0] == "io.containerd.grpc.v1" and fields[1] == "cri":
                if fields[3] != "ok":
                    raise RuntimeError("the CRI plugin did not load: "
                                       + (self.dir / "containerd.log").read_text()[-3000:])
                return True
        return False

    def stop_daemon(self) -> None:
        """Stop containerd (SIGTERM), as a node's service manager does: the shims
        and the containers they hold keep running."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int) -> str:
        try:
            text = (self.dir / "containerd.log").read_text(errors="replace")
        except FileNotFoundError:  # the work directory is gone (a session's teardown)
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def ctr(self, *args: str, timeout: float = 120) -> Any:
        return run(["ctr", "--address", str(self.socket), "--namespace", K8S, *args],
                   dict(os.environ), timeout=timeout)

    # ---------------------------------------------------------------- pods

    def pod_config(self, name: str, *, host_network: bool = False, pid_pod: bool = False,
                   ) -> cri.PodSandboxConfig:
        from cri_api.v1 import api_pb2 as cri

        uid = uuid.uuid4().hex
        logs = self.dir / "logs" / uid
        logs.mkdir(parents=True)
        ns = cri.NamespaceOption(
            network=cri.NODE if host_network else cri.POD,
            pid=cri.POD if pid_pod else cri.CONTAINER,
            ipc=cri.POD)
        return cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(name=name, uid=uid, namespace="fire-test"),
            # kubelet leaves a hostNetwork pod the node's name: no UTS namespace.
            hostname="" if host_network else name,
            log_directory=str(logs),
            labels={"fire-test": "1"},
            linux=cri.LinuxPodSandboxConfig(
                cgroup_parent=self.pod_slice(uid) if self.systemd
                else f"{self.cgroup_root}/pod{uid}",
                security_context=cri.LinuxSandboxSecurityContext(namespace_options=ns)))

    @staticmethod
    def pod_slice(uid: str) -> str:
        """kubelet's cgroup parent for a BestEffort pod with the systemd driver
        (containerd then gives the runtime ``<slice>:cri-containerd:<id>``)."""
        return f"kubepods-besteffort-pod{uid}.slice"

    def run_pod(self, handler: str, config: cri.PodSandboxConfig) -> str:
        from cri_api.v1 import api_pb2 as cri

        return str(self.rt.RunPodSandbox(
            cri.RunPodSandboxRequest(config=config, runtime_handler=handler),
            timeout=REQUEST_TIMEOUT).pod_sandbox_id)

    def container_config(self, name: str, *command: str, **linux: Any
                         ) -> cri.ContainerConfig:
        from cri_api.v1 import api_pb2 as cri

        return cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name=name),
            image=cri.ImageSpec(image=BUSYBOX_IMAGE),
            command=list(command),
            log_path=f"{name}.log",
            linux=cri.LinuxContainerConfig(**linux))

    def create(self, pod: str, pod_config: cri.PodSandboxConfig,
               config: cri.ContainerConfig) -> str:
        from cri_api.v1 import api_pb2 as cri

        # kubelet repeats the pod's namespace options in each container's security
        # context (containerd reads the container's: pid POD or CONTAINER), and adds
        # the masked and read-only paths.
        context = config.linux.security_context
        if not context.HasField("namespace_options"):
            context.namespace_options.CopyFrom(
                pod_config.linux.security_context.namespace_options)
        if not context.masked_paths:
            context.masked_paths.extend(MASKED_PATHS)
            context.readonly_paths.extend(READONLY_PATHS)
        return str(self.rt.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=pod, config=config, sandbox_config=pod_config)).container_id)

    def start_container(self, cid: str) -> None:
        from cri_api.v1 import api_pb2 as cri

        self.rt.StartContainer(cri.StartContainerRequest(container_id=cid))

    def run_container(self, pod: str, pod_config: cri.PodSandboxConfig, name: str,
                      *command: str, **linux: Any) -> str:
        cid = self.create(pod, pod_config, self.container_config(name, *command, **linux))
        self.start_container(cid)
        return cid

    def status(self, cid: str) -> cri.ContainerStatus:
        from cri_api.v1 import api_pb2 as cri

        status: cri.ContainerStatus = self.rt.ContainerStatus(
            cri.ContainerStatusRequest(container_id=cid, verbose=True)).status
        return status

    def info(self, cid: str) -> dict[str, Any]:
        """ContainerStatus's verbose ``info``: pid, the runtime spec…"""
        from cri_api.v1 import api_pb2 as cri

        r = self.rt.ContainerStatus(cri.ContainerStatusRequest(container_id=cid, verbose=True))
        return json.loads(r.info["info"])  # type: ignore[no-any-return]

    def pod_info(self, pod: str) -> dict[str, Any]:
        from cri_api.v1 import api_pb2 as cri

        r = self.rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod,
                                                                 verbose=True))
        return json.loads(r.info["info"])  # type: ignore[no-any-return]

    def pod_status(self, pod: str) -> cri.PodSandboxStatus:
        from cri_api.v1 import api_pb2 as cri

        status: cri.PodSandboxStatus = self.rt.PodSandboxStatus(
            cri.PodSandboxStatusRequest(pod_sandbox_id=pod)).status
        return status

    def wait_exited(self, cid: str, timeout: float = 30) -> cri.ContainerStatus:
        from cri_api.v1 import api_pb2 as cri

        deadline = time.monotonic() + timeout
        while True:
            status = self.status(cid)
            if status.state == cri.CONTAINER_EXITED or time.monotonic() > deadline:
                return status
            time.sleep(0.1)

    def exec_sync(self, cid: str, *cmd: str, timeout: int = 0) -> cri.ExecSyncResponse:
        from cri_api.v1 import api_pb2 as cri

        r: cri.ExecSyncResponse = self.rt.ExecSync(
            cri.ExecSyncRequest(container_id=cid, cmd=list(cmd), timeout=timeout), timeout=120)
        return r

    def remove_pod(self, pod: str) -> None:
        from cri_api.v1 import api_pb2 as cri

        self.rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod),
                               timeout=REQUEST_TIMEOUT)
        self.rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod),
                                 timeout=REQUEST_TIMEOUT)

    def pods(self) -> list[str]:
        from cri_api.v1 import api_pb2 as cri

        return [p.id for p in self.rt.ListPodSandbox(cri.ListPodSandboxRequest()).items]

    # ---------------------------------------------------------------- the end

    def cleanup(self) -> None:
        try:
            for pod in self.pods():
                try:
                    self.remove_pod(pod)
                except Exception:  # best effort: the sweep below follows
                    pass
        finally:
            self.channel.close()
            if self.proc is not None and self.proc.poll() is None:
                self.stop_daemon()
            self.log.close()
            kill_strays(str(self.dir))
            sweep_fire_root(self.runtime, self.dir / "fire-root" / K8S)
            _delete_link(self.bridge)
            with open(IP_FORWARD) as f:
                changed = f.read() != self.ip_forward
            if changed:  # not by this configuration; still, the host gets its value back
                with open(IP_FORWARD, "w") as f:
                    f.write(self.ip_forward)
            if self.made_cni_cache:
                _rmdir_tree(CNI_CACHE)  # empty once every pod's network is torn down
            for d in _cgroup_dirs(self.cgroup_root):
                _rmdir_tree(d)


def start_engine(workdir: Path, runtime: Runtime, fire_binary: str | None = None, *,
                 systemd: bool = False) -> CRI:
    """containerd with the CRI plugin in ``workdir/containerd``, images imported;
    the handler ``fire`` runs ``fire_binary`` (default: ``runtime``'s logging script);
    ``systemd``: both handlers use the systemd cgroup driver."""
    for tool in ("containerd", "containerd-shim-runc-v2", "ctr", "runc"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (bin/setup --dev installs it)")
    if not os.path.exists(f"{CNI_BIN}/bridge"):
        raise RuntimeError("containernetworking-plugins is not installed (bin/setup --dev)")
    (workdir / "containerd").mkdir()
    engine = CRI(workdir / "containerd", runtime, fire_binary, systemd=systemd)
    try:
        layer = rootfs_tar(str(workdir))
        for image, cmd, name in ((PAUSE_IMAGE, ["/bin/sleep", "infinity"], "pause.tar"),
                                 (BUSYBOX_IMAGE, ["/bin/sh"], "busybox.tar")):
            archive = oci_archive(str(workdir), layer, image, cmd=cmd, filename=name)
            r = engine.ctr("images", "import", archive)
            if r.code != 0:
                raise RuntimeError(f"ctr images import {image}: {r}")
    except BaseException:
        engine.cleanup()
        raise
    return engine


def _rmdir_tree(path: str) -> None:
    """rmdir a directory and its empty children, deepest first (cgroups, the CNI
    cache): anything still in use or not empty stays."""
    if not os.path.isdir(path):
        return
    for top, dirs, _ in os.walk(path, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(top, d))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass
