"""The ``fire create`` stage channel (``FIRE_STAGE_FD``), read into stage events.

``fire create`` writes one JSON line per stage start and end — its own stages and
the ones its init reports — (see ``fire.container.create``); each becomes a
``stage-started``, ``stage-finished`` or ``stage-failed`` event, with the time the
stage happened (not when the line was read) and its duration from the monotonic
clock of the process that ran it.  Which side ran a stage comes from the stage
graph (``fire.lifecycle.stages.CREATE``); a stage the graph does not list (a newer
runtime's) counts as the runtime's.  Lines that are not records of ours are
skipped: the channel must never break a create.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import trio

from fire import events as ev
from fire.lifecycle.stages import CREATE, RUNTIME

if TYPE_CHECKING:
    from collections.abc import Callable

SIDES = {s.name: s.side for s in CREATE}


class StageRelay:
    def __init__(self, cid: str, run: int, publish: Callable[[ev.AnyEvent], None]) -> None:
        self.id = cid
        self.run = run
        self.publish = publish
        self.began: dict[str, float] = {}
        self.error = ""  # the failing stage's message, if one failed

    async def read(self, fd: int) -> None:
        """Read ``fd`` (taken over: closed at the end) until ``fire create`` exits."""
        stream = trio.lowlevel.FdStream(fd)
        buffer = b""
        try:
            while data := await stream.receive_some(65536):
                *lines, buffer = (buffer + data).split(b"\n")
                for line in lines:
                    self.line(line)
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    def line(self, raw: bytes) -> None:
        try:
            record = json.loads(raw)
            name, phase = str(record["stage"]), str(record["phase"])
            mono, when = float(record["mono"]), float(record["time"])
        except (ValueError, KeyError, TypeError):
            return
        side = SIDES.get(name, RUNTIME)
        if phase == "start":
            self.began[name] = mono
            self.publish(ev.StageStarted(self.id, time=when, stage=name, side=side,
                                         run=self.run))
            return
        duration = max(0.0, mono - self.began.pop(name, mono))
        if phase == "done":
            self.publish(ev.StageFinished(self.id, time=when, stage=name, side=side,
                                          duration=duration, run=self.run))
        elif phase == "error":
            self.error = str(record.get("error", ""))
            self.publish(ev.StageFailed(self.id, time=when, stage=name, side=side,
                                        duration=duration, error=self.error, run=self.run))
