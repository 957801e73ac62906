"""The fork server (fire.supervisor.forkserver): a command it starts behaves as a new
``python -m fire`` does — exit codes, error lines, stdout, the working directory,
the stage channel's fd and records — and is the supervisor's own child.

Each side runs in a helper process (``DRIVER``) that is a child subreaper, as the
supervisor is: the pytest process itself must not become one."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import REPO

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

DRIVER = r'''
import json, os, subprocess, sys
import trio
from fire.supervisor.engine import Engine, environment
from fire.supervisor.forkserver import ForkServer
from fire.supervisor.reaper import Reaper, become_subreaper

root, bundle, cid, cwd, mode = sys.argv[1:]
server = None
if mode == "fork":
    server = ForkServer()
    assert server.start(environment())
spawned = []
if server is not None:
    spawn = server.spawn

    async def counted(argv, env, fds):
        pid = await spawn(argv, env, fds)
        spawned.append(pid)
        return pid

    server.spawn = counted
become_subreaper()
os.chdir(cwd)


async def main():
    engine = Engine(root, Reaper(), forkserver=server)
    out = {}

    async def run(name, *args, **kw):
        r = await engine.run(*args, **kw)
        out[name] = [r.code, r.error.replace(cid, "ID"), r.stderr if kw.get("merged") else ""]

    await run("version", "--version", merged=True)
    await run("unknown", "frobnicate")
    await run("state-missing", "state", "no-such-container")
    await run("create-no-bundle", "create", "--bundle", "/no/such/bundle", cid + "-x")
    await run("spec", "spec")
    out["spec-in-cwd"] = os.path.exists(os.path.join(cwd, "config.json"))
    read, write = os.pipe2(os.O_CLOEXEC)
    proc = await engine.open(["create", "--bundle", bundle, cid], pass_fds=(write,),
                             env={"FIRE_STAGE_FD": str(write)})
    os.close(write)
    with open(f"/proc/{proc.pid}/stat") as f:
        out["child-of-ours"] = int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    done = await engine.wait(proc)
    with os.fdopen(read, "rb") as f:
        stages = [json.loads(line) for line in f.read().splitlines()]
    out["create"] = [done.code, done.error.replace(cid, "ID")]
    out["stages"] = [(s["stage"], s["phase"]) for s in stages]
    await run("state", "state", cid, merged=True)
    out["state"][2] = json.loads(out["state"][2])["status"]
    await run("start", "start", cid)
    await run("kill-bad-signal", "kill", cid, "NOSUCHSIGNAL")
    await run("delete", "delete", "--force", cid)
    await run("state-deleted", "state", cid)
    out["spawned"] = len(spawned)
    out["server-usable"] = server.usable if server is not None else None
    if server is not None:  # a server that died: new interpreters, as without one
        os.kill(server.pid, 9)
        os.waitpid(server.pid, 0)
    await run("after-death", "--version", merged=True)
    out["usable-after-death"] = server.usable if server is not None else False
    print(json.dumps(out))


trio.run(main)
'''


def drive(fire: Fire, bundle: Bundle, tmp_path: Path, mode: str) -> dict[str, Any]:
    cwd = tmp_path / mode
    cwd.mkdir()
    cid = fire.unique_id(f"fs-{mode}")
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, str(fire.root), str(bundle.path), cid, str(cwd), mode],
        capture_output=True, text=True, timeout=120, env={**fire.env(), "PYTHONPATH": str(REPO)},
        check=False)
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_a_forked_command_behaves_as_a_new_interpreter(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.args("sleep", "100").write()
    forked = drive(fire, bundle, tmp_path, "fork")
    fresh = drive(fire, bundle, tmp_path, "exec")
    assert forked.pop("spawned") == 11, "every command was forked by the server"
    assert forked.pop("server-usable") is True
    assert fresh.pop("spawned") == 0
    fresh.pop("server-usable")
    assert forked.pop("usable-after-death") is False, "not used again once dead"
    assert fresh.pop("usable-after-death") is False
    assert forked == fresh
    # and what they both say is right:
    assert forked["version"][0] == 0
    assert forked["version"][2].startswith("fire version ")
    assert forked["unknown"][:2] == [1, "unknown command 'frobnicate'; see fire --help"]
    assert forked["state-missing"][0] == 1
    assert forked["create-no-bundle"][0] == 1
    assert "/no/such/bundle" in forked["create-no-bundle"][1]
    assert forked["spec"][0] == 0
    assert forked["spec-in-cwd"] is True, "run in the caller's working directory"
    assert forked["child-of-ours"] is True, "the supervisor's child (re-parented)"
    assert forked["create"] == [0, ""]
    assert list(forked["stages"][0]) == ["validate", "start"]
    assert list(forked["stages"][-1]) == ["created", "done"]
    assert forked["state"][:2] == [0, ""]
    assert forked["state"][2] == "created"
    assert forked["start"] == [0, "", ""]
    assert forked["kill-bad-signal"][0] == 1
    assert forked["delete"] == [0, "", ""]
    assert forked["after-death"][0] == 0
    assert forked["state-deleted"][0] == 1
