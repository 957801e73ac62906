"""The event bus and the wire format: replay, slow subscribers, framing."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from fire import events as ev
from fire.supervisor.bus import Bus, drain


def log(n: int, cid: str = "c") -> ev.Log:
    return ev.Log(cid, text=str(n))


def texts(events: list[ev.AnyEvent]) -> list[str]:
    return [e.text if isinstance(e, ev.Log) else f"missed {e.count}"  # type: ignore[union-attr]
            for e in events]


def test_a_new_subscriber_gets_the_replay_then_live_events() -> None:
    async def main() -> None:
        bus = Bus(replay=3)
        for n in range(5):
            bus.publish(log(n))
        with bus.subscription() as sub:
            bus.publish(log(5))
            assert texts(list(drain(sub))) == ["2", "3", "4", "5"]
        with bus.subscription(replay=False) as sub:
            bus.publish(log(6))
            assert texts(list(drain(sub))) == ["6"]

    trio.run(main)


def test_a_subscriber_that_does_not_read_never_blocks_the_publisher() -> None:
    async def main() -> None:
        bus = Bus(replay=10, queue=4)
        slow = bus.subscribe(replay=False)
        fast = bus.subscribe(replay=False)
        got: list[ev.AnyEvent] = []

        async def reader() -> None:
            while True:
                got.append(await fast.next())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            for n in range(10):
                bus.publish(log(n))  # synchronous: it cannot wait for anyone
                await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        assert texts(got) == [str(n) for n in range(10)], "the reading subscriber lost nothing"
        assert slow.missed == 6
        # The slow one now reads: the 4 that fitted, then how many it missed, then live.
        first = [await slow.next() for _ in range(5)]
        assert texts(first) == ["0", "1", "2", "3", "missed 6"]
        assert slow.missed == 0
        bus.publish(log(10))
        assert texts([await slow.next()]) == ["10"]

    trio.run(main)


def test_ready_stops_at_a_gap_so_the_missed_count_comes_in_order() -> None:
    async def main() -> None:
        bus = Bus(queue=2)
        sub = bus.subscribe(replay=False)
        for n in range(5):
            bus.publish(log(n))
        assert texts(sub.ready(10)) == ["0", "1"]
        assert texts([await sub.next()]) == ["missed 3"]

    trio.run(main)


def test_closing_the_bus_ends_subscribers_after_what_is_queued() -> None:
    async def main() -> None:
        bus = Bus()
        sub = bus.subscribe(replay=False)
        bus.publish(log(1))
        bus.close()
        bus.publish(log(2))  # after the end: dropped, no error
        assert texts([await sub.next()]) == ["1"]
        with pytest.raises(trio.EndOfChannel):
            await sub.next()

    trio.run(main)


def test_snapshot_events_follow_the_replay() -> None:
    async def main() -> None:
        bus = Bus()
        bus.publish(ev.State("db", state="creating"))
        seen: list[list[ev.AnyEvent]] = []

        def snapshot(replayed: list[ev.AnyEvent]) -> list[ev.AnyEvent]:
            seen.append(replayed)
            return [ev.State("db", state="running", pid=7)]

        sub = bus.subscribe(snapshot=snapshot)
        assert [[e.state for e in r if isinstance(e, ev.State)] for r in seen] == [["creating"]]
        states = [e.state for e in drain(sub) if isinstance(e, ev.State)]
        assert states == ["creating", "running"]

    trio.run(main)


# ------------------------------------------------------------------ the wire
def test_every_kind_round_trips_through_a_frame() -> None:
    samples: list[ev.AnyEvent] = [
        ev.StageStarted("a", stage="mounts", side="init", run=2),
        ev.StageFinished("a", stage="mounts", side="init", duration=0.25),
        ev.StageFailed("a", stage="create", side="supervisor", duration=1.5, error="no"),
        ev.State("a", state="running", pid=42, restarts=1),
        ev.Hook("a", phase="poststop", ok=False, index=1, path="/bin/x", duration=0.5, error="x"),
        ev.Signal("", signal="SIGHUP"),
        ev.Exit("a", code=None), ev.Exit("a", code=137, signal="SIGKILL"),
        ev.Oom("a", count=1), ev.Health("a", status="healthy"),
        ev.Stats("a", cpu=1.5, memory=1024, pids=3), ev.Log("a", text="hi", stream="output"),
        ev.Missed("", count=9),
    ]
    assert {type(e).__struct_config__.tag for e in samples} == set(ev.KINDS)
    reader = ev.FrameReader()
    wire = b"".join(ev.frame(e) for e in samples)
    bodies = []
    for i in range(0, len(wire), 7):  # arbitrary split points
        bodies += reader.feed(wire[i:i + 7])
    assert [ev.decode_event(b) for b in bodies] == samples


def test_json_lines_start_with_kind_id_and_time() -> None:
    line = ev.to_json(ev.Exit("web", time=1.5, code=3))
    assert line.startswith(b'{"kind":"exit","id":"web","time":1.5,')


def test_requests_and_replies_round_trip() -> None:
    for request in (ev.Subscribe(replay=False), ev.Stop(id="a"), ev.Start(id="a"),
                    ev.Restart(id="a"), ev.Kill(id="a", signal="TERM")):
        assert ev.decode_request(ev.frame(request)[4:]) == request
    assert ev.decode_reply(ev.frame(ev.Reply(ok=False, error="x"))[4:]) == ev.Reply(
        ok=False, error="x")


def test_a_bad_frame_is_refused() -> None:
    with pytest.raises(ev.FrameError):
        ev.FrameReader().feed((ev.MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(ev.FrameError):
        ev.decode_request(ev.frame(ev.Log("a", text="not a request"))[4:])
    with pytest.raises(ev.FrameError):
        ev.decode_event(b"\xc1")


def test_summaries_are_one_line() -> None:
    assert ev.summary(ev.Exit("a", code=None)).startswith("exited (status unknown")
    assert ev.summary(ev.Exit("a", code=137, signal="SIGKILL")) == "killed by SIGKILL"
    assert ev.summary(ev.StageFinished("a", stage="x", side="init", duration=0.0123)) == (
        "stage x done in 12.3 ms")
    assert ev.summary(ev.State("a", state="running", pid=4)) == "running (pid 4)"
