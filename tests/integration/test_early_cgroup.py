"""create joins the init to its cgroup before config.json is decoded
(fire/container/early.py): the container must end up in the cgroup the *decoded*
config names, with its limits, and a config error must still leave nothing."""

from __future__ import annotations

import os

import pytest

from tests.conftest import cgroup_dirs_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def _cgroup_of(pid: int, controller: str) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return path
    raise AssertionError(f"no {controller} cgroup for {pid}")


def test_the_container_runs_in_the_configured_cgroup_with_its_limit(fire: Fire,
                                                                     bundle: Bundle) -> None:
    cid = fire.unique_id()
    bundle.args("sleep", "100")
    bundle.config["linux"]["cgroupsPath"] = f"/fire-early-test/{cid}"
    bundle.config["linux"].setdefault("resources", {})["pids"] = {"limit": 42}
    bundle.write()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    pid = fire.state(cid)["pid"]
    assert _cgroup_of(pid, "pids") == f"/fire-early-test/{cid}"
    with open(f"/sys/fs/cgroup/pids/fire-early-test/{cid}/pids.max") as f:
        assert f.read().strip() == "42"
    assert fire("delete", "--force", cid).code == 0
    assert not os.path.exists(f"/sys/fs/cgroup/pids/fire-early-test/{cid}")


def test_a_config_error_after_the_early_join_leaves_nothing(fire: Fire, bundle: Bundle) -> None:
    cid = fire.unique_id()
    bundle.config["process"]["user"]["uid"] = -1  # caught by msgspec, after the join
    bundle.write()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "$.process.user.uid" in r.err
    assert fire("state", cid).code == 1
    assert cgroup_dirs_of(cid) == []
