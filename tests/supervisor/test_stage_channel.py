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


def test_create_takes_a_prepared_stage_over_and_does_not_report_it(
        fire: Fire, bundle: Bundle) -> None:
    """FIRE_PREPARED_FD (fire.prepared: what fire-supervise ran ahead): the stage is
    taken over, not run nor reported; the others are as before."""
    from fire.prepared import Handover, to_fd

    bundle.args("true").write()
    cid = fire.unique_id()
    done = Handover()
    done.stages.add("seccomp")  # no linux.seccomp: nothing compiled
    fd = to_fd(done)
    r, w = os.pipe()
    try:
        result = fire("create", "--bundle", str(bundle.path), cid,
                      env={"FIRE_STAGE_FD": str(w), "FIRE_PREPARED_FD": str(fd)},
                      pass_fds=(w, fd))
    finally:
        os.close(w)
        os.close(fd)
    with os.fdopen(r, "rb") as f:
        records = [json.loads(line) for line in f.read().splitlines()]
    assert result.code == 0, result
    expected = [n for n in order(CREATE) if n not in ("seccomp", "hooks:createContainer")]
    assert [r["stage"] for r in records if r["phase"] == "start"] == expected
    assert fire("delete", "--force", cid).code == 0


def test_a_bad_prepared_record_is_one_line_and_leaves_nothing(
        fire: Fire, bundle: Bundle) -> None:
    bundle.args("true").write()
    cid = fire.unique_id()
    result = fire("create", "--bundle", str(bundle.path), cid,
                  env={"FIRE_PREPARED_FD": "not-an-fd"})
    assert result.code == 1
    assert result.err == ("fire: FIRE_PREPARED_FD: not a record of the stages "
                          "fire-supervise prepared\n")
    assert not (fire.root / cid).exists()
