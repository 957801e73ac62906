"""Checkpoint and restore with CRIU, for real: in the cgroup2 VM booted with systemd
(tests/run-v2.sh --systemd tests/checkpoint).  The VM is slow: few containers,
generous timeouts."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import time
from typing import TYPE_CHECKING

import pytest

from tests.checkpoint.conftest import (
    assert_one_sequence,
    counting,
    gone,
    quiet,
    read_count,
    wait_count,
)

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.slow,
              pytest.mark.usefixtures("criu_modules", "no_leaks"),
              pytest.mark.timeout(900)]


def test_a_restored_container_goes_on_counting(fire: Fire, bundle: Bundle,
                                                tmp_path: Path) -> None:
    cid = fire.unique_id("ck")
    data = tmp_path / "data"  # a bind mount: external to the dump, mapped again on restore
    data.mkdir()
    (data / "marker").write_text("bound\n")
    bundle.config["mounts"].append({"destination": "/data", "type": "bind",
                                    "source": str(data), "options": ["rbind", "ro"]})
    hooked = tmp_path / "prestart.jsonl"  # prestart runs at create and again at restore
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/sh", "args": [
        "sh", "-c", f"cat >> {hooked}; echo >> {hooked}"]}]}
    count = counting(fire, bundle, cid)
    pid = fire.state(cid)["pid"]
    images = tmp_path / "images"
    r = fire("checkpoint", "--image-path", str(images), cid, timeout=300)
    assert r.code == 0, r
    # as runc: the process is gone and so is the container
    assert gone(pid)
    assert "does not exist" in fire("state", cid).err
    assert (images / "descriptors.json").exists()
    dumped = read_count(count)
    time.sleep(1)
    assert read_count(count) == dumped, "nothing counts while the container is dumped"

    r2 = quiet(fire, "restore", "-d", "--bundle", str(bundle.path), "--image-path", str(images),
               cid, timeout=300)
    assert r2.returncode == 0, r2
    state = fire.state(cid)
    assert state["status"] == "running"
    assert state["pid"] != 0
    assert not gone(state["pid"])
    first = read_count(count)
    assert first >= dumped, "it goes on from where it was"
    runs = [json.loads(line) for line in hooked.read_text().splitlines() if line.strip()]
    assert len(runs) == 2
    assert runs[1]["pid"] == state["pid"], runs
    wait_count(count, first + 3)
    # the restored container is Fire's like any other: exec, kill, delete
    out = fire("exec", cid, "cat", "/tmp/count", timeout=120)
    assert out.code == 0, out
    assert int(out.out) > dumped
    marker = fire("exec", cid, "cat", "/data/marker", timeout=120)
    assert marker.out == "bound\n", marker
    assert_one_sequence(count)
    assert fire("kill", cid, "KILL").code == 0
    assert fire.wait_status(cid, "stopped", timeout=60)["status"] == "stopped"
    assert fire("delete", cid).code == 0
    assert "does not exist" in fire("state", cid).err


def test_leave_running_pre_dump_and_a_new_id(fire: Fire, bundle: Bundle,
                                             tmp_path: Path) -> None:
    cid = fire.unique_id("ck")
    count = counting(fire, bundle, cid)
    r = fire("checkpoint", "--leave-running", "--image-path", str(tmp_path / "kept"), cid,
             timeout=300)
    assert r.code == 0, r
    assert fire.state(cid)["status"] == "running"
    wait_count(count, read_count(count) + 2)

    r = fire("checkpoint", "--pre-dump", "--image-path", str(tmp_path / "parent"), cid,
             timeout=300)
    assert r.code == 0, r
    assert fire.state(cid)["status"] == "running"
    r = fire("checkpoint", "--image-path", str(tmp_path / "final"), "--parent-path",
             "../parent", cid, timeout=300)
    assert r.code == 0, r
    assert "does not exist" in fire("state", cid).err
    # the final dump holds only what changed since the pre-dump: its pages refer to it
    assert os.path.islink(tmp_path / "final" / "parent")
    dumped = read_count(count)

    other = fire.unique_id("ck")
    r2 = quiet(fire, "restore", "-d", "-b", str(bundle.path), "--image-path",
               str(tmp_path / "final"), other, timeout=300)
    assert r2.returncode == 0, r2
    assert fire.state(other)["status"] == "running"
    wait_count(count, dumped + 3)
    assert_one_sequence(count)
    assert fire("delete", "--force", other).code == 0


def test_restore_errors_leave_nothing(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    cid = fire.unique_id("ck")
    count = counting(fire, bundle, cid)
    images = tmp_path / "images"
    r = fire("checkpoint", "--leave-running", "--image-path", str(images), cid, timeout=300)
    assert r.code == 0, r
    # an id that exists: refused before CRIU runs, the running container untouched
    r2 = quiet(fire, "restore", "-d", "-b", str(bundle.path), "--image-path", str(images), cid)
    assert r2.returncode == 1
    assert r2.error == f"container with id exists: {cid}"
    assert fire.state(cid)["status"] == "running"
    wait_count(count, read_count(count) + 2)
    # CRIU fails (an image without its inventory): one line naming CRIU's log, and
    # no state, cgroup, mount or process of the new id (no_leaks checks the rest)
    broken = tmp_path / "broken"
    shutil.copytree(images, broken)
    (broken / "inventory.img").unlink()
    other = fire.unique_id("ck")
    r3 = quiet(fire, "restore", "-d", "-b", str(bundle.path), "--image-path", str(broken),
               other, timeout=300)
    assert r3.returncode == 1
    assert r3.error.startswith("criu failed: "), r3
    assert r3.error.endswith(f"(log: {broken}/restore.log)"), r3
    assert "does not exist" in fire("state", other).err
    # a missing image directory
    r4 = quiet(fire, "restore", "-d", "-b", str(bundle.path), "--image-path",
               str(tmp_path / "nothing"), other)
    assert r4.returncode == 1
    assert "descriptors.json is missing" in r4.error
    assert fire("delete", "--force", cid).code == 0


def receive_terminal(listener: socket.socket) -> int:
    conn, _ = listener.accept()
    with conn:
        _, fds, _, _ = socket.recv_fds(conn, 64, 1)
    assert len(fds) == 1
    return fds[0]


def read_until(fd: int, text: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} in {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            seen += os.read(fd, 4096)
    return seen


def test_a_terminal_comes_back_through_the_console_socket(fire: Fire, bundle: Bundle,
                                                          tmp_path: Path) -> None:
    cid = fire.unique_id("ck")
    bundle.config["process"]["terminal"] = True
    bundle.args("sh", "-c", "while read line; do echo got-$line; done").write()
    path = str(tmp_path / "console.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(4)
        r = quiet(fire, "create", "-b", str(bundle.path), "--console-socket", path, cid)
        assert r.returncode == 0, r
        master = receive_terminal(listener)
        fire("start", cid, check=True)
        os.write(master, b"one\n")
        read_until(master, b"got-one")
        images = tmp_path / "images"
        c = fire("checkpoint", "--image-path", str(images), cid, timeout=300)
        assert c.code == 0, c
        os.close(master)
        r2 = quiet(fire, "restore", "-d", "-b", str(bundle.path), "--image-path", str(images),
                   "--console-socket", path, cid, timeout=300)
        assert r2.returncode == 0, r2
        master = receive_terminal(listener)
    try:
        assert fire.state(cid)["status"] == "running"
        os.write(master, b"two\n")
        read_until(master, b"got-two")
    finally:
        os.close(master)
    assert fire("delete", "--force", cid).code == 0
