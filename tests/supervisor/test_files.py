"""Rotating log files, and `fire logs` reading them (no root needed)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

from fire.cli.logs import follow, tail_lines
from fire.supervisor.files import RotatingLog, log_files, log_path
from tests.conftest import REPO

if TYPE_CHECKING:
    from pathlib import Path


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_the_log_rotates_past_its_size_and_keeps_n_files(tmp_path: Path) -> None:
    log = RotatingLog(str(tmp_path), "web", max_bytes=10, files=3)
    for n in range(6):
        log.write(f"line {n}\n".encode())  # 7 bytes: one line per file
    log.close()
    files = log_files(str(tmp_path), "web")
    assert [os.path.basename(f) for f in files] == ["web.log.2", "web.log.1", "web.log"]
    assert [read(f) for f in files] == [b"line 3\n", b"line 4\n", b"line 5\n"]
    assert oct(os.stat(files[0]).st_mode & 0o777) == "0o600"


def test_a_log_reopened_appends(tmp_path: Path) -> None:
    for text in (b"one\n", b"two\n"):
        log = RotatingLog(str(tmp_path), "db")
        log.write(text)
        log.close()
    assert read(log_path(str(tmp_path), "db")) == b"one\ntwo\n"


def test_tail_reads_across_rotated_files(tmp_path: Path) -> None:
    log = RotatingLog(str(tmp_path), "web", max_bytes=6, files=3)
    for n in range(5):
        log.write(f"{n}\n".encode() * 3)  # 6 bytes: one write per file
    log.close()
    paths = log_files(str(tmp_path), "web")
    assert tail_lines(paths, 4) == b"3\n4\n4\n4\n", "from two files"
    assert tail_lines(paths, 0) == b""
    assert tail_lines(paths, 1000) == b"2\n2\n2\n3\n3\n3\n4\n4\n4\n", "what 3 files hold"


def test_follow_survives_a_rotation(tmp_path: Path) -> None:
    log = RotatingLog(str(tmp_path), "web", max_bytes=16, files=2)
    log.write(b"before\n")
    path = log_path(str(tmp_path), "web")
    out = io.BytesIO()

    class Out(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            return out.write(data)

    thread = threading.Thread(target=follow, args=(path, Out(), os.path.getsize(path)),
                              daemon=True)
    thread.start()
    time.sleep(0.3)
    log.write(b"after 1\n")
    log.write(b"after 2\n")  # 16 bytes in the file: this one rotates it
    log.write(b"after 3\n")
    deadline = time.monotonic() + 5
    while out.getvalue() != b"after 1\nafter 2\nafter 3\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    log.close()
    assert out.getvalue() == b"after 1\nafter 2\nafter 3\n"


def fire_cmd(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fire", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_fire_logs_prints_oldest_first_and_tails(tmp_path: Path) -> None:
    log = RotatingLog(str(tmp_path), "web", max_bytes=8, files=3)
    for n in range(3):
        log.write(f"out {n}\n".encode())
    log.close()
    r = fire_cmd(tmp_path, "logs", "web")
    assert (r.returncode, r.stdout) == (0, "out 0\nout 1\nout 2\n")
    r = fire_cmd(tmp_path, "logs", "--tail", "2", "web")
    assert (r.returncode, r.stdout) == (0, "out 1\nout 2\n")


def test_fire_logs_of_an_unknown_container_is_one_line(tmp_path: Path) -> None:
    r = fire_cmd(tmp_path, "logs", "nope")
    assert r.returncode == 1
    assert r.stderr == ("fire: no output recorded for container nope (only containers run by "
                        "fire-supervise have logs)\n")
    r = fire_cmd(tmp_path, "logs", "../x")
    assert r.returncode == 1
    assert "invalid container id" in r.stderr
