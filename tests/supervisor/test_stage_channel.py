"""`fire create`'s stage channel (FIRE_STAGE_FD): one JSON line per stage start and
end, the init's included, and the error of a failing stage."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from fire.lifecycle.stages import CREATE, order

if TYPE_CHECKING:
    from tests.conftest import Bundle, Fire, Result

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def run_with_channel(fire: Fire, *args: str) -> tuple[Result, list[dict[str, Any]]]:
    r, w = os.pipe()
    try:
        result = fire(*args, env={"FIRE_STAGE_FD": str(w)}, pass_fds=(w,))
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    return result, [json.loads(line) for line in data.splitlines()]


def test_every_stage_starts_and_ends_in_order(fire: Fire, bundle: Bundle) -> None:
    bundle.args("ls", "/proc/self/fd").write()
    result, records = run_with_channel(fire, "run", "--bundle", str(bundle.path),
                                       fire.unique_id())
    assert result.code == 0, result
    assert result.out.split() == ["0", "1", "2", "3"], "the channel's fd does not leak inside"
    names = [r["stage"] for r in records if r["phase"] == "start"]
    assert names[:7] == ["validate", "claim", "cgroup", "seccomp", "storage", "network", "spawn"]
    assert {"namespaces", "rootfs", "mounts", "devices", "pivot_root", "process"} <= set(names)
    assert names[-1] == "created"
    open_stage = None
    for record in records:
        assert set(record) == {"stage", "phase", "time", "mono"}
        if record["phase"] == "start":
            assert open_stage is None, "stages do not overlap in the engine's driver"
            open_stage = record
        else:
            assert open_stage is not None
            assert (record["phase"], record["stage"]) == ("done", open_stage["stage"])
            assert record["mono"] >= open_stage["mono"]
            open_stage = None
    monos = [r["mono"] for r in records]
    assert monos == sorted(monos)


@pytest.mark.parametrize("hooked", [False, True], ids=["plain", "createContainer-hook"])
def test_create_reports_the_graphs_order(fire: Fire, bundle: Bundle, hooked: bool) -> None:
    """The engine's driver walks fire.lifecycle.stages.CREATE: what it reports is the
    graph's topological order (hooks:createContainer only when there are some)."""
    if hooked:
        bundle.config["hooks"] = {"createContainer": [{"path": "/bin/sh",
                                                       "args": ["sh", "-c", "exit 0"]}]}
    bundle.args("true").write()
    cid = fire.unique_id()
    result, records = run_with_channel(fire, "create", "--bundle", str(bundle.path), cid)
    assert result.code == 0, result
    expected = [name for name in order(CREATE) if hooked or name != "hooks:createContainer"]
    assert [r["stage"] for r in records if r["phase"] == "start"] == expected
    assert [r["stage"] for r in records if r["phase"] == "done"] == expected
    assert fire("delete", "--force", cid).code == 0


def test_a_failing_stage_reports_its_error(fire: Fire, bundle: Bundle) -> None:
    bundle.args("/no/such/program").write()
    result, records = run_with_channel(fire, "create", "--bundle", str(bundle.path),
                                       fire.unique_id())
    assert result.code == 1
    last = records[-1]
    assert (last["stage"], last["phase"]) == ("process", "error")
    assert result.err == f"fire: {last['error']}\n", "the same one line as the command's"


def test_a_bad_config_fails_in_validate(fire: Fire, bundle: Bundle) -> None:
    bundle.config["process"]["args"] = "not a list"
    bundle.write()
    result, records = run_with_channel(fire, "create", "--bundle", str(bundle.path),
                                       fire.unique_id())
    assert result.code == 1
    assert [(r["stage"], r["phase"]) for r in records] == [("validate", "start"),
                                                           ("validate", "error")]
    assert "$.process.args" in records[-1]["error"]
