"""Kubernetes pods on a systemd host: containerd's CRI plugin with ``SystemdCgroup =
true`` in the runc-type handlers (``fire`` and ``runc``, the reference), driven as
kubelet's systemd cgroup driver drives it, in the VM booted with systemd
(tests/run-v2.sh --systemd).

A pod's cgroup parent is a slice name (``kubepods-besteffort-pod<uid>.slice``); the
CRI plugin gives the runtime ``<slice>:cri-containerd:<id>``, so the sandbox and each
container are transient scopes in the pod's slice.  The pods use the host's network
(no CNI in the VM).  The engine is tests/cri/engine.py's, with its work directory on a
tmpfs (the overlayfs snapshotter cannot sit on the VM's overlay root).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cri.conftest import running_engine
from tests.cri.engine import CRI, HANDLERS
from tests.engines.conftest import Runtime
from tests.engines.test_systemd_engines import active, listed, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.systemd]

MiB = 1 << 20
POD_SLICES = "/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice"


def show(unit: str, *props: str) -> dict[str, str]:
    out = subprocess.run(["systemctl", "show", unit, *(f"--property={p}" for p in props)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def mounts_naming(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


@pytest.fixture(scope="module")
def sd_cri() -> Iterator[CRI]:
    work = Path(tempfile.mkdtemp(prefix="fire-sd-cri-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(work)], check=True)
    try:
        with running_engine(work, Runtime(work), systemd=True) as engine:
            yield engine
    finally:
        subprocess.run(["umount", "-l", str(work)], check=False)
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.timeout(600)  # the VM is slow (Python 10-25x)
@pytest.mark.parametrize("handler", HANDLERS)
def test_pod_in_its_slice_exec_stop_remove(sd_cri: CRI, handler: str) -> None:
    from cri_api.v1 import api_pb2 as cri

    config = sd_cri.pod_config(f"sd-{handler}", host_network=True)
    uid = config.metadata.uid
    pod_slice = sd_cri.pod_slice(uid)
    pod = sd_cri.run_pod(handler, config)
    try:
        sandbox_unit = f"cri-containerd-{pod}.scope"
        assert active(sandbox_unit) == "active"
        assert show(sandbox_unit, "Slice")["Slice"] == pod_slice
        cid = sd_cri.run_container(
            pod, config, "app", "sleep", "1000",
            resources=cri.LinuxContainerResources(memory_limit_in_bytes=64 * MiB,
                                                  cpu_period=100000, cpu_quota=50000))
        unit = f"cri-containerd-{cid}.scope"
        assert active(unit) == "active"
        props = show(unit, "Slice", "MemoryMax", "CPUQuotaPerSecUSec")
        assert props == {"Slice": pod_slice, "MemoryMax": str(64 * MiB),
                         "CPUQuotaPerSecUSec": "500ms"}, props
        scope_dir = f"{POD_SLICES}/{pod_slice}/{unit}"
        with open(f"{scope_dir}/memory.max") as f:
            assert f.read().strip() == str(64 * MiB)
        assert sd_cri.status(cid).state == cri.CONTAINER_RUNNING

        r = sd_cri.exec_sync(cid, "cat", "/proc/self/cgroup", "/sys/fs/cgroup/memory.max",
                             "/sys/fs/cgroup/cpu.max")
        assert r.exit_code == 0, r
        lines = r.stdout.decode().split("\n")
        assert lines[0] in ("0::/", f"0::/kubepods.slice/kubepods-besteffort.slice/"
                                    f"{pod_slice}/{unit}"), lines
        assert lines[1:3] == [str(64 * MiB), "50000 100000"], lines
        assert sd_cri.exec_sync(cid, "sh", "-c", "exit 7").exit_code == 7
    finally:
        sd_cri.remove_pod(pod)

    assert wait_for(lambda: listed(pod) == [] and listed(cid) == []), listed(pod) + listed(cid)
    assert not Path(scope_dir).exists()
    assert mounts_naming(pod) == []
    assert mounts_naming(cid) == []
    assert pod not in sd_cri.pods()
    # kubelet stops the pod's slice once the pod is gone; then nothing is left.
    subprocess.run(["systemctl", "stop", pod_slice], check=True, timeout=60)
    assert wait_for(lambda: listed(pod_slice) == []), listed(pod_slice)
    assert not Path(f"{POD_SLICES}/{pod_slice}").exists()
    if handler == "fire":
        verbs = sd_cri.runtime.verbs(cid)
        assert "create" in verbs, verbs
        assert "delete" in verbs, verbs
        assert any("--systemd-cgroup" in call["argv"] for call in sd_cri.runtime.calls()
                   if cid in call["argv"])
