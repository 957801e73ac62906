"""The trio driver of a stage graph (``fire.lifecycle.stages.Stage`` data).

The engine path walks its graph in order, synchronously; here every stage is a
task that waits for the stages it needs, so stages with no path between them run
at the same time.  The rules:

* a stage runs once all of its needs have *succeeded*; when one fails, the
  stages that need it (directly or not) never start — they are cancelled before
  they begin, and report nothing;
* stages already running that do not need the failed one finish normally;
* then the *undo* of every stage that succeeded runs, the most recent first, in
  a shielded scope (teardown must not be interrupted halfway), and the first
  failure is raised as ``StageFailed``;
* cancellation from outside (a stop request during set-up) runs the same undo,
  then lets the cancellation continue.

Only ``FireError`` and ``OSError`` count as a stage failing; anything else is a
bug and propagates as it is.  Durations come from ``trio.current_time()`` so that
tests can drive the graph with ``trio.testing.MockClock``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import trio

from fire.errors import FireError, describe
from fire.lifecycle.stages import SUPERVISOR

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from fire.lifecycle.stages import Stage

    Action = Callable[[], Awaitable[None]]

__all__ = ["SUPERVISOR", "Reporter", "StageFailed", "run"]  # SUPERVISOR: the side of its stages


class StageFailed(Exception):
    def __init__(self, stage: str, error: str) -> None:
        super().__init__(f"{stage}: {error}")
        self.stage = stage
        self.error = error


class Reporter(Protocol):
    def started(self, stage: Stage) -> None: ...

    def finished(self, stage: Stage, duration: float) -> None: ...

    def failed(self, stage: Stage, duration: float, error: str) -> None: ...

    def undo_failed(self, stage: Stage, error: str) -> None: ...


async def run(stages: Sequence[Stage], actions: Mapping[str, Action], reporter: Reporter,
              undo: Mapping[str, Action] | None = None) -> None:
    names = {s.name for s in stages}
    settled = {s.name: trio.Event() for s in stages}
    succeeded: list[Stage] = []
    failures: list[StageFailed] = []

    async def one(stage: Stage) -> None:
        try:
            for need in stage.needs:
                if need in names:
                    await settled[need].wait()
            if not all(n in {s.name for s in succeeded} for n in stage.needs if n in names):
                return  # a stage it needs failed (or was skipped): it never starts
            reporter.started(stage)
            began = trio.current_time()
            try:
                await actions[stage.name]()
            except (FireError, OSError, StageFailed) as exc:
                error = exc.error if isinstance(exc, StageFailed) else describe(exc)
                failures.append(StageFailed(stage.name, error))
                reporter.failed(stage, trio.current_time() - began, error)
                return
            reporter.finished(stage, trio.current_time() - began)
            succeeded.append(stage)
        finally:
            settled[stage.name].set()

    try:
        async with trio.open_nursery() as nursery:
            for stage in stages:
                nursery.start_soon(one, stage)
    except BaseException:
        await _undo(succeeded, undo or {}, reporter)
        raise
    if failures:
        await _undo(succeeded, undo or {}, reporter)
        raise failures[0]


async def _undo(succeeded: list[Stage], undo: Mapping[str, Action], reporter: Reporter) -> None:
    with trio.CancelScope(shield=True):
        for stage in reversed(succeeded):
            action = undo.get(stage.name)
            if action is None:
                continue
            try:
                await action()
            except (FireError, OSError) as exc:
                reporter.undo_failed(stage, describe(exc))
