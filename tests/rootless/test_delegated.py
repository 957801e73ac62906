"""A delegated cgroup v2 subtree (issue 17): in the cgroup2 VM booted with systemd
(``tests/run-v2.sh --systemd``), a user whose ``user@UID.service`` runs owns
``/sys/fs/cgroup/user.slice/user-UID.slice/user@UID.service``; Fire, started in it
(``systemd-run --user --scope``, as a user would), makes the container's cgroup
there and applies the limits, as root's are applied.  One test, few commands:
Python is 10-25x slower in the VM."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.rootless.conftest import Runtime, User, UserBundle, fire_only

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.systemd, fire_only]  # runc 1.1.5 uses its own, root's, cgroup


@pytest.fixture
def delegated_user(area: Path) -> Iterator[User]:
    import uuid

    user = User(area, f"frd{uuid.uuid4().hex[:8]}")
    service = f"user@{user.uid}.service"
    try:
        subprocess.run(["systemctl", "start", service], check=True, timeout=120)
        # the user manager's runtime dir (its bus) and a scope of its own per command
        user.runtime_dir = Path(f"/run/user/{user.uid}")
        user.wrap = ["systemd-run", "--user", "--scope", "--quiet"]
        yield user
    finally:
        subprocess.run(["systemctl", "stop", service], check=False, timeout=120)
        user.remove()


def test_limits_applied_in_the_delegated_subtree(delegated_user: User, area: Path,
                                                 user_rootfs: Path) -> None:
    user = delegated_user
    subtree = Path(f"/sys/fs/cgroup/user.slice/user-{user.uid}.slice/user@{user.uid}.service")
    assert subtree.stat().st_uid == user.uid  # what systemd delegates
    runtime = Runtime(user)
    path = area / f"bundle-{runtime.unique_id()}"
    path.mkdir()
    bundle = UserBundle(path, user_rootfs, user)
    bundle.config["linux"]["resources"] = {"memory": {"limit": 64 << 20},
                                           "pids": {"limit": 50}}
    bundle.config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup",
                                    "source": "cgroup", "options": ["nosuid", "noexec",
                                                                    "nodev", "ro"]})
    bundle.args("sleep", "1000").write()
    cid = runtime.ids[-1]
    r = runtime("create", "-b", str(path), cid, timeout=300)
    assert r.code == 0, r
    try:
        mine = subtree / cid
        assert (mine / "memory.max").read_text() == f"{64 << 20}\n"
        assert (mine / "pids.max").read_text() == "50\n"
        pid = runtime.state(cid)["pid"]
        assert str(pid) in (mine / "cgroup.procs").read_text().split()
        assert runtime("start", cid, timeout=300).code == 0
        r = runtime("ps", "--format", "json", cid, timeout=300)
        assert pid in json.loads(r.out), r
        r = runtime("exec", cid, "sh", "-c", "cat /sys/fs/cgroup/pids.max", timeout=300)
        assert (r.code, r.out) == (0, "50\n"), r  # the container's own cgroup, joined
        r = runtime("update", "--memory", "32m", cid, timeout=300)
        assert r.code == 0, r
        assert (mine / "memory.max").read_text() == f"{32 << 20}\n"
        r = runtime("pause", cid, timeout=300)
        assert r.code == 0, r
        assert (mine / "cgroup.freeze").read_text() == "1\n"
        assert runtime("resume", cid, timeout=300).code == 0
    finally:
        r = runtime("delete", "--force", cid, timeout=300)
    assert r.code == 0, r
    deadline = time.monotonic() + 30
    while (subtree / cid).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (subtree / cid).exists()
