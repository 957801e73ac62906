"""The state store (fire.store) in a temporary directory: claims race safely, state is
written atomically, locks exclude, ids follow runc's rule.  No root needed."""

from __future__ import annotations

import multiprocessing
import os
import threading
from typing import TYPE_CHECKING

import pytest

from fire.errors import ContainerError, NotFound, StateCorrupt
from fire.spec.state import State
from fire.store import Store, valid_id

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("cid", ["a", "abc-DEF_1.2+3", "x" * 200, "-", "..a", "a.."])
def test_valid_ids(cid: str) -> None:
    assert valid_id(cid)


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "/a", "a b", "ü", "a\n", "a:b", "*",
                                 "a\x00b"])
def test_invalid_ids(cid: str) -> None:
    assert not valid_id(cid)


def test_claim_refuses_invalid_ids_before_touching_disk(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "root"))
    with pytest.raises(ContainerError, match="invalid container id"):
        store.claim("../escape")
    assert not (tmp_path / "root").exists()
    assert not (tmp_path / "escape").exists()


def test_claim_twice(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    first = store.claim("c1")
    with pytest.raises(ContainerError, match="container with id exists: c1"):
        store.claim("c1")
    first.close()


def test_threads_race_for_one_id(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "root"))
    barrier = threading.Barrier(20)
    won: list[object] = []
    lost: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            cdir = store.claim("same")
        except ContainerError as exc:
            with lock:
                lost.append(str(exc))
        else:
            with lock:
                won.append(cdir)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert len(lost) == 19
    assert all("exists" in text for text in lost)
    assert store.ids() == ["same"]


def _claim_in_child(root: str, start: object, results: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    try:
        cdir = Store(root).claim("shared")
        cdir.write_state(State(id="shared", bundle="/b", status="created"))
        results.put("won")  # type: ignore[attr-defined]
    except ContainerError:
        results.put("lost")  # type: ignore[attr-defined]


def test_processes_race_for_one_id(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=_claim_in_child, args=(str(tmp_path), start, results))
             for _ in range(10)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    results.close()
    results.join_thread()
    assert outcomes == ["lost"] * 9 + ["won"]
    cdir = Store(str(tmp_path)).open("shared")
    assert cdir.read_state().status == "created", "the winner's state is intact"
    cdir.close()


def test_state_round_trip_and_atomic_write(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    cdir = store.claim("c")
    state = State(oci_version="1.3.0", id="c", status="created", pid=42, pidStart=7,
                  bundle="/b", rootfs="/b/rootfs", created="t", annotations={"k": "v"})
    cdir.write_state(state)
    assert sorted(os.listdir(tmp_path / "c")) == ["state.json"], "no temporary file left"
    got = store.open("c").read_state()
    assert (got.pid, got.pidStart, got.annotations, got.status) == (42, 7, {"k": "v"}, "created")
    cdir.close()


def test_an_unchanged_state_is_not_written_again(tmp_path: Path) -> None:
    """create records its state at every stage that changes it, and some stages
    change nothing (the init the early claim already recorded): writing the same
    bytes again is a file creation and a rename on the state directory's
    filesystem (a journal operation on ext4) for nothing."""
    store = Store(str(tmp_path))
    cdir = store.claim("c")
    state = State(oci_version="1.3.0", id="c", status="creating", bundle="/b",
                  rootfs="/b/rootfs", created="t", initPid=42, initStart=7)
    cdir.write_state(state)
    first = os.stat(tmp_path / "c" / "state.json").st_ino
    cdir.write_state(state)
    assert os.stat(tmp_path / "c" / "state.json").st_ino == first, "written again"
    state.pid = 43
    cdir.write_state(state)
    assert os.stat(tmp_path / "c" / "state.json").st_ino != first
    assert store.open("c").read_state().pid == 43
    cdir.close()


def test_lock_excludes_other_openers(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    held = store.claim("c")  # claim returns it locked
    other = store.open("c")
    with pytest.raises(BlockingIOError):
        other.lock(blocking=False)
    held.close()
    other.lock(blocking=False)
    other.close()


def test_open_missing_and_corrupt(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    with pytest.raises(NotFound, match="container does not exist"):
        store.open("nope")
    cdir = store.claim("c")
    with pytest.raises(StateCorrupt, match=r"state\.json is missing"):
        cdir.read_state()
    (tmp_path / "c" / "state.json").write_text("{broken")
    with pytest.raises(StateCorrupt, match="not valid JSON"):
        cdir.read_state()
    (tmp_path / "c" / "state.json").write_text('{"id": "c", "bundle": 5}')
    with pytest.raises(StateCorrupt, match="bundle: expected str"):
        cdir.read_state()
    cdir.close()


def test_open_refuses_a_symlinked_container_dir(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "linked")
    with pytest.raises(NotFound):
        Store(str(tmp_path)).open("linked")


def test_remove_and_ids(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    for cid in ("b", "a"):
        store.claim(cid).close()
    (tmp_path / "@ipam").mkdir()  # Fire's own shared files: never an id
    (tmp_path / "@supervisor.sock").write_text("")
    assert store.ids() == ["a", "b"]
    cdir = store.open("a")
    (tmp_path / "a" / "sub").mkdir()
    (tmp_path / "a" / "sub" / "f").write_text("")
    (tmp_path / "a" / "exec.sock").write_text("")
    cdir.remove()
    cdir.close()
    assert store.ids() == ["b"]
    assert Store(str(tmp_path / "absent")).ids() == []


def test_root_is_private(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "new-root"))
    store.claim("c").close()
    assert (tmp_path / "new-root").stat().st_mode & 0o777 == 0o700
