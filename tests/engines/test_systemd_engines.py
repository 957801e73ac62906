"""podman and containerd driving Fire with the systemd cgroup driver, in the VM booted
with systemd (tests/run-v2.sh --systemd): the engines' defaults on a systemd host.

The engines' state lives on a tmpfs (their overlay storage cannot sit on the VM's own
overlay).  The engine fixtures and the call-logging ``fire`` wrapper are the host
engine tests' (tests/engines/conftest.py); only the work directory and the cgroup
manager differ.  With FIRE_TEST_RUNTIME=runc the engines run runc instead, as the
reference.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.engines.conftest import (
    CTR_IMAGE,
    PODMAN_IMAGE,
    Containerd,
    Podman,
    Runtime,
    unique,
)
from tests.engines.images import oci_archive

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.systemd]

MiB = 1 << 20
REFERENCE = os.environ.get("FIRE_TEST_RUNTIME", "fire")


def active(unit: str) -> str:
    return subprocess.run(["systemctl", "is-active", unit], capture_output=True, text=True,
                          timeout=60).stdout.strip()


def listed(text: str) -> list[str]:
    out = subprocess.run(["systemctl", "list-units", "--all", "--no-legend", "--plain"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [line for line in out.splitlines() if text in line]


def wait_for(predicate: object, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def tmpfs_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fire-sd-engines-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(path)],
                   check=True)
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def runtime_path(tmpfs_dir: Path) -> tuple[Runtime, str]:
    runtime = Runtime(tmpfs_dir)
    binary = str(runtime.path) if REFERENCE == "fire" else shutil.which(REFERENCE) or REFERENCE
    return runtime, binary


@pytest.fixture(scope="module")
def sd_podman(tmpfs_dir: Path, runtime_path: tuple[Runtime, str],
              image_layer: str) -> Iterator[Podman]:
    if shutil.which("podman") is None or shutil.which("conmon") is None:
        pytest.skip("podman and conmon are not installed (bin/setup --dev installs them)")
    runtime, binary = runtime_path
    engine = Podman(tmpfs_dir / "podman", runtime)
    engine.argv[1:1] = ["--cgroup-manager", "systemd", "--runtime", binary]
    engine.check("import", "--change", "CMD=/bin/sh", image_layer, PODMAN_IMAGE)
    yield engine
    engine.cleanup()


def test_podman_run_exec_update_stop_rm(sd_podman: Podman, runtime_path: tuple[Runtime, str]
                                        ) -> None:
    runtime, _ = runtime_path
    name = unique("sdpm")
    out = sd_podman.check("run", "-d", "--network", "none", "--name", name, "--memory", "64m",
                          PODMAN_IMAGE, "sleep", "1000")
    cid = out.strip().splitlines()[-1]
    unit = f"libpod-{cid}.scope"
    assert active(unit) == "active"
    cgroup = sd_podman.check("exec", name, "cat", "/proc/self/cgroup").strip()
    assert cgroup == "0::/", cgroup  # a cgroup namespace rooted at the scope
    limit = sd_podman.check("exec", name, "cat", "/sys/fs/cgroup/memory.max").strip()
    assert limit == str(64 * MiB)
    with open(f"/sys/fs/cgroup/machine.slice/{unit}/memory.max") as f:
        assert f.read().strip() == str(64 * MiB)
    sd_podman.check("update", "--memory", "96m", name)
    limit = sd_podman.check("exec", name, "cat", "/sys/fs/cgroup/memory.max").strip()
    assert limit == str(96 * MiB)
    sd_podman.check("stop", "--time", "1", name)
    status = sd_podman.check("inspect", "--format", "{{.State.Status}}", name).strip()
    assert status == "exited"
    sd_podman.check("rm", name)
    assert wait_for(lambda: listed(cid) == []), listed(cid)
    if REFERENCE == "fire":
        runtime.assert_ran(cid)


@pytest.fixture(scope="module")
def sd_containerd(tmpfs_dir: Path, runtime_path: tuple[Runtime, str],
                  image_layer: str) -> Iterator[Containerd]:
    if shutil.which("containerd") is None or shutil.which("containerd-shim-runc-v2") is None:
        pytest.skip("containerd is not installed (bin/setup --dev installs it)")
    runtime, binary = runtime_path
    engine = Containerd(tmpfs_dir / "containerd", runtime)
    engine.runc = ["--runc-binary", binary, "--runc-root", str(tmpfs_dir / "runc"),
                   "--runc-systemd-cgroup"]
    try:
        archive = oci_archive(str(tmpfs_dir), image_layer, CTR_IMAGE)
        engine.check("images", "import", archive)
        yield engine
    finally:
        engine.stop()


def test_containerd_task_run_exec_kill_delete(sd_containerd: Containerd,
                                              runtime_path: tuple[Runtime, str]) -> None:
    runtime, _ = runtime_path
    cid = unique("sdctr")
    ctr = sd_containerd
    ctr.check("run", "-d", *ctr.runc, "--cgroup", f"system.slice:ctr:{cid}", CTR_IMAGE, cid,
              "sleep", "1000")
    unit = f"ctr-{cid}.scope"
    assert active(unit) == "active"
    out = ctr.check("task", "exec", "--exec-id", "e1", cid, "cat", "/proc/self/cgroup")
    assert out.strip() in ("0::/", f"0::/system.slice/{unit}")  # with or without cgroupns
    ctr.check("task", "kill", "--signal", "SIGKILL", cid)
    assert wait_for(lambda: "STOPPED" in ctr.check("task", "ls")), ctr.check("task", "ls")
    ctr.check("task", "delete", cid)
    ctr.check("container", "delete", cid)
    assert wait_for(lambda: listed(cid) == []), listed(cid)
    if REFERENCE == "fire":
        runtime.assert_ran(cid)
