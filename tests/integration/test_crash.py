"""A runtime killed in the middle of create (FIRE_TEST_CRASH_AT=<stage>) leaves what
`delete --force` can clean completely: state.json names what exists before it is
made (issue #2 §6, "nothing left behind")."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import pytest

from fire.lifecycle.stages import CREATE
from tests.conftest import cgroup_dirs_of

if TYPE_CHECKING:
    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


# (hooks:createContainer runs only when the config has such hooks: the hooks area tests it.)
@pytest.mark.parametrize("stage", [s.name for s in CREATE
                                   if s.name not in ("validate", "hooks:createContainer")])
def test_crash_during_create_then_force_delete(fire: Fire, bundle: Bundle, stage: str) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid, env={"FIRE_TEST_CRASH_AT": stage})
    assert r.code == -9, f"the runtime was killed at {stage}: {r}"
    state_file = fire.root / cid / "state.json"
    pids = []
    if state_file.exists():
        saved = json.loads(state_file.read_text())
        pids = [saved[k] for k in ("pid", "initPid") if saved.get(k)]
        status = fire("state", cid)
        assert status.code == 0, status
        assert status.json()["status"] in ("creating", "stopped")
    assert fire("delete", "--force", cid).code == 0
    assert not (fire.root / cid).exists()
    assert cgroup_dirs_of(cid) == []
    for pid in pids:
        assert _gone(pid), f"process {pid} of the crashed create still runs"
    assert fire("state", cid).code == 1
    assert not os.path.exists(fire.root / cid)
