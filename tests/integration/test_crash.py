"""A runtime killed in the middle of create (FIRE_TEST_CRASH_AT=<stage>) leaves what
`delete --force` can clean completely: state.json names what exists before it is
made (issue #2 §6, "nothing left behind").  A create that fails at any stage of the
graph (FIRE_TEST_FAIL_AT=<stage>) leaves nothing at all: its undos, by stage name,
remove it (issue 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from fire.lifecycle.stages import CREATE, order
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


# Runs a command as a subreaper (as conmon and the shims are): what the command
# leaves is re-parented here, counted and killed.  Prints the command's exit status
# and the number of processes it left alive.  (A zombie, an exited process the
# subreaper reaps, is not counted: the failed create's init sometimes leaves one,
# before issue 18's driver too.)
SUBREAPER = """
import ctypes, os, signal, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
sys.stderr.write(r.stderr)
time.sleep(0.3)
left = [int(p) for t in os.listdir("/proc/self/task")
        for p in open(f"/proc/self/task/{t}/children").read().split()]
alive = 0
for pid in left:
    with open(f"/proc/{pid}/stat") as f:
        alive += f.read().rsplit(")", 1)[1].split()[0] != "Z"
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print(r.returncode, alive)
"""


def with_create_container_hook(bundle: Bundle) -> None:
    """So that every stage of the graph happens (hooks:createContainer only runs then)."""
    bundle.config["hooks"] = {"createContainer": [{"path": "/bin/sh",
                                                   "args": ["sh", "-c", "exit 0"]}]}


@pytest.mark.parametrize("stage", order(CREATE))
def test_a_failure_at_any_stage_leaves_nothing(fire: Fire, bundle: Bundle, stage: str) -> None:
    with_create_container_hook(bundle)
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    argv = [*fire.argv, "--root", str(fire.root), "create", "-b", str(bundle.path), cid]
    r = subprocess.run([sys.executable, "-c", SUBREAPER, *argv], capture_output=True,
                       text=True, env=fire.env({"FIRE_TEST_FAIL_AT": stage}), timeout=60)
    assert r.stdout.split() == ["1", "0"], f"create failed, no process left: {r}"
    assert r.stderr == f"fire: {stage}: failure injected (FIRE_TEST_FAIL_AT)\n"
    assert not (fire.root / cid).exists(), "no state directory"
    assert cgroup_dirs_of(cid) == []
    assert fire("state", cid).code == 1
