"""Docker with the systemd cgroup driver (``"exec-opts": ["native.cgroupdriver=systemd"]``)
and Fire registered as a runtime, in the VM booted with systemd (tests/run-v2.sh
--systemd): how Docker runs on a systemd host.

The daemon is the host Docker tests' (tests/engines/conftest.py ``Docker``), with its
data and exec roots on a tmpfs (overlay2 cannot sit on the VM's overlay root).  Each
container is the transient scope ``docker-<id>.scope`` in system.slice; the scenario
runs with ``--runtime fire`` and ``--runtime runc`` (Docker's built-in, the reference),
one daemon for both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.engines.conftest import DOCKER, DOCKER_IMAGE, DOCKERD, Docker, Runtime, unique
from tests.engines.images import docker_archive
from tests.engines.test_systemd_engines import active, listed, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.systemd]

MiB = 1 << 20


def show(unit: str, *props: str) -> dict[str, str]:
    out = subprocess.run(["systemctl", "show", unit, *(f"--property={p}" for p in props)],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def sd_docker() -> Iterator[tuple[Docker, Runtime]]:
    for path in (DOCKER, DOCKERD):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} is not installed (bin/setup --dev installs docker.io)")
    work = Path(tempfile.mkdtemp(prefix="fire-sd-docker-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(work)], check=True)
    runtime = Runtime(work)
    engine = Docker(work / "docker", runtime, systemd=True)
    left: list[str] = []
    try:
        archive = docker_archive(str(work), _layer(work), DOCKER_IMAGE)
        engine.check("load", "--input", archive)
        yield engine, runtime
    finally:
        left = engine.stop()
        subprocess.run(["umount", "-l", str(work)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    assert not left, f"dockerd left these behind: {left}"


def _layer(work: Path) -> str:
    from tests.engines.images import rootfs_tar

    return rootfs_tar(str(work))


# The VM runs Python 10-25x slower: Fire's create/start/exec take seconds each there.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("rt", ["fire", "runc"])
def test_docker_run_exec_limits_update_stop_rm(sd_docker: tuple[Docker, Runtime], rt: str
                                               ) -> None:
    docker, runtime = sd_docker
    name = unique("sddk")
    r = docker("run", "--runtime", rt, "--name", name, DOCKER_IMAGE, "sh", "-c", "exit 3")
    assert r.code == 3, r
    cid = docker.inspect(name, "{{.Id}}")
    docker.check("rm", name)
    assert wait_for(lambda: listed(cid) == []), listed(cid)

    docker.check("run", "-d", "--runtime", rt, "--name", name, "--memory", "64m",
                 "--cpus", "0.5", "--pids-limit", "50", DOCKER_IMAGE, "sleep", "1000")
    cid = docker.inspect(name, "{{.Id}}")
    assert docker.inspect(name, "{{.HostConfig.Runtime}}") == rt
    unit = f"docker-{cid}.scope"
    assert active(unit) == "active"
    inside = docker.check("exec", name, "cat", "/proc/self/cgroup",
                          "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cpu.max",
                          "/sys/fs/cgroup/pids.max").split("\n")
    assert inside[:4] == ["0::/", str(64 * MiB), "50000 100000", "50"], inside
    host = f"/sys/fs/cgroup/system.slice/{unit}"
    with open(f"{host}/memory.max") as f:
        assert f.read().strip() == str(64 * MiB)
    props = show(unit, "MemoryMax", "CPUQuotaPerSecUSec", "TasksMax", "Slice")
    assert props == {"MemoryMax": str(64 * MiB), "CPUQuotaPerSecUSec": "500ms",
                     "TasksMax": "50", "Slice": "system.slice"}, props

    docker.check("update", "--memory", "96m", "--memory-swap", "192m", name)
    limit = docker.check("exec", name, "cat", "/sys/fs/cgroup/memory.max").strip()
    assert limit == str(96 * MiB)
    assert show(unit, "MemoryMax")["MemoryMax"] == str(96 * MiB)

    docker.check("stop", "--time", "1", name)
    assert docker.inspect(name, "{{.State.Status}}") == "exited"
    assert wait_for(lambda: not os.path.exists(host)), host
    docker.check("rm", name)
    assert wait_for(lambda: listed(cid) == []), listed(cid)
    if rt == "fire":
        runtime.assert_ran(cid)
        assert "update" in runtime.verbs(cid)
