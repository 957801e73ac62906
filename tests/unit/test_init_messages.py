"""The runtime <-> init messages (fire.init.messages): one record per message, one
encode/decode pair, one dispatcher; over a real socket pair, no root needed."""

from __future__ import annotations

import marshal
import os
from typing import TYPE_CHECKING

import pytest

from fire.errors import HookError, InitError
from fire.init import messages as msg
from fire.init.channel import Channel

if TYPE_CHECKING:
    from collections.abc import Iterator

EVERY = [msg.Stage("mounts", "start"), msg.Idmap(12), msg.Child(13), msg.Hooks(), msg.Pty(),
         msg.Notify(), msg.Ready(14), msg.Warn("careful"),
         msg.Error("mounts", 2, "/x", "mounts: /x: No such file or directory",
                   "{path}: gone", {"path": "/x"}),
         msg.PlanMessage({"flags": 0}), msg.Ok()]


@pytest.mark.parametrize("message", EVERY, ids=lambda m: m.tag)
def test_every_message_round_trips_through_marshal(message: msg.Message) -> None:
    wire = marshal.loads(marshal.dumps(message.encode()))  # type: ignore[arg-type]
    assert wire[0] == message.tag
    assert msg.decode(wire) == message


def test_every_tag_has_one_record() -> None:
    assert sorted(msg.KINDS) == sorted(m.tag for m in EVERY)


def test_error_has_one_size_for_every_sender() -> None:
    """ERROR once had 7 items from init/main.py, 5 documented and 5 unpacked by exec."""
    assert len(msg.Error("exec").encode()) == 7
    assert len(msg.Error("s", 1, "/p", "text", "t {x}", {"x": 1}).encode()) == 7
    old = msg.decode(("error", "mounts", 2, "/x", "text"))  # the 5-item form still reads
    assert isinstance(old, msg.Error)
    assert (old.stage, old.errno, old.path, old.text, old.template, old.params) == (
        "mounts", 2, "/x", "text", "", {})


@pytest.mark.parametrize("raw", [(), ("nonsense",), ("ready",), ("ready", 1, 2),
                                 ("stage", "x"), (5,)])
def test_malformed_messages_are_refused(raw: tuple[object, ...]) -> None:
    with pytest.raises(msg.ProtocolError):
        msg.decode(raw)


@pytest.fixture
def pair() -> Iterator[tuple[Channel, Channel]]:
    ours, fd = Channel.pair()
    theirs = Channel(fd)
    yield ours, theirs
    ours.close()
    theirs.close()


def _never(message: msg.Message, fds: list[int]) -> bool:
    raise AssertionError(f"not expected: {message!r}")


def _eof() -> None:
    raise AssertionError("not expected: EOF")


def test_converse_hands_each_message_on_and_closes_the_fds_left(
        pair: tuple[Channel, Channel]) -> None:
    ours, theirs = pair
    r, w = os.pipe()
    msg.put(theirs, msg.Stage("mounts", "start"))
    msg.put(theirs, msg.Pty(), fds=[r])
    msg.put(theirs, msg.Ready(7))
    seen: list[msg.Message] = []
    passed: list[int] = []

    def handle(message: msg.Message, fds: list[int]) -> bool:
        seen.append(message)
        passed.extend(fds)
        return isinstance(message, msg.Ready)

    msg.converse(ours, handle, _eof)
    assert seen == [msg.Stage("mounts", "start"), msg.Pty(), msg.Ready(7)]
    assert len(passed) == 1
    with pytest.raises(OSError, match="Bad file descriptor"):  # converse closed it
        os.fstat(passed[0])
    os.close(r)
    os.close(w)


def test_converse_raises_an_error_as_its_exception(pair: tuple[Channel, Channel]) -> None:
    ours, theirs = pair
    msg.put(theirs, msg.Error("mounts", 2, "/x", "mounts: /x: gone"))
    with pytest.raises(InitError) as info:
        msg.converse(ours, _never, _eof)
    assert str(info.value) == "mounts: /x: gone"
    assert info.value.params["errno"] == 2
    msg.put(theirs, msg.Error("hook", text="createContainer hook failed"))
    with pytest.raises(HookError, match="createContainer hook failed"):
        msg.converse(ours, _never, _eof)
    msg.put(theirs, msg.Error("process", 0, "", "english",
                              "cannot start: {what}", {"what": "x"}))
    with pytest.raises(InitError, match="cannot start: x"):
        msg.converse(ours, _never, _eof)


def test_converse_calls_closed_at_eof(pair: tuple[Channel, Channel]) -> None:
    ours, theirs = pair
    theirs.close()
    ended: list[bool] = []
    msg.converse(ours, _never, lambda: ended.append(True))
    assert ended == [True]


def test_the_inits_own_error_reaches_the_dispatcher() -> None:
    """What fire/init/main.py sends when its set-up fails is what create's and
    exec's dispatcher reads: a plan it cannot use ends in an InitError."""
    ours, fd = Channel.pair()
    pid = os.fork()
    if pid == 0:  # the init, as spawn starts it (minus the fresh interpreter)
        try:
            ours.close()
            from fire.init.main import main

            main(fd)
        finally:
            os._exit(3)
    os.close(fd)
    try:
        msg.put(ours, msg.PlanMessage({"flags": 0}))  # no "mounts": the init fails
        with pytest.raises(InitError, match="mounts"):
            msg.converse(ours, _never, _eof)
    finally:
        ours.close()
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
