"""Fixtures for the supervisor's tests: bundles by name, and a running
``fire-supervise`` whose events a background thread collects."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from fire import events as ev
from fire.errors import FireError
from tests.conftest import REPO, Fire, base_config
from tests.network.conftest import netns  # noqa: F401 (the fixture: supervisors in a test netns)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

# A container that stops at once on SIGTERM (sh as pid 1 has no default action for
# it: the trap is needed) and otherwise runs until killed.
SERVE = "trap 'echo bye; exit 0' TERM; echo up; sleep 1000 & wait"

HAS_EXEC = (REPO / "fire" / "container" / "exec.py").exists()
needs_exec = pytest.mark.skipif(not HAS_EXEC, reason="health checks run `fire exec`, which this "
                                "branch does not have yet (fire/container/exec.py)")


class Bundles:
    def __init__(self, base: Path, rootfs: Path) -> None:
        self.base = base
        self.rootfs = rootfs

    def __call__(self, name: str, script: str, **changes: Any) -> Path:
        path = self.base / name
        path.mkdir(exist_ok=True)
        config = base_config(["sh", "-c", script])
        config["root"] = {"path": str(self.rootfs), "readonly": True}
        config.update(changes)
        (path / "config.json").write_text(json.dumps(config))
        return path


@pytest.fixture
def bundles(tmp_path: Path, rootfs: Path) -> Bundles:
    base = tmp_path / "bundles"
    base.mkdir()
    return Bundles(base, rootfs)


def toml(containers: dict[str, dict[str, Any]], settings: dict[str, Any] | None = None) -> str:
    """A TOML document (our values are strings, numbers, lists of strings, tables)."""
    def value(v: Any) -> str:
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    lines: list[str] = []
    if settings:
        lines.append("[supervisor]")
        lines += [f"{k} = {value(v)}" for k, v in settings.items()]
    for cid, table in containers.items():
        lines.append(f"[containers.{cid}]")
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        lines += [f"{k} = {value(v)}" for k, v in table.items() if k not in nested]
        for key, sub in nested.items():
            lines.append(f"[containers.{cid}.{key}]")
            lines += [f"{k} = {value(v)}" for k, v in sub.items()]
    return "\n".join(lines) + "\n"


class Supervised:
    """A ``fire-supervise`` process and the events it has published so far."""

    def __init__(self, fire: Fire, args: list[str], log: Path,
                 prefix: Sequence[str] = ()) -> None:
        self.fire = fire
        self.log = log
        self.stderr_file = open(log, "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "fire.supervisor", "--root", str(fire.root), *args],
            stdin=subprocess.DEVNULL, stdout=self.stderr_file, stderr=self.stderr_file,
            env=fire.env())
        self.events: list[ev.AnyEvent] = []
        self.cond = threading.Condition()
        self.ended = False
        self.thread = threading.Thread(target=self._collect, daemon=True)
        self.thread.start()

    def _collect(self) -> None:
        from fire.supervisor.client import subscribe

        try:
            for event in subscribe(str(self.fire.root), wait=30):
                with self.cond:
                    self.events.append(event)
                    self.cond.notify_all()
        except (OSError, FireError, ev.FrameError):
            pass  # the supervisor went away
        with self.cond:
            self.ended = True
            self.cond.notify_all()

    # ------------------------------------------------------------------ waiting
    def wait_for(self, predicate: Callable[[ev.AnyEvent], bool], timeout: float = 60,
                 after: int = 0) -> ev.AnyEvent:
        """The first event (from index ``after``) for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for event in self.events[after:]:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self.ended:
                    raise AssertionError(f"no such event within {timeout} s; stderr:\n"
                                         f"{self.stderr()}")
                self.cond.wait(min(left, 0.5))

    def wait_state(self, cid: str, state: str, timeout: float = 60, after: int = 0) -> ev.State:
        found = self.wait_for(lambda e: isinstance(e, ev.State) and e.id == cid
                              and e.state == state, timeout, after)
        assert isinstance(found, ev.State)
        return found

    def of(self, cid: str, kind: type[Any] | None = None) -> list[Any]:
        with self.cond:
            return [e for e in self.events if e.id == cid and (kind is None or
                                                               isinstance(e, kind))]

    def index(self) -> int:
        with self.cond:
            return len(self.events)

    def states(self, cid: str) -> list[str]:
        return [e.state for e in self.of(cid, ev.State)]

    def stderr(self) -> str:
        self.stderr_file.flush()
        return self.log.read_text()

    # ------------------------------------------------------------------ ending
    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.thread.join(10)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr_file.close()


@pytest.fixture
def supervise(fire: Fire, tmp_path: Path) -> Iterator[Callable[..., Supervised]]:
    """``supervise(toml_text | None, *args, prefix=())`` starts fire-supervise with a
    private root (``prefix``: a command it runs under, ``nsenter --net=…``)."""
    started: list[Supervised] = []

    def start(config: str | None = None, *args: str, prefix: Sequence[str] = ()) -> Supervised:
        argv = list(args)
        if config is not None:
            path = tmp_path / "fire.toml"
            path.write_text(config)
            argv = ["--config", str(path), *argv]
        sup = Supervised(fire, argv, tmp_path / f"supervise-{len(started)}.log", prefix)
        started.append(sup)
        return sup

    yield start
    for sup in started:
        sup.close()


def alive(pid: int) -> bool:
    from fire.procfs import start_time

    return start_time(pid) is not None


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True

