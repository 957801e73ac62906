"""`fire run`'s progress line (fire.cli.progress), drawn into a pipe: what it writes,
how it fits a width, and that it erases itself for good at `created`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from fire.cli.progress import Progress, wanted

if TYPE_CHECKING:
    import pytest


def drawn(data: bytes) -> list[str]:
    return [part.decode() for part in data.split(b"\r\x1b[K") if part]


def test_stages_with_times_then_gone_at_created() -> None:
    r, w = os.pipe()
    try:
        progress = Progress("web", fd=w)
        progress("validate", "start")
        progress("validate", "done")
        progress("claim", "start")
        progress.clear()  # a log line is about to be written
        progress("claim", "done")
        progress("created", "start")
        progress("created", "done")
        progress("late", "start")  # after created: nothing more
        os.close(w)
        w = -1
        data = os.read(r, 65536)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    lines = drawn(data)
    assert lines[0] == "fire run web: validate\u2026"
    assert lines[1].startswith("fire run web: validate ")
    assert lines[1].endswith("ms")
    assert lines[2].endswith(" \u00b7 claim\u2026")
    assert lines[-1].endswith(" \u00b7 created\u2026")
    assert data.endswith(b"\r\x1b[K"), "erased at the end"
    assert data.count(b"\r\x1b[K") == len(lines) + 2, "the clear() and the final erase"
    assert b"late" not in data


def test_the_line_fits_the_width_dropping_the_oldest_stages() -> None:
    progress = Progress("c", fd=-1)
    for name in ("validate", "claim", "cgroup", "seccomp", "storage", "network", "spawn"):
        progress.began[name] = 0.0
        progress.done.append(f"{name} 1ms")
    progress.current = "mounts"
    line = progress.line(40)
    assert len(line) <= 39
    assert line.startswith("fire run c: \u2026 \u00b7 ")
    assert line.endswith("mounts\u2026")
    assert len(progress.line(200)) < 199
    assert "validate 1ms" in progress.line(200)
    assert len(progress.line(5)) == 4, "even a silly width is respected"


def test_wanted_only_on_a_terminal_and_not_for_json(monkeypatch: pytest.MonkeyPatch) -> None:
    r, w = os.pipe()
    try:
        assert not wanted("text", w)
    finally:
        os.close(r)
        os.close(w)
    import pty

    from fire.syscalls.tty import set_winsize

    master, slave = pty.openpty()
    try:
        set_winsize(slave, 40, 100)
        monkeypatch.setenv("TERM", "xterm")
        assert wanted("text", slave)
        assert not wanted("json", slave)
        monkeypatch.setenv("TERM", "dumb")
        assert not wanted("text", slave), "a dumb terminal cannot redraw a line"
        monkeypatch.delenv("TERM")
        assert not wanted("text", slave), "nor one that does not say what it is"
        monkeypatch.setenv("TERM", "xterm")
        set_winsize(slave, 40, 0)
        assert not wanted("text", slave), "nor one of no width"
    finally:
        os.close(master)
        os.close(slave)
