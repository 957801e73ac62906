"""The messages between the runtime and an init (``fire.init.main``, ``fire.init.join``),
one small typed record each, and the one loop that serves them on the runtime side.

On the wire a message is still a marshal-encoded tuple, its tag first
(``fire.init.channel``): marshal is builtin, the fastest encoder here, and costs the
waiting init no import.  The records give each field a name and a type, and
``encode`` / ``decode`` are the only places that know the positions, so a sender and
a receiver cannot disagree on a message's size again (ERROR once had 7 fields from
fire/init/main.py, 5 documented and 5 unpacked by ``exec``).

Init -> runtime: ``Stage``, ``Idmap`` (reply ``Ok``), ``Child``, ``Hooks`` (reply ``Ok``
or ``Error`` when the plan's ``runtime_turn`` is set, else none), ``Pty`` + the master
fd (reply ``Ok``), ``Ready``, ``Warn``, ``Error``.
Runtime -> init: ``PlanMessage`` + fds, ``Ok``, ``Error`` ("your hooks failed", or an
exec's verdict: the init exits).  File descriptors travel beside a message
(SCM_RIGHTS), not in it.

This module is imported by the init before it sets the container up: nothing here
imports anything at module level.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.errors import FireError
    from fire.init.channel import Channel
    from fire.init.plan import Plan

# Tags, the first item of each tuple on the wire.
STAGE = "stage"
IDMAP = "idmap"
CHILD = "child"
HOOKS = "hooks"
PTY = "pty"
NOTIFY = "notify"
READY = "ready"
WARN = "warn"
ERROR = "error"
PLAN = "plan"
OK = "ok"


class Message:
    """A message: ``tag`` on the wire, then the values of ``FIELDS`` in that order
    (not ``__slots__``'s: linters sort those)."""

    FIELDS: tuple[str, ...] = ()
    __slots__: tuple[str, ...] = ()
    tag = ""
    required = 0  # fields a decoded tuple must carry (the rest have defaults)

    def encode(self) -> tuple[object, ...]:
        return (self.tag, *(getattr(self, name) for name in self.FIELDS))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and type(other) is type(self) and (
            other.encode() == self.encode())

    def __hash__(self) -> int:
        return hash(repr(self.encode()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self.encode()[1:]!r}"


class Stage(Message):
    """A stage of the init's set-up starts or ends (forwarded on the stage channel)."""

    FIELDS = ("name", "phase")
    __slots__ = FIELDS
    tag = STAGE
    required = 2

    def __init__(self, name: str, phase: str) -> None:
        self.name = name
        self.phase = phase  # "start" | "done"


class Idmap(Message):
    """Write the uid/gid maps of ``pid`` (the init, in its new user namespace); reply Ok."""

    FIELDS = ("pid",)
    __slots__ = FIELDS
    tag = IDMAP
    required = 1

    def __init__(self, pid: int) -> None:
        self.pid = pid


class Child(Message):
    """The container's process (after the pid-namespace fork); from ``join``, with its
    pidfd and its own channel as fds."""

    FIELDS = ("pid",)
    __slots__ = FIELDS
    tag = CHILD
    required = 1

    def __init__(self, pid: int) -> None:
        self.pid = pid


class Hooks(Message):
    """The runtime's turn (network:attach, prestart and createRuntime hooks) now; reply
    Ok or Error when the plan's ``runtime_turn`` is set, else no reply (the init
    did not wait: fire.init.main.Init.runtime_turn)."""

    __slots__ = ()
    tag = HOOKS


class Pty(Message):
    """The terminal's master comes with this message (one fd); reply Ok."""

    __slots__ = ()
    tag = PTY


class Notify(Message):
    """A seccomp listener comes with this message (one fd)."""

    __slots__ = ()
    tag = NOTIFY


class Ready(Message):
    """Created: the init waits for ``start`` (``join``: the program is about to run)."""

    FIELDS = ("pid",)
    __slots__ = FIELDS
    tag = READY
    required = 1

    def __init__(self, pid: int) -> None:
        self.pid = pid


class Warn(Message):
    """A warning for the user, already rendered."""

    FIELDS = ("text",)
    __slots__ = FIELDS
    tag = WARN
    required = 1

    def __init__(self, text: str) -> None:
        self.text = text


class Error(Message):
    """A failure: at ``stage``, with the errno and path of the OSError behind it, the
    English line, and the error's own template and parameters when it was a
    ``FireError`` (so the runtime renders it in the user's language)."""

    FIELDS = ("stage", "errno", "path", "text", "template", "params")
    __slots__ = FIELDS
    tag = ERROR

    def __init__(self, stage: str = "", errno: int = 0, path: str = "", text: str = "",
                 template: str = "", params: dict[str, object] | None = None) -> None:
        self.stage = stage
        self.errno = errno
        self.path = path
        self.text = text
        self.template = template
        self.params = params if params is not None else {}

    def exception(self) -> FireError:
        """What the runtime raises: a ``HookError`` for a createContainer hook (stage
        "hook"), else an ``InitError`` naming the stage."""
        from fire.errors import HookError, InitError

        kind = HookError if self.stage == "hook" else InitError
        if self.template:
            return kind(self.template, **dict(self.params))
        if kind is HookError:
            return HookError("{detail}", detail=self.text)
        return InitError("{detail}", stage=self.stage, detail=self.text, errno=self.errno,
                         path=self.path)


class PlanMessage(Message):
    """The plan (``fire.init.plan``), with the fds it names."""

    FIELDS = ("plan",)
    __slots__ = FIELDS
    tag = PLAN
    required = 1

    def __init__(self, plan: Plan | dict[str, object]) -> None:
        self.plan = plan


class Ok(Message):
    __slots__ = ()
    tag = OK


KINDS: dict[str, type[Message]] = {cls.tag: cls for cls in (
    Stage, Idmap, Child, Hooks, Pty, Notify, Ready, Warn, Error, PlanMessage, Ok)}


class ProtocolError(ValueError):
    """A message this side does not understand (a peer of another version, or garbage)."""


def decode(raw: tuple[object, ...]) -> Message:
    """The record of a received tuple."""
    cls = KINDS.get(raw[0]) if raw and isinstance(raw[0], str) else None
    if cls is None:
        raise ProtocolError(f"unknown message {raw[:1]!r}")
    fields = raw[1:]
    if not cls.required <= len(fields) <= len(cls.FIELDS):
        raise ProtocolError(f"{cls.tag}: {len(fields)} fields, expected "
                            f"{cls.required} to {len(cls.FIELDS)}")
    return cls(*fields)


def put(chan: Channel, message: Message, fds: list[int] | None = None) -> None:
    """Send ``message`` (and ``fds`` beside it)."""
    chan.send(*message.encode(), fds=fds)


def get(chan: Channel) -> tuple[Message, list[int]]:
    """The next message and the fds that came with it (``ChannelClosed`` at EOF)."""
    raw, fds = chan.recv()
    try:
        return decode(raw), fds
    except ProtocolError:
        for fd in fds:
            os.close(fd)
        raise


def converse(chan: Channel, handle: Callable[[Message, list[int]], bool],
             closed: Callable[[], None]) -> None:
    """Serve ``chan`` until ``handle`` says it is done (the runtime side of both
    ``create`` and ``exec``).

    ``handle(message, fds)`` takes the fds it keeps out of the list (the rest are
    closed) and returns True to stop.  An ``Error`` is raised as its exception.  At
    EOF ``closed()`` runs: it raises, or returns to end the conversation.
    """
    from fire.init.channel import ChannelClosed

    while True:
        try:
            message, fds = get(chan)
        except ChannelClosed:
            message, fds = None, []
        if message is None:
            closed()  # outside the except: what it raises is not "during" the EOF
            return
        if isinstance(message, Error):
            for fd in fds:
                os.close(fd)
            raise message.exception()
        try:
            done = handle(message, fds)
        finally:
            for fd in fds:
                os.close(fd)
        if done:
            return
