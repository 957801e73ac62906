"""The socket server in-process (no root): subscriptions, control requests, and
clients that misbehave or vanish without taking the supervisor down."""

from __future__ import annotations

import os
import socket
import stat
from typing import TYPE_CHECKING, Any

import trio
import trio.testing

from fire import events as ev
from fire.supervisor.bus import Bus
from fire.supervisor.files import SOCKET
from fire.supervisor.server import Server

if TYPE_CHECKING:
    from pathlib import Path


class FakeSupervisor:
    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.bus = Bus()
        self.requests: list[ev.AnyRequest] = []

    def snapshot(self, replayed: list[ev.AnyEvent]) -> list[ev.AnyEvent]:
        return [ev.State("db", state="running", pid=1)]

    async def control(self, request: ev.AnyRequest) -> ev.Reply:
        self.requests.append(request)
        return ev.Reply(ok=False, error="nope") if getattr(request, "id", "") == "x" else \
            ev.Reply(ok=True)


async def connect(root: Path) -> trio.SocketStream:
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    await sock.connect(str(root / SOCKET))
    return trio.SocketStream(sock)


async def read_events(stream: trio.SocketStream, count: int) -> list[ev.AnyEvent]:
    reader = ev.FrameReader()
    out: list[ev.AnyEvent] = []
    while len(out) < count:
        data = await stream.receive_some(65536)
        assert data
        out += [ev.decode_event(b) for b in reader.feed(bytes(data))]
    return out


def test_subscribe_control_and_misbehaving_clients(tmp_path: Path) -> None:
    sup: Any = FakeSupervisor(tmp_path)
    server = Server(sup)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            assert stat.S_IMODE(os.stat(tmp_path / SOCKET).st_mode) == 0o600
            sup.bus.publish(ev.Log("db", text="before"))

            # A subscriber: the replay, the snapshot, then live events.
            first = await connect(tmp_path)
            await first.send_all(ev.frame(ev.Subscribe()))
            got = await read_events(first, 2)
            assert [type(e).__name__ for e in got] == ["Log", "State"]
            sup.bus.publish(ev.Exit("db", code=0))
            assert (await read_events(first, 1))[0] == sup.bus.history[-1]

            # One that vanishes with events on their way: nothing breaks.
            gone = await connect(tmp_path)
            await gone.send_all(ev.frame(ev.Subscribe()))
            for n in range(2000):
                sup.bus.publish(ev.Log("db", text=f"{n}" * 50))
            await gone.aclose()
            await trio.testing.wait_all_tasks_blocked()
            for _ in range(10):
                sup.bus.publish(ev.Log("db", text="after"))
            await trio.sleep(0.1)

            # Garbage, and a request that never comes: the connection is closed.
            junk = await connect(tmp_path)
            await junk.send_all(b"\xff\xff\xff\xff")
            assert await junk.receive_some(10) == b""
            await junk.aclose()

            # Control requests get one reply each.
            for request, reply in ((ev.Stop(id="db"), ev.Reply(ok=True)),
                                   (ev.Kill(id="x", signal="TERM"), ev.Reply(ok=False,
                                                                             error="nope"))):
                client = await connect(tmp_path)
                await client.send_all(ev.frame(request))
                data = b""
                while chunk := await client.receive_some(100):
                    data += chunk
                assert ev.decode_reply(data[4:]) == reply
                await client.aclose()
            assert sup.requests == [ev.Stop(id="db"), ev.Kill(id="x", signal="TERM")]

            # The first subscriber is still served; the end of the bus ends it cleanly.
            sup.bus.close()
            rest = b""
            while chunk := await first.receive_some(65536):
                rest += chunk
            await first.aclose()
            # It read nothing during the flood: its queue (1000) kept the oldest, the
            # rest were dropped and counted; once caught up it got the live ones.
            tail = [ev.decode_event(b) for b in ev.FrameReader().feed(rest)]
            gap = next(i for i, e in enumerate(tail) if isinstance(e, ev.Missed))
            kept = [e.text for e in tail[:gap] if isinstance(e, ev.Log)]
            assert kept == [f"{n}" * 50 for n in range(len(kept))]
            assert len(kept) >= 1000
            assert tail[gap] == ev.Missed("", time=tail[gap].time, count=2000 - len(kept))
            assert [e.text for e in tail[gap + 1:] if isinstance(e, ev.Log)] == ["after"] * 10
            assert server.writers == 0
            nursery.cancel_scope.cancel()
        warnings = [e for e in sup.bus.history if isinstance(e, ev.Log) and e.level == "warning"]
        assert warnings == [], "no client failure was worth a warning"

    trio.run(main)


class _RecordingStream:
    """A subscriber's connection that records each send (and never says EOF)."""

    def __init__(self) -> None:
        self.sends: list[bytes] = []

    async def send_all(self, data: bytes) -> None:
        self.sends.append(bytes(data))

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.sleep(3600)  # cancelled long before
        return b""


class _BusOnly:
    def __init__(self) -> None:
        self.bus = Bus()

    def snapshot(self, replayed: list[ev.AnyEvent]) -> list[ev.AnyEvent]:
        return []


def test_events_published_in_the_same_turn_go_out_in_one_send() -> None:
    """A create's stage events come from several tasks in the same turn of the loop:
    one send for them all, not one each (1,000 starts: ~40 sends per container were
    a third of the supervisor's CPU).  The tasks run in a random order in a turn,
    hence the 20 tries: one send each time."""
    sends: list[int] = []

    async def one_try() -> None:
        sup = _BusOnly()
        stream = _RecordingStream()
        go = trio.Event()

        async def second() -> None:
            await go.wait()  # runnable in the same turn as the subscriber's task
            sup.bus.publish(ev.Log(id="b", text="second"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(Server(sup).stream_events,  # type: ignore[arg-type]
                               stream, ev.Subscribe(replay=False))
            nursery.start_soon(second)
            await trio.testing.wait_all_tasks_blocked()
            sup.bus.publish(ev.Log(id="a", text="first"))
            go.set()
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert b"first" in b"".join(stream.sends)
        assert b"second" in b"".join(stream.sends)
        sends.append(len(stream.sends))

    async def main() -> None:
        for _ in range(20):
            await one_try()

    trio.run(main)
    assert sends == [1] * 20
