"""Log files: the writer's descriptor, following, copy-then-truncate rotation, and
`fire logs` reading them (no root needed)."""

from __future__ import annotations

import fcntl
import io
import os
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest
import trio

from fire import events as ev
from fire.cli.logs import follow, tail_lines
from fire.supervisor.files import LogFile, log_files, log_path
from fire.supervisor.output import Followers, Output
from tests.conftest import REPO

if TYPE_CHECKING:
    from pathlib import Path


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def write(fd: int, data: bytes) -> None:
    assert os.write(fd, data) == len(data)


def generations(root: Path, cid: str, *contents: bytes) -> None:
    """Log files as rotation leaves them: ``contents`` oldest first."""
    os.makedirs(os.path.dirname(log_path(str(root), cid)), exist_ok=True)
    for generation, data in enumerate(reversed(contents)):
        with open(log_path(str(root), cid, generation), "wb") as f:
            f.write(data)


def test_the_writer_is_an_append_only_descriptor_of_the_log_file(tmp_path: Path) -> None:
    log = LogFile(str(tmp_path), "web")
    fd = log.writer()
    try:
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND
        assert not os.get_inheritable(fd), "close-on-exec in the supervisor"
        assert os.fstat(fd).st_ino == os.stat(log_path(str(tmp_path), "web")).st_ino
        assert oct(os.fstat(fd).st_mode & 0o777) == "0o600"
    finally:
        os.close(fd)
        log.close()


def test_rotation_copies_then_truncates_and_the_writer_goes_on_at_0(tmp_path: Path) -> None:
    log = LogFile(str(tmp_path), "web", max_bytes=10, files=3)
    fd = log.writer()  # the container's: it is never reopened
    read_back = b""
    for n in range(6):
        write(fd, f"line {n}\n".encode())  # 7 bytes: two lines pass max_bytes
        read_back += log.read()
        if log.needs_rotation():
            read_back += log.rotate()
    os.close(fd)
    log.close()
    files = log_files(str(tmp_path), "web")
    assert [os.path.basename(f) for f in files] == ["web.log.2", "web.log.1", "web.log"]
    assert [read(f) for f in files] == [b"line 2\nline 3\n", b"line 4\nline 5\n", b""], (
        "no hole after the truncation: O_APPEND writes at the new end")
    assert read_back == b"".join(f"line {n}\n".encode() for n in range(6)), "each byte once"
    assert not os.path.exists(log_path(str(tmp_path), "web") + ".rotating")


def test_rotate_hands_back_what_was_not_read_yet(tmp_path: Path) -> None:
    log = LogFile(str(tmp_path), "web", max_bytes=4, files=2)
    fd = log.writer()
    write(fd, b"read\n")
    assert log.read() == b"read\n"
    write(fd, b"unread\n")  # written between the last look and the rotation
    assert log.rotate() == b"unread\n"
    assert read(log_path(str(tmp_path), "web", 1)) == b"read\nunread\n"
    write(fd, b"next\n")
    assert log.read() == b"next\n", "followed from 0 after the truncation"
    os.close(fd)
    log.close()


def test_a_single_generation_is_only_truncated(tmp_path: Path) -> None:
    log = LogFile(str(tmp_path), "web", max_bytes=4, files=1)
    fd = log.writer()
    write(fd, b"12345\n")
    assert log.read() == b"12345\n"
    assert log.needs_rotation()
    assert log.rotate() == b""
    assert log_files(str(tmp_path), "web") == [log_path(str(tmp_path), "web")]
    assert os.fstat(fd).st_size == 0
    os.close(fd)
    log.close()


def test_the_follower_starts_at_the_end_of_what_is_there(tmp_path: Path) -> None:
    generations(tmp_path, "db", b"written before\n")
    log = LogFile(str(tmp_path), "db")
    assert log.read() == b"", "an adopted container's earlier output is not read again"
    fd = log.writer()
    write(fd, b"after\n")
    assert log.read() == b"after\n"
    assert read(log_path(str(tmp_path), "db")) == b"written before\nafter\n", "appended"
    os.close(fd)
    log.close()


def test_the_follower_notices_a_truncation_behind_its_back(tmp_path: Path) -> None:
    log = LogFile(str(tmp_path), "web")
    fd = log.writer()
    write(fd, b"a long first line\n")
    assert log.read() == b"a long first line\n"
    os.truncate(log_path(str(tmp_path), "web"), 0)
    write(fd, b"short\n")  # shorter than the offset: a truncation
    assert log.read() == b"short\n"
    os.close(fd)
    log.close()


def followed_to_the_end(output: Output) -> None:
    """What the supervisor's follower does with a closed output: one sweep reads it a
    last time and drops it."""
    followers = Followers()
    followers.add(output)
    followers.sweep()
    assert followers.outputs == []


def test_partial_lines_wait_for_their_end_or_the_end_of_the_run(tmp_path: Path) -> None:
    published: list[ev.AnyEvent] = []

    async def main() -> None:
        output = Output(str(tmp_path), "web", published.append, 1 << 20, 3)
        fd = output.writer()
        write(fd, b"hal")
        output.collect()
        assert published == [], "no newline yet"
        write(fd, b"f a line\nand the start of another")
        output.collect()
        write(fd, b"\r\nlast, without a newline")
        output.collect()
        output.end_of_run()
        os.close(fd)
        output.close()
        followed_to_the_end(output)
        assert output.log.fd == -1, "closed once followed to the end"

    trio.run(main)
    assert [(e.stream, e.text) for e in published if isinstance(e, ev.Log)] == [
        ("output", "half a line"), ("output", "and the start of another"),
        ("output", "last, without a newline")]


def test_a_removed_log_file_is_made_again_and_followed(tmp_path: Path) -> None:
    published: list[ev.AnyEvent] = []

    async def main() -> None:
        output = Output(str(tmp_path), "web", published.append, 1 << 20, 3)
        old = output.writer()
        os.unlink(log_path(str(tmp_path), "web"))  # by hand, while the run still writes
        write(old, b"to the removed file\n")
        new = output.writer()  # the next run's
        write(new, b"to the new file\n")
        output.collect()
        for fd in (old, new):
            os.close(fd)
        output.close()
        followed_to_the_end(output)

    trio.run(main)
    assert [e.text for e in published if isinstance(e, ev.Log)] == [
        "to the removed file", "to the new file"]
    assert read(log_path(str(tmp_path), "web")) == b"to the new file\n"


def test_a_rotation_that_fails_is_said_once_and_the_output_still_followed(
        tmp_path: Path) -> None:
    published: list[ev.AnyEvent] = []
    os.makedirs(log_path(str(tmp_path), "web") + ".rotating")  # the copy cannot be made

    async def main() -> None:
        output = Output(str(tmp_path), "web", published.append, 4, 2)
        fd = output.writer()
        for text in (b"one\n", b"two\n"):
            write(fd, text)
            output.collect()
        os.close(fd)
        output.close()
        followed_to_the_end(output)

    trio.run(main)
    texts = [(e.level, e.text) for e in published if isinstance(e, ev.Log)]
    assert texts[0] == ("info", "one")
    assert texts[1][0] == "warning"
    assert texts[1][1].startswith("cannot rotate "), "once (tried again 10 s later)"
    assert texts[2:] == [("info", "two")]
    assert read(log_path(str(tmp_path), "web")) == b"one\ntwo\n", "not truncated"


@pytest.mark.parametrize("told", [False, True], ids=["polling", "inotify"])
def test_the_output_follower_reads_across_a_rotation_and_a_truncation(
        tmp_path: Path, told: bool) -> None:
    published: list[ev.AnyEvent] = []

    async def main() -> None:
        output = Output(str(tmp_path), "web", published.append, 4096, 2, per_second=1000)
        fd = output.writer()
        followers = Followers(os.path.dirname(output.log.path) if told else None)
        followers.add(output)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(followers.run)
            for n in range(300):  # 300 × ~25 bytes: a rotation past 4096 bytes, once
                write(fd, f"line {n:04d} of the output\n".encode())
                if n % 50 == 0:
                    await trio.sleep(0.15)
            for _ in range(200):  # all read (a busy machine delays the sweeps):
                if sum(isinstance(e, ev.Log) for e in published) >= 300:
                    break
                await trio.sleep(0.05)
            os.truncate(log_path(str(tmp_path), "web"), 0)  # someone else's
            write(fd, b"after the truncation\n")
            await trio.sleep(0.3)
            output.close()
            await trio.sleep(0.25)  # the next sweep reads it a last time and drops it
            assert followers.told == told
            nursery.cancel_scope.cancel()
        os.close(fd)

    trio.run(main)
    texts = [e.text for e in published if isinstance(e, ev.Log)]
    assert texts == [f"line {n:04d} of the output" for n in range(300)] + [
        "after the truncation"]
    assert os.path.exists(log_path(str(tmp_path), "web", 1)), "rotated"


def test_one_sweep_follows_every_output_and_drops_those_that_are_done(tmp_path: Path) -> None:
    published: list[ev.AnyEvent] = []

    async def main() -> None:
        followers = Followers()
        outputs = [Output(str(tmp_path), cid, published.append, 1 << 20, 3)
                   for cid in ("one", "two")]
        fds = [output.writer() for output in outputs]
        for output in outputs:
            followers.add(output)
        write(fds[0], b"from one\n")
        write(fds[1], b"from two, unfinished")
        followers.sweep()
        outputs[1].close()
        outputs[1].pumps = 1  # a terminal's pump still appends: not done yet
        followers.sweep()
        assert followers.outputs == outputs
        outputs[1].pumps = 0
        followers.sweep()
        assert followers.outputs == [outputs[0]], "read a last time and dropped"
        assert outputs[1].log.fd == -1
        followers.finish()
        assert outputs[0].log.fd == -1
        for fd in fds:
            os.close(fd)

    trio.run(main)
    assert [(e.id, e.text) for e in published if isinstance(e, ev.Log)] == [
        ("one", "from one"), ("two", "from two, unfinished")]


def test_tail_reads_across_rotated_files(tmp_path: Path) -> None:
    generations(tmp_path, "web", b"2\n2\n2\n", b"3\n3\n3\n", b"4\n4\n4\n")
    paths = log_files(str(tmp_path), "web")
    assert tail_lines(paths, 4) == b"3\n4\n4\n4\n", "from two files"
    assert tail_lines(paths, 0) == b""
    assert tail_lines(paths, 1000) == b"2\n2\n2\n3\n3\n3\n4\n4\n4\n", "what 3 files hold"


class Collected(io.BytesIO):
    """What ``follow`` printed, readable while it runs in its thread."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        with self.lock:
            return super().write(data)

    def text(self) -> bytes:
        with self.lock:
            return self.getvalue()


def wait_for_output(out: Collected, expected: bytes) -> bytes:
    deadline = time.monotonic() + 5
    while out.text() != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return out.text()


def test_follow_survives_a_rotation(tmp_path: Path) -> None:
    log = LogFile(str(tmp_path), "web", max_bytes=16, files=2)
    fd = log.writer()
    write(fd, b"before\n")
    path = log_path(str(tmp_path), "web")
    out = Collected()
    thread = threading.Thread(target=follow, args=(path, out, os.path.getsize(path)),
                              daemon=True)
    thread.start()
    time.sleep(0.3)
    write(fd, b"after 1\n")
    time.sleep(0.3)  # printed: its end is what the rotated file must not print again
    write(fd, b"after 2\n")
    log.read()
    assert log.needs_rotation()
    log.rotate()  # "before\nafter 1\nafter 2\n" is web.log.1 now
    write(fd, b"after 3\n")
    assert wait_for_output(out, b"after 1\nafter 2\nafter 3\n") == b"after 1\nafter 2\nafter 3\n"
    write(fd, b"after 4\n" * 3)  # a rotation that refills the file past our offset
    log.read()
    log.rotate()
    write(fd, b"after 5\n" * 4)
    expected = b"after 1\nafter 2\nafter 3\n" + b"after 4\n" * 3 + b"after 5\n" * 4
    assert wait_for_output(out, expected) == expected
    os.close(fd)
    log.close()


def test_follow_waits_out_a_rotation_whose_rename_is_slow(tmp_path: Path) -> None:
    """A supervisor descheduled between the truncation and the rename of its copy (a
    busy machine): the shorter file is not read again from 0 while the copy exists,
    so nothing is printed twice (seen as a flaky supervisor test under CI load)."""
    path = log_path(str(tmp_path), "web")
    generations(tmp_path, "web", b"before, a line long enough to be past the new end\n")
    out = Collected()
    threading.Thread(target=follow, args=(path, out, 0), daemon=True).start()
    first = b"before, a line long enough to be past the new end\n"
    assert wait_for_output(out, first) == first
    with open(path, "ab") as f:
        f.write(b"unread\n")
    rotating = path + ".rotating"  # LogFile.rotate, step by step, with a slow rename
    with open(path, "rb") as src, open(rotating, "wb") as dst:
        dst.write(src.read())
    os.truncate(path, 0)
    with open(path, "ab") as f:
        f.write(b"new\n")
    time.sleep(0.7)  # more than two of follow's looks
    os.replace(rotating, path + ".1")
    expected = first + b"unread\nnew\n"
    assert wait_for_output(out, expected) == expected


def test_follow_reads_a_file_truncated_behind_its_back_from_0(tmp_path: Path) -> None:
    path = log_path(str(tmp_path), "one")
    generations(tmp_path, "one", b"a first line, long enough\n")
    out = Collected()
    threading.Thread(target=follow, args=(path, out, os.path.getsize(path)), daemon=True).start()
    time.sleep(0.3)
    with open(path, "wb") as f:  # truncated, then a shorter line
        f.write(b"short\n")
    assert wait_for_output(out, b"short\n") == b"short\n"


def fire_cmd(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fire", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_fire_logs_prints_oldest_first_and_tails(tmp_path: Path) -> None:
    generations(tmp_path, "web", b"out 0\n", b"out 1\n", b"out 2\n")
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


def test_an_idle_log_costs_nothing_and_its_next_line_comes_at_once(tmp_path: Path) -> None:
    """Told by inotify: no look at a file nobody writes (1,000 idle containers cost
    no CPU), and a line written after a long quiet comes within a wake-up, not
    after the polling's back-off (up to ``QUIET_POLL``)."""
    published: list[tuple[float, ev.AnyEvent]] = []
    looks = 0

    async def main() -> None:
        nonlocal looks
        output = Output(str(tmp_path), "web", lambda e: published.append(
            (trio.current_time(), e)), 1 << 20, 3)
        collect = output.collect

        def counted() -> bool:
            nonlocal looks
            looks += 1
            return collect()

        output.collect = counted  # type: ignore[method-assign]
        fd = output.writer()
        followers = Followers(os.path.dirname(output.log.path))
        followers.add(output)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(followers.run)
            await trio.sleep(1.5)  # quiet: a polling follower would have looked 5 times
            assert followers.told, "inotify works on this host"
            assert looks == 0, "an idle file is not looked at"
            written = trio.current_time()
            write(fd, b"after the quiet\n")
            for _ in range(500):
                if published:
                    break
                await trio.sleep(0.01)
            assert published, "the line was read"
            assert published[0][0] - written < 0.5, "read when written"
            assert looks == 1
            output.close()  # dropped at once, not at the next safety sweep
            for _ in range(100):
                if not followers.outputs:
                    break
                await trio.sleep(0.01)
            assert followers.outputs == []
            assert output.log.fd == -1
            nursery.cancel_scope.cancel()
        os.close(fd)

    trio.run(main)
    assert [e.text for _t, e in published if isinstance(e, ev.Log)] == ["after the quiet"]
