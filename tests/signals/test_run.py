"""Foreground ``fire run``: every signal goes to the container, exit codes are the
container's (or 128+N), and Fire, a child subreaper, leaves no zombie."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
import time
from typing import TYPE_CHECKING

import pytest

from fire.procfs import parents, stat_fields

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def _without_pid_namespace(bundle: Bundle) -> None:
    linux = bundle.config["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "pid"]


def _no_core_dumps(bundle: Bundle) -> None:
    bundle.process["rlimits"].append({"type": "RLIMIT_CORE", "hard": 0, "soft": 0})


def _wait_for(check: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


class Running:
    """``fire run`` in the background, its output in a file."""

    def __init__(self, fire: Fire, bundle: Bundle, tmp_path: Path, cid: str) -> None:
        self.out = tmp_path / f"{cid}.out"
        self.cid = cid
        with open(self.out, "w") as out:
            self.proc = fire.popen("run", "-b", str(bundle.path), cid, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def text(self) -> str:
        return self.out.read_text()

    def wait_text(self, text: str) -> bool:
        return _wait_for(lambda: text in self.text())

    def wait(self) -> int:
        return self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def running(fire: Fire, tmp_path: Path) -> Iterator[Callable[[Bundle], Running]]:
    started: list[Running] = []

    def start(bundle: Bundle) -> Running:
        bundle.write()
        r = Running(fire, bundle, tmp_path, fire.unique_id())
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


TRAPS = ("TERM", "HUP", "USR1", "USR2", "INT", "QUIT")


def test_every_signal_fire_receives_reaches_the_container(
        fire: Fire, bundle: Bundle, running: Callable[[Bundle], Running]) -> None:
    traps = "; ".join(f"trap 'echo got-{name}' {name}" for name in TRAPS)
    bundle.args("sh", "-c", f"{traps}; echo ready; while :; do sleep 0.05; done")
    run = running(bundle)
    assert run.wait_text("ready"), run.text()
    for name in TRAPS:
        os.kill(run.proc.pid, getattr(signal, "SIG" + name))
        assert run.wait_text(f"got-{name}"), f"{name} was not forwarded: {run.text()!r}"
    assert run.proc.poll() is None, "fire itself did not die from any of them"
    assert fire("kill", run.cid, "KILL").code == 0
    assert run.wait() == 137
    got = [line for line in run.text().splitlines() if line.startswith("got-")]
    assert got == [f"got-{name}" for name in TRAPS]


def test_a_signal_before_the_container_runs_is_delivered_once_it_does(
        fire: Fire, bundle: Bundle, running: Callable[[Bundle], Running]) -> None:
    """The channel is open before create: a TERM during set-up is neither lost nor
    fatal to fire; it reaches the program (a slow createRuntime hook makes the window)."""
    _without_pid_namespace(bundle)
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "1"]}]}
    bundle.args("sleep", "100")
    run = running(bundle)
    time.sleep(0.5)
    os.kill(run.proc.pid, signal.SIGTERM)
    assert run.wait() == 143


@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_the_container_exit_code_is_fires(fire: Fire, bundle: Bundle, code: int) -> None:
    bundle.args("sh", "-c", f"exit {code}").write()
    assert fire("run", "-b", str(bundle.path), fire.unique_id()).code == code


def test_fire_kill_with_kill_gives_137(fire: Fire, bundle: Bundle,
                                        running: Callable[[Bundle], Running]) -> None:
    bundle.args("sh", "-c", "echo ready; exec sleep 100")
    run = running(bundle)
    assert run.wait_text("ready")
    assert fire("kill", run.cid, "KILL").code == 0
    assert run.wait() == 137


def test_term_without_a_pid_namespace_gives_143(
        fire: Fire, bundle: Bundle, running: Callable[[Bundle], Running]) -> None:
    """Not pid 1 of a namespace: no signal immunity, the default action kills."""
    _without_pid_namespace(bundle)
    bundle.args("sh", "-c", "echo ready; exec sleep 100")
    run = running(bundle)
    assert run.wait_text("ready")
    assert fire("kill", run.cid, "TERM").code == 0
    assert run.wait() == 143
    # And the same TERM sent to fire itself is forwarded with the same result.
    run = running(bundle)
    assert run.wait_text("ready")
    os.kill(run.proc.pid, signal.SIGTERM)
    assert run.wait() == 143


def test_segv_without_a_pid_namespace_gives_139(fire: Fire, bundle: Bundle) -> None:
    _without_pid_namespace(bundle)
    _no_core_dumps(bundle)
    bundle.args("sh", "-c", "kill -SEGV $$").write()
    assert fire("run", "-b", str(bundle.path), fire.unique_id()).code == 139


def test_pid_one_of_a_namespace_ignores_term_without_a_handler(
        fire: Fire, bundle: Bundle, running: Callable[[Bundle], Running]) -> None:
    """The contrast to the two tests above: with its own pid namespace, the
    program is pid 1 and TERM with the default action does nothing."""
    bundle.args("sh", "-c", "echo ready; exec sleep 100")
    run = running(bundle)
    assert run.wait_text("ready")
    assert fire("kill", run.cid, "TERM").code == 0
    time.sleep(0.3)
    assert run.proc.poll() is None
    assert fire("kill", run.cid, "KILL").code == 0
    assert run.wait() == 137


def _children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of every child of ``pid``."""
    out = []
    for child, parent in parents().items():
        if parent == pid:
            fields = stat_fields(child)
            if fields is not None:
                out.append((child, fields[0]))
    return out


def test_orphans_are_reaped_no_zombie_is_left(
        fire: Fire, bundle: Bundle, running: Callable[[Bundle], Running]) -> None:
    _without_pid_namespace(bundle)
    spawn = "i=0; while [ $i -lt 100 ]; do (sleep 2 &); i=$((i+1)); done"
    bundle.args("sh", "-c", f"{spawn}; echo spawned; sleep 4; echo settled; exec sleep 100")
    run = running(bundle)
    assert run.wait_text("spawned")
    fire_pid = run.proc.pid
    # Each (sleep 2 &) lost its parent at once: all 100 are fire's now (subreaper).
    adopted = [pid for pid, _ in _children_of(fire_pid)]
    assert len(adopted) >= 100, f"orphans were not re-parented to fire: {len(adopted)}"
    assert run.wait_text("settled")
    zombies = [pid for pid, state in _children_of(fire_pid) if state == "Z"]
    assert zombies == [], f"{len(zombies)} zombies"
    assert [pid for pid, _ in _children_of(fire_pid)] != [], "the container's process"
    assert fire("kill", run.cid, "KILL").code == 0
    assert run.wait() == 137


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def test_sigwinch_resizes_the_containers_terminal(fire: Fire, bundle: Bundle) -> None:
    bundle.process["terminal"] = True
    bundle.args("sh", "-c", "trap 'echo size $(stty size)' WINCH; echo size $(stty size); "
                "while :; do sleep 0.05; done").write()
    master, slave = pty.openpty()
    _set_size(slave, 24, 80)
    cid = fire.unique_id()
    proc = fire.popen("run", "-b", str(bundle.path), cid, stdin=slave, stdout=slave,
                      stderr=slave)
    os.close(slave)
    seen = b""

    def read_until(text: bytes) -> bool:
        nonlocal seen
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            import select

            if select.select([master], [], [], 0.1)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    return False
            if text in seen:
                return True
        return False

    try:
        assert read_until(b"size 24 80"), seen
        _set_size(master, 50, 132)
        os.kill(proc.pid, signal.SIGWINCH)
        assert read_until(b"size 50 132"), seen
        assert fire("kill", cid, "KILL").code == 0
        assert proc.wait(timeout=30) == 137
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
