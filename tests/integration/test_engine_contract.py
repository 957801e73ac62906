"""What podman and containerd's shim rely on, checked without the engines (the
engine tests in tests/engines drive the real ones): the shapes of their calls."""

from __future__ import annotations

import os
import signal
import time
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def _cgroup_dirs(path: str) -> list[str]:
    from fire.cgroup.hierarchy import host_hierarchies

    return [h.mountpoint.rstrip("/") + path for h in host_hierarchies()
            if os.path.isdir(h.mountpoint.rstrip("/") + path)]


def _remove_dirs(path: str) -> None:
    for d in _cgroup_dirs(path):
        os.rmdir(d)


def test_containers_sharing_a_parent_cgroup_delete_in_any_order(fire: Fire, bundle: Bundle
                                                                ) -> None:
    """podman puts every container under /libpod_parent: the first one (which made
    the parent) is deleted while the others still use it."""
    parent = f"/fire-shared-{uuid.uuid4().hex[:8]}"
    ids = [fire.unique_id("sh"), fire.unique_id("sh")]
    try:
        for cid in ids:
            bundle.config["linux"]["cgroupsPath"] = f"{parent}/{cid}"
            bundle.args("sleep", "1000").write()
            fire("run", "-d", "-b", str(bundle.path), cid, check=True)
        start = time.monotonic()
        first = fire("delete", "--force", ids[0])
        assert first.code == 0, first
        assert time.monotonic() - start < 4, "no wait on a parent that others use"
        assert _cgroup_dirs(f"{parent}/{ids[0]}") == []
        assert _cgroup_dirs(f"{parent}/{ids[1]}"), "the other container keeps its cgroup"
        assert fire("delete", "--force", ids[1]).code == 0
    finally:
        _remove_dirs(parent)  # a parent stays once shared, as runc leaves it


def test_kill_all_with_an_absolute_cgroups_path(fire: Fire, bundle: Bundle) -> None:
    """podman's cgroupsPath is absolute; `kill --all ID 15` stops a --pid host one."""
    parent = f"/fire-abs-{uuid.uuid4().hex[:8]}"
    cid = fire.unique_id("abs")
    bundle.config["linux"]["cgroupsPath"] = f"{parent}/{cid}"
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"]
    bundle.args("sleep", "1000").write()
    try:
        fire("run", "-d", "-b", str(bundle.path), cid, check=True)
        assert fire("kill", "--all", cid, "15").code == 0
        assert fire.wait_status(cid, "stopped")["status"] == "stopped"
        assert fire("delete", cid).code == 0
    finally:
        fire("delete", "--force", cid)
        _remove_dirs(parent)


def test_delete_force_of_a_gone_container_succeeds(fire: Fire, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    r = fire("--log", str(log), "--log-format", "json", "delete", "--force", "never-made-x")
    assert r.code == 0, r
    assert not log.exists() or "error" not in log.read_text()


def test_pid_file_of_a_detached_exec(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.args("sleep", "1000").write()
    cid = fire.unique_id("pf")
    fire("run", "-d", "-b", str(bundle.path), cid, check=True)
    pid_file = tmp_path / "exec.pid"
    fire("exec", "--detach", "--pid-file", str(pid_file), cid, "sleep", "100", check=True)
    text = pid_file.read_text()
    assert text.isdigit(), f"digits only, no newline: {text!r}"
    os.kill(int(text), signal.SIGKILL)
