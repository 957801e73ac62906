"""The supervisor's events and control requests, and how they travel.

Events are msgspec Structs in one tagged union: the ``kind`` field names the
type, every event has ``id`` (the container; ``""`` for the supervisor itself)
and ``time`` (seconds since the epoch).  The kinds:

=================  =============================================================
``stage-started``  a stage of a container's set-up or tear-down began
``stage-finished`` …ended, with its ``duration`` (seconds)
``stage-failed``   …failed, with its ``duration`` and the one-line ``error``
``state``          the container's supervised state changed (``waiting``,
                   ``creating``, ``created``, ``running``, ``stopping``,
                   ``restarting``, ``stopped``, ``failed``)
``hook``           a runtime-side hook ran (``ok`` says whether it succeeded)
``signal``         the supervisor received or forwarded a signal
``exit``           a container's process exited (one per run); ``code`` and
                   ``signal`` are None when the supervisor cannot know them
``oom``            the kernel's OOM killer killed a process of the container
``health``         a health check ran
``stats``          cpu / memory / pids of the container's cgroup
``log``            a line of the supervisor's log about a container, or of the
                   container's own output (``stream`` = ``output``)
``missed``         this subscriber was too slow: ``count`` events were dropped
=================  =============================================================

On the wire (the supervisor's Unix socket, ``<root>/@supervisor.sock``) each
message is a 4-byte big-endian length and a msgpack body.  A client's first
message is a request: ``subscribe`` turns the connection into an event stream
(the replay of recent events, then live ones); ``stop``, ``start``, ``restart``
and ``kill`` act on one container and get one ``reply``.

This module imports msgspec, so it is never imported on the engine path.
"""

from __future__ import annotations

import time

import msgspec

MAX_FRAME = 1 << 20  # no event or request comes near this; anything bigger is refused
HEADER = 4


class Event(msgspec.Struct, tag_field="kind"):
    """Events are shared by every subscriber's queue: treat them as read-only."""


    id: str
    time: float = msgspec.field(default_factory=time.time)


class StageStarted(Event, tag="stage-started", kw_only=True):
    stage: str
    side: str  # "supervisor", "runtime" (the `fire create` process) or "init"
    run: int = 0  # which run of the container (1 = first, 2 = first restart…)


class StageFinished(Event, tag="stage-finished", kw_only=True):
    stage: str
    side: str
    duration: float
    run: int = 0


class StageFailed(Event, tag="stage-failed", kw_only=True):
    stage: str
    side: str
    duration: float
    error: str
    run: int = 0


class State(Event, tag="state", kw_only=True):
    state: str
    pid: int = 0
    restarts: int = 0
    reason: str = ""
    supervised: bool = True  # False: a container of the state dir, not the supervisor's
    since: float = 0.0  # running, stopping: when its process started (epoch s); else 0


class Hook(Event, tag="hook", kw_only=True):
    """One runtime-side hook, run by the supervisor (fire.supervisor.delegation)."""

    phase: str  # prestart, createRuntime, poststart, poststop
    ok: bool
    index: int = 0  # its place in the phase's list (messages count from 0, as runc's)
    path: str = ""
    duration: float = 0.0  # seconds
    error: str = ""  # the one-line failure (a poststop one is only a warning)


class Signal(Event, tag="signal", kw_only=True):
    signal: str  # "SIGTERM"
    target: str = "supervisor"  # or "container": forwarded to it


class Exit(Event, tag="exit", kw_only=True):
    code: int | None  # None: unknown (an adopted container, not our child)
    signal: str | None = None
    run: int = 0


class Oom(Event, tag="oom", kw_only=True):
    count: int


class Health(Event, tag="health", kw_only=True):
    status: str  # "healthy" | "unhealthy" | "failing" (failed, retries left)
    failures: int = 0
    output: str = ""


class Stats(Event, tag="stats", kw_only=True):
    cpu: float | None = None  # seconds of CPU used, total
    memory: int | None = None  # bytes
    pids: int | None = None


class Log(Event, tag="log", kw_only=True):
    level: str = "info"
    text: str = ""
    stream: str = ""  # "output": a line the container wrote


class Missed(Event, tag="missed", kw_only=True):
    count: int


AnyEvent = (StageStarted | StageFinished | StageFailed | State | Hook | Signal | Exit | Oom
            | Health | Stats | Log | Missed)
KINDS = ("stage-started", "stage-finished", "stage-failed", "state", "hook", "signal", "exit",
         "oom", "health", "stats", "log", "missed")


# ------------------------------------------------------------------ requests
class Request(msgspec.Struct, tag_field="op", kw_only=True):
    """A client's first (and only) message."""


class Subscribe(Request, tag="subscribe"):
    replay: bool = True


class Stop(Request, tag="stop"):
    id: str


class Start(Request, tag="start"):
    id: str


class Restart(Request, tag="restart"):
    id: str


class Kill(Request, tag="kill"):
    id: str
    signal: str = "KILL"


class Reload(Request, tag="reload"):
    """Read the file again (as SIGHUP does); the reply says what changes, or why not."""


AnyRequest = Subscribe | Stop | Start | Restart | Kill | Reload
CONTROL_OPS = ("stop", "start", "restart", "kill", "reload")


class Reply(msgspec.Struct, kw_only=True):
    ok: bool
    error: str = ""
    text: str = ""  # what was done (reload: "1 added, 0 removed, 2 changed")


# ------------------------------------------------------------------ encoding
_event_encoder = msgspec.msgpack.Encoder()
_event_decoder: msgspec.msgpack.Decoder[AnyEvent] = msgspec.msgpack.Decoder(AnyEvent)
_request_decoder: msgspec.msgpack.Decoder[AnyRequest] = msgspec.msgpack.Decoder(AnyRequest)
_reply_decoder = msgspec.msgpack.Decoder(Reply)
_json_encoder = msgspec.json.Encoder()


class FrameError(ValueError):
    """A peer sent something that is not a frame of ours."""


def frame(message: msgspec.Struct) -> bytes:
    """One message as a length-prefixed msgpack frame."""
    body = _event_encoder.encode(message)
    return len(body).to_bytes(HEADER, "big") + body


def body_length(header: bytes) -> int:
    n = int.from_bytes(header, "big")
    if n > MAX_FRAME:
        raise FrameError(f"a frame of {n} bytes (the limit is {MAX_FRAME})")
    return n


def decode_event(body: bytes) -> AnyEvent:
    try:
        return _event_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise FrameError(f"not an event: {exc}") from None


def decode_request(body: bytes) -> AnyRequest:
    try:
        return _request_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise FrameError(f"not a request: {exc}") from None


def decode_reply(body: bytes) -> Reply:
    try:
        return _reply_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise FrameError(f"not a reply: {exc}") from None


def to_json(event: AnyEvent) -> bytes:
    """One JSON object (``kind`` first), no newline."""
    return _json_encoder.encode(event)


class FrameReader:
    """Splits a byte stream into frame bodies (for any I/O style: feed, then take)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        out: list[bytes] = []
        while len(self.buffer) >= HEADER:
            n = body_length(bytes(self.buffer[:HEADER]))
            if len(self.buffer) < HEADER + n:
                break
            out.append(bytes(self.buffer[HEADER:HEADER + n]))
            del self.buffer[:HEADER + n]
        return out


def summary(event: AnyEvent) -> str:
    """One line of English for a person (the supervisor's log, the TUI's event list)."""
    if isinstance(event, StageStarted):
        return f"stage {event.stage} started"
    if isinstance(event, StageFinished):
        return f"stage {event.stage} done in {event.duration * 1000:.1f} ms"
    if isinstance(event, StageFailed):
        return f"stage {event.stage} failed after {event.duration * 1000:.1f} ms: {event.error}"
    if isinstance(event, State):
        text = event.state + (f" (pid {event.pid})" if event.pid else "")
        return text + (f": {event.reason}" if event.reason else "")
    if isinstance(event, Hook):
        if event.ok:
            return (f"{event.phase} hook #{event.index} ({event.path}) ran in "
                    f"{event.duration * 1000:.1f} ms")
        return event.error or f"{event.phase} hook #{event.index} ({event.path}) failed"
    if isinstance(event, Signal):
        return (f"forwarded {event.signal}" if event.target == "container"
                else f"received {event.signal}")
    if isinstance(event, Exit):
        if event.signal:
            return f"killed by {event.signal}"
        if event.code is None:
            return "exited (status unknown: not the supervisor's child)"
        return f"exited with code {event.code}"
    if isinstance(event, Oom):
        return f"the OOM killer killed {event.count} process(es)"
    if isinstance(event, Health):
        last = event.output.strip().splitlines()[-1:]  # one line: the check's last
        return f"health: {event.status}" + (f" ({event.failures} failed)" if event.failures
                                            else "") + (f": {last[0]}" if last else "")
    if isinstance(event, Stats):
        parts = []
        if event.cpu is not None:
            parts.append(f"cpu {event.cpu:.2f} s")
        if event.memory is not None:
            parts.append(f"memory {event.memory / 1048576:.1f} MiB")
        if event.pids is not None:
            parts.append(f"{event.pids} pids")
        return ", ".join(parts) or "no stats"
    if isinstance(event, Log):
        return ("| " if event.stream else "") + event.text
    return f"{event.count} events missed (too slow)"
