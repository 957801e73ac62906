"""Checkpoint on the host (root, no VM): what must hold wherever CRIU runs or not.

On this machine CRIU 3.17 cannot dump (kernel 6.18: "vdso: Unexpected rt vDSO area
bounds"): ``fire checkpoint`` must then fail within seconds with CRIU's reason and
log, and leave the container running.  Where CRIU works, the same test sees the
dump succeed (and the container gone, as runc leaves it).
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from tests.checkpoint.conftest import counting, gone, quiet, read_count, wait_count

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def mount_id_of(pid: int, fd: int) -> int:
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
    raise AssertionError("no mnt_id")


def dev_mount_id(pid: int) -> int:
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/dev":
                return int(fields[0])
    raise AssertionError("no /dev mount")


def test_stdio_on_the_hosts_dev_null_becomes_the_containers(fire: Fire, bundle: Bundle) -> None:
    """runc's reOpenDevNull: the host's /dev/null is on a mount CRIU cannot dump."""
    cid = fire.unique_id("ck")
    bundle.args("sleep", "600").write()
    r = quiet(fire, "create", "--bundle", str(bundle.path), cid)
    assert r.returncode == 0, r
    pid = fire.state(cid)["pid"]
    dev = dev_mount_id(pid)
    for fd in range(3):
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"
        assert mount_id_of(pid, fd) == dev
    assert fire("delete", "--force", cid).code == 0


def test_checkpoint_fails_fast_with_criu_reason_or_works(fire: Fire, bundle: Bundle,
                                                          tmp_path: Path) -> None:
    cid = fire.unique_id("ck")
    count = counting(fire, bundle, cid)
    pid = fire.state(cid)["pid"]
    images = tmp_path / "images"
    began = time.monotonic()
    r = fire("checkpoint", "--image-path", str(images), cid, timeout=120)
    took = time.monotonic() - began
    if r.code == 0:  # a kernel CRIU 3.17 knows
        assert gone(pid)
        assert "does not exist" in fire("state", cid).err
        return
    assert took < 20, f"checkpoint took {took:.1f}s to fail"
    assert r.err.startswith("fire: criu failed: "), r
    assert r.err.rstrip().endswith(f"(log: {images}/dump.log)"), r
    assert len(r.err.strip().splitlines()) == 1, r
    assert (images / "dump.log").exists()
    # nothing changed: the container runs and counts on
    assert fire.state(cid)["status"] == "running"
    wait_count(count, read_count(count) + 2)
    assert fire("delete", "--force", cid).code == 0


def test_checkpoint_errors_before_criu(fire: Fire, bundle: Bundle, tmp_path: Path,
                                       readonly_dir: Path) -> None:
    cid = fire.unique_id("ck")
    bundle.args("sleep", "600").write()
    r = quiet(fire, "create", "--bundle", str(bundle.path), cid)
    assert r.returncode == 0, r
    r1 = fire("checkpoint", "--image-path", str(tmp_path / "img"), cid)
    assert r1.code == 1
    assert r1.err == "fire: container cannot be checkpointed in created state\n"
    fire("start", cid, check=True)
    missing = fire("checkpoint", "--image-path", str(tmp_path / "img"), cid,
                   env={"FIRE_CRIU": "/nonexistent/criu"})
    assert missing.code == 1
    assert missing.err.startswith("fire: criu is not installed"), missing
    r3 = fire("checkpoint", "--image-path", str(readonly_dir), cid)
    assert r3.code == 1
    assert r3.err == (f"fire: the image directory {readonly_dir} is not writable: "
                      "Read-only file system\n")
    r4 = fire("checkpoint", "--image-path", str(tmp_path / "img"), "--parent-path", "/abs", cid)
    assert r4.code == 1
    assert "--parent-path must be relative" in r4.err
    r5 = fire("checkpoint", "--manage-cgroups-mode", "loose", cid)
    assert r5.code == 1
    assert "invalid --manage-cgroups-mode 'loose'" in r5.err
    assert fire.state(cid)["status"] == "running"
    assert not (tmp_path / "img" / "dump.log").exists()
    assert fire("delete", "--force", cid).code == 0


def test_restore_without_criu_or_images_leaves_nothing(fire: Fire, bundle: Bundle,
                                                       tmp_path: Path) -> None:
    cid = fire.unique_id("ck")
    bundle.args("sleep", "600").write()
    r = quiet(fire, "restore", "-d", "-b", str(bundle.path), "--image-path",
              str(tmp_path / "none"), cid)
    assert r.returncode == 1
    assert r.error == f"{tmp_path / 'none'}/descriptors.json is missing: not a " \
        "checkpoint of a container (or only a pre-dump)"
    r2 = fire("--criu", "/nonexistent/criu", "restore", "-d", "-b", str(bundle.path), cid)
    assert r2.code == 1
    assert r2.err.startswith("fire: criu is not installed"), r2
    assert "does not exist" in fire("state", cid).err


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ro"
    path.mkdir()
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)
