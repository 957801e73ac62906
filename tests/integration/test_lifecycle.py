"""The engine path end to end: create, start, state, kill, delete, run, list."""

from __future__ import annotations

import os

import pytest

from tests.conftest import Bundle, Fire, cgroup_dirs_of

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def test_run_prints_and_exits_zero(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sh", "-c", "echo hello from fire").write()
    r = fire("run", "--bundle", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert r.out == "hello from fire\n"


@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_run_returns_the_container_exit_code(fire: Fire, bundle: Bundle, code: int) -> None:
    bundle.args("sh", "-c", f"exit {code}").write()
    assert fire("run", "-b", str(bundle.path), fire.unique_id()).code == code


def test_create_start_state_kill_delete(fire: Fire, bundle: Bundle, tmp_path: os.PathLike[str]
                                       ) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    pid_file = os.path.join(tmp_path, "pid")
    r = fire("create", "--bundle", str(bundle.path), "--pid-file", pid_file, cid)
    assert r.code == 0, r
    with open(pid_file) as f:
        pid_text = f.read()
    assert pid_text.isdigit(), "the pid file holds digits only, no newline"
    st = fire.state(cid)
    assert st["status"] == "created"
    assert st["pid"] == int(pid_text)
    assert st["id"] == cid
    assert st["bundle"] == str(bundle.path)
    assert {"ociVersion", "rootfs", "created", "owner"} <= st.keys()
    assert cgroup_dirs_of(cid), "the container has a cgroup"

    assert fire("start", cid).code == 0
    assert fire.state(cid)["status"] == "running"
    again = fire("start", cid)
    assert again.code == 1
    assert "already running" in again.err

    busy = fire("delete", cid)
    assert busy.code == 1
    assert "not stopped" in busy.err

    assert fire("kill", cid, "KILL").code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    no = fire("kill", cid, "TERM")
    assert no.code == 1
    assert "container not running" in no.err

    assert fire("delete", cid).code == 0
    assert cgroup_dirs_of(cid) == []
    gone = fire("state", cid)
    assert gone.code == 1
    assert "container does not exist" in gone.err


def test_kill_of_a_created_container_stops_it(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    assert fire("kill", cid).code == 0  # TERM: the waiting init must die from it
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert fire("delete", cid).code == 0


def test_delete_of_a_created_container_needs_no_force(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    assert fire("delete", cid).code == 0
    assert fire("state", cid).code == 1


def test_force_delete_of_running_and_of_missing(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    assert fire.state(cid)["status"] == "running"
    assert fire("delete", "--force", cid).code == 0
    assert fire("delete", "--force", cid).code == 0, "a gone container: exit 0 (shim)"
    assert fire("delete", cid).code == 1


def test_list_json_and_quiet(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    ids = sorted(fire.unique_id() for _ in range(2))
    for cid in ids:
        assert fire("create", "-b", str(bundle.path), cid).code == 0
    rows = fire("list", "--format=json").json()
    assert [r["id"] for r in rows] == ids
    assert all(r["status"] == "created" for r in rows)
    assert set(rows[0]) >= {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                            "owner"}
    assert fire("list", "-q").out.split() == ids


def test_missing_binary_fails_at_create(fire: Fire, bundle: Bundle) -> None:
    bundle.args("no-such-program").write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "executable file not found in $PATH" in r.err
    assert fire("state", cid).code == 1


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "a b", "x\x01"])
def test_invalid_ids_are_refused(fire: Fire, bundle: Bundle, bad: str) -> None:
    bundle.write()
    r = fire("create", "-b", str(bundle.path), bad)
    assert r.code == 1
    assert "invalid container id" in r.err or "container id is required" in r.err
    assert not fire.root.exists() or os.listdir(fire.root) == []
