"""`fire run --progress` shows its stage progress on a terminal (one line, erased
before the container's own output) and nothing elsewhere; plain `fire run` shows
nothing, as runc (the line and its escapes would mix with what the container
writes when stderr is not the terminal it writes to); run through a real pty."""

from __future__ import annotations

import errno
import os
import pty
import subprocess
from typing import TYPE_CHECKING

import pytest

from fire.syscalls.tty import set_winsize

if TYPE_CHECKING:
    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def run_on_pty(fire: Fire, *args: str, columns: int = 200, term: str = "xterm"
               ) -> tuple[int, bytes]:
    """Run ``fire <args>`` with stdout and stderr on a pty; (exit code, what it showed)."""
    master, slave = pty.openpty()
    set_winsize(slave, 40, columns)
    try:
        proc = subprocess.Popen([*fire.argv, "--root", str(fire.root), *args],
                                stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                                env=fire.env({"TERM": term}))
    finally:
        os.close(slave)
    data = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError as exc:  # EIO: every slave end is closed
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
    return proc.wait(60), data


def screen(data: bytes) -> list[str]:
    """The lines a terminal shows after ``data`` (\\r, \\n and erase-to-end only)."""
    lines = [""]
    col = 0
    text = data.decode(errors="replace")
    i = 0
    while i < len(text):
        if text.startswith("\x1b[K", i):
            lines[-1] = lines[-1][:col]
            i += 3
            continue
        ch = text[i]
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("")
            col = 0
        else:
            line = lines[-1]
            lines[-1] = line[:col] + ch + line[col + 1:]
            col += 1
        i += 1
    return [line for line in lines if line]


def test_progress_is_shown_then_erased_before_the_containers_output(
        fire: Fire, bundle: Bundle) -> None:
    bundle.args("echo", "hello from the container").write()
    cid = fire.unique_id()
    code, data = run_on_pty(fire, "run", "--progress", "--bundle", str(bundle.path), cid)
    assert code == 0, data
    assert f"fire run {cid}: validate ".encode() in data
    for stage in (b"claim", b"cgroup", b"spawn", b"mounts", b"pivot_root"):
        assert stage in data
    assert b"ms" in data, "each stage done shows its time"
    assert data.index(b"validate") < data.index(b"hello from the container")
    assert screen(data) == ["hello from the container"], "the progress line is gone"


def test_a_failure_leaves_only_the_error_line(fire: Fire, bundle: Bundle) -> None:
    bundle.args("/no/such/program").write()
    code, data = run_on_pty(fire, "run", "--progress", "--bundle", str(bundle.path),
                            fire.unique_id())
    assert code == 1
    assert b"validate" in data
    shown = screen(data)
    assert len(shown) == 1, shown
    assert shown[0].startswith("fire: ")
    assert "/no/such/program" in shown[0]


def test_narrow_terminal_keeps_the_line_within_its_width(fire: Fire, bundle: Bundle) -> None:
    bundle.args("true").write()
    code, data = run_on_pty(fire, "run", "--progress", "--bundle", str(bundle.path),
                            fire.unique_id(), columns=40)
    assert code == 0
    drawn = [part.split(b"\x1b[K", 1)[1] for part in data.split(b"\r") if b"\x1b[K" in part]
    assert drawn
    assert max(len(d.decode()) for d in drawn) <= 39
    assert any("\u2026".encode() in d for d in drawn), "older stages give way to newer ones"


def test_nothing_without_a_terminal_or_with_a_json_log(fire: Fire, bundle: Bundle) -> None:
    bundle.args("echo", "hi").write()
    r = fire("run", "--bundle", str(bundle.path), fire.unique_id())
    assert (r.code, r.out, r.err) == (0, "hi\n", "")
    code, data = run_on_pty(fire, "--log-format", "json", "run", "--progress", "--bundle",
                            str(bundle.path), fire.unique_id())
    assert code == 0
    assert b"validate" not in data
    assert b"\x1b[K" not in data
    assert screen(data) == ["hi"]


@pytest.mark.parametrize(("flag", "columns", "term"), [
    ("", 200, "xterm"),  # not asked for: runc prints nothing either
    ("--progress", 0, "xterm"),  # a zero-width terminal
    ("--progress", 200, "dumb"),  # no cursor movement, no erase
])
def test_nothing_unless_asked_for_on_a_capable_terminal(
        fire: Fire, bundle: Bundle, flag: str, columns: int, term: str) -> None:
    bundle.args("echo", "hi").write()
    code, data = run_on_pty(fire, "run", *([flag] if flag else []), "--bundle",
                            str(bundle.path), fire.unique_id(), columns=columns, term=term)
    assert code == 0
    assert data.replace(b"\r\n", b"\n") == b"hi\n"
