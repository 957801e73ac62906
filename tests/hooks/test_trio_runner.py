"""The trio hook runner: the sync runner's contract under trio, on real processes.

Time is trio's ``MockClock`` (it never moves by itself): a timeout is made to
happen by ``clock.jump`` once the hook has said, through a FIFO, that it has
started its children — no real sleep, and a timeout can never fire before the
hook has something to leave behind.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from fire.errors import HookError
from fire.hooks import runner, trio_runner
from tests.hooks.helpers import marker, processes_with

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from fire.init.plan import HookPlan


def hook(*args: str, path: str = "/bin/sh", env: list[str] | None = None,
         timeout: float | None = None) -> HookPlan:
    return {"path": path, "args": list(args), "env": env or [], "timeout": timeout}


def run(main: Callable[[trio.testing.MockClock], Awaitable[None]]) -> None:
    clock = trio.testing.MockClock()
    trio.run(main, clock, clock=clock)


def test_argv0_env_state_and_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    state = json.dumps({"id": "c", "status": "running", "pid": 5}).encode()
    lines: list[str] = []

    async def main(clock: trio.testing.MockClock) -> None:
        await trio_runner.run(hook("argv-zero", "-c", f'printf "%s|" "$0" > {out}; cat >> {out}; '
                                   "echo said-so"), state, "poststart", 1, lines.append)
        await trio_runner.run(hook("env", path="/usr/bin/env", env=["A=1", "B=two words"]),
                              b"", "poststart", 2, lines.append)

    run(main)
    assert out.read_text() == "argv-zero|" + state.decode()
    assert lines[0] == "poststart hook #1 (/bin/sh): said-so"
    assert sorted(lines[1:]) == ["poststart hook #2 (/usr/bin/env): A=1",
                                 "poststart hook #2 (/usr/bin/env): B=two words"]


@pytest.mark.parametrize("plan", [
    hook("sh", "-c", "echo why >&2; exit 4"),
    hook(path="/nonexistent"),
    hook("sh", "-c", "kill -TERM $$"),
])
def test_failures_read_exactly_as_the_sync_runner_says_them(plan: HookPlan) -> None:
    with pytest.raises(HookError) as sync_error:
        runner.run(plan, b"", "startContainer", 0)
    caught: list[HookError] = []

    async def main(clock: trio.testing.MockClock) -> None:
        try:
            await trio_runner.run(plan, b"", "startContainer", 0)
        except HookError as exc:
            caught.append(exc)

    run(main)
    assert [str(e) for e in caught] == [str(sync_error.value)]


async def _run_until_ready(plan: HookPlan, fifo: Path,
                           then: Callable[[trio.CancelScope], None]) -> list[BaseException]:
    """Run ``plan``; when it writes to ``fifo``, call ``then``; return what it raised."""
    raised: list[BaseException] = []
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # our own writer end: no early EOF
    ready = trio.lowlevel.FdStream(fd)

    async def go(scope: trio.CancelScope) -> None:
        with scope:
            try:
                await trio_runner.run(plan, b"", "poststart", 0)
            except HookError as exc:
                raised.append(exc)
            except BaseException as exc:
                raised.append(exc)
                raise

    async with ready, trio.open_nursery() as nursery:
        scope = trio.CancelScope()
        nursery.start_soon(go, scope)
        await ready.receive_some()
        then(scope)
    return raised


SCRIPT = "sleep {m} & setsid sleep {m} & (setsid sleep {m} &); echo up > {fifo}; sleep {m}"


def test_a_timeout_kills_the_whole_tree_with_the_sync_runners_message(tmp_path: Path) -> None:
    m = marker()
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    plan = hook("sh", "-c", SCRIPT.format(m=m, fifo=fifo), timeout=30)
    raised: list[BaseException] = []

    async def main(clock: trio.testing.MockClock) -> None:
        def expire(scope: trio.CancelScope) -> None:
            assert len(processes_with(f"sleep {m}")) >= 4, "the hook's tree is up"
            clock.jump(30)

        raised.extend(await _run_until_ready(plan, fifo, expire))

    run(main)
    assert [type(e) for e in raised] == [HookError]
    assert str(raised[0]) == "poststart hook #0 (/bin/sh) ran past its timeout of 30s"
    assert processes_with(f"sleep {m}") == []


def test_a_cancelled_hook_is_killed_before_the_cancellation_goes_on(tmp_path: Path) -> None:
    """The supervisor shutting down: no HookError, but nothing left running."""
    m = marker()
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    plan = hook("sh", "-c", SCRIPT.format(m=m, fifo=fifo), timeout=None)
    raised: list[BaseException] = []

    async def main(clock: trio.testing.MockClock) -> None:
        raised.extend(await _run_until_ready(plan, fifo, lambda scope: scope.cancel()))

    run(main)
    assert len(raised) == 1
    # As from trio.run_process: the Cancelled, possibly in a group from the nursery.
    matched, rest = (raised[0].split(trio.Cancelled) if isinstance(raised[0], BaseExceptionGroup)
                     else (raised[0], None))
    assert isinstance(matched, (trio.Cancelled, BaseExceptionGroup))
    assert rest is None, "nothing but the cancellation"
    assert processes_with(f"sleep {m}") == []


def test_run_all_poststop_goes_on_after_failures(tmp_path: Path) -> None:
    out = tmp_path / "out"
    warnings: list[str] = []

    async def main(clock: trio.testing.MockClock) -> None:
        await trio_runner.run_all([hook("sh", "-c", "exit 2"), hook(path="/nonexistent"),
                                   hook("sh", "-c", f"echo ran > {out}")],
                                  b"", "poststop", None, warnings.append)

    run(main)
    assert out.read_text() == "ran\n"
    assert len(warnings) == 2
