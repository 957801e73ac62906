"""The event stream: every stage of every container, in order, with durations;
`fire events --follow`; a subscriber that stops reading stalls nobody."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING, Any

import pytest

from fire import events as ev
from fire.lifecycle.stages import CREATE
from fire.supervisor.client import connect, request
from fire.supervisor.unit import SETUP
from tests.supervisor.conftest import SERVE, Bundles, Supervised, toml, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

# Stages every container reports (hooks:createContainer only runs when it has such hooks).
ALWAYS = {"validate", "claim", "cgroup", "seccomp", "spawn", "namespaces", "rootfs", "mounts",
          "devices", "hooks:runtime", "pivot_root", "paths", "process", "created"}
# The supervisor's set-up graph (derived from CREATE) places the stages it runs ahead
# of `fire create` (seccomp, cgroup): its needs win over CREATE's for those.
NEEDS = {s.name: s.needs for s in (*CREATE, *SETUP)}
AHEAD = {s.name for s in CREATE if s.ahead}


def check_stages(events: list[ev.AnyEvent], cid: str) -> None:
    mine = [e for e in events if e.id == cid and isinstance(
        e, (ev.StageStarted, ev.StageFinished, ev.StageFailed)) and e.run == 1]
    started = {e.stage: i for i, e in enumerate(mine) if isinstance(e, ev.StageStarted)}
    finished = {e.stage: i for i, e in enumerate(mine) if isinstance(e, ev.StageFinished)}
    assert not [e for e in mine if isinstance(e, ev.StageFailed)]
    assert {s.name for s in SETUP} | ALWAYS <= set(started), set(started)
    assert set(started) == set(finished), "every stage that started finished"
    assert len(mine) == 2 * len(started), "…once"
    for stage, index in started.items():
        assert finished[stage] > index
        for need in NEEDS.get(stage, ()):
            if need in finished:
                assert finished[need] < index, f"{stage} started before {need} finished"
    for event in mine:
        if isinstance(event, ev.StageFinished):
            assert event.duration >= 0
    assert {"seccomp", "cgroup"} == AHEAD
    for event in mine:
        if event.stage in AHEAD:
            assert event.side == "supervisor", f"{event.stage} ran in the supervisor"
    inner = [e for e in mine if e.side != "supervisor"]
    create = [e for e in mine if getattr(e, "stage", "") == "create"]
    for name in AHEAD:
        assert finished[name] < mine.index(create[0]), f"{name} is done before create starts"
    assert mine.index(create[0]) < mine.index(inner[0])
    assert mine.index(inner[-1]) < mine.index(create[1]), "the runtime's stages are inside create"
    total_inner = sum(e.duration for e in inner if isinstance(e, ev.StageFinished))
    assert isinstance(create[1], ev.StageFinished)
    assert total_inner <= create[1].duration
    assert {e.side for e in inner} == {"runtime", "init"}


def test_every_stage_of_every_container_in_order_with_durations(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    ids = [fire.unique_id(n) for n in ("one", "two", "three")]
    follow_out = tmp_path / "follow.jsonl"
    with open(follow_out, "w") as out:
        follower = fire.popen("events", "--follow", stdout=out, stderr=subprocess.PIPE)
        sup = supervise(toml({cid: {"bundle": str(bundles(cid, SERVE))} for cid in ids}))
        for cid in ids:
            sup.wait_state(cid, "running")
        assert sup.terminate() == 0
        assert follower.wait(30) == 0, "it ends with the supervisor"
        assert follower.stderr is not None
        follower.stderr.close()
    for cid in ids:
        check_stages(sup.events, cid)
        teardown = [e for e in sup.of(cid) if isinstance(e, (ev.StageStarted, ev.StageFinished))
                    and e.stage == "delete"]
        exit_at = sup.events.index(sup.of(cid, ev.Exit)[0])
        assert [type(e) for e in teardown] == [ev.StageStarted, ev.StageFinished]
        assert sup.events.index(teardown[0]) > exit_at, "delete runs after the exit"
    lines: list[dict[str, Any]] = [json.loads(line) for line in follow_out.read_text().splitlines()]
    assert lines, "fire events --follow printed the events"
    assert all(list(line)[:3] == ["kind", "id", "time"] for line in lines)
    assert {line["kind"] for line in lines} >= {"stage-started", "stage-finished", "state", "exit",
                                                "log", "signal"}
    printed = [ev.decode_event(ev.frame(_event(line))[4:]) for line in lines]
    for cid in ids:
        check_stages(printed, cid)


def _event(line: dict[str, Any]) -> ev.AnyEvent:
    import msgspec

    return msgspec.convert(line, ev.AnyEvent)  # type: ignore[no-any-return]


def test_events_follow_waits_for_a_supervisor(fire: Fire) -> None:
    start = time.monotonic()
    r = fire("events", "--follow", "--wait", "1")
    assert r.code == 1
    assert r.err == f"fire: no fire-supervise is running with --root {fire.root}\n"
    assert 1 <= time.monotonic() - start < 10


def test_a_subscriber_that_stops_reading_does_not_stall_the_supervisor(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    flood, probe = fire.unique_id("flood"), fire.unique_id("probe")
    # The flood starts when the test says so (SIGUSR2, forwarded), once the stalled
    # subscriber is there.
    script = ("trap 'seq 1 40000; echo flooded' USR2; trap 'exit 0' TERM; echo up; "
              "while :; do sleep 1000 & wait $!; done")
    sup = supervise(toml({
        flood: {"bundle": str(bundles("flood", script)), "forward_signals": ["USR2"]},
        probe: {"bundle": str(bundles("probe", SERVE)), "restart": "always"},
    }, settings={"output_events": 1_000_000}))
    stalled = connect(str(fire.root), wait=30)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(ev.frame(ev.Subscribe(replay=False)))
    try:
        first = sup.wait_state(probe, "running").pid
        assert wait_until(lambda: b"up" in _log(fire, flood), 60)
        sup.signal(signal.SIGUSR2)
        assert wait_until(lambda: b"flooded" in _log(fire, flood), 60)
        # The stalled subscriber holds ~40000 undelivered events; the supervisor
        # still answers at once and still restarts containers.
        began = time.monotonic()
        assert request(str(fire.root), ev.Restart(id=probe)).ok
        assert time.monotonic() - began < 5
        assert wait_until(lambda: _pid(fire, probe) not in (0, first), 60)
        # Now it reads: what was queued for it, then how many it missed…
        stalled.settimeout(30)
        reader = ev.FrameReader()
        got: list[ev.AnyEvent] = []

        def read_until(condition: Callable[[ev.AnyEvent], bool]) -> None:
            deadline = time.monotonic() + 60
            while not any(condition(e) for e in got):
                assert time.monotonic() < deadline
                data = stalled.recv(65536)
                assert data, "the supervisor closed the stream"
                got.extend(ev.decode_event(b) for b in reader.feed(data))

        read_until(lambda e: isinstance(e, ev.Missed))
        # …then live events again.
        assert request(str(fire.root), ev.Stop(id=probe)).ok
        read_until(lambda e: isinstance(e, ev.State) and e.id == probe and e.state == "stopped")
    finally:
        stalled.close()
    missed = [e for e in got if isinstance(e, ev.Missed)]
    count = sum(e.count for e in missed)
    assert count > 1000
    logs = [e for e in got if isinstance(e, ev.Log) and e.id == flood and e.text.isdigit()]
    assert logs[0].text == "1", "it got the oldest events, the ones queued before it stalled"
    assert len(logs) + count >= 40000, "what it got + what it missed: at least every line"
    assert sup.terminate() == 0


def _log(fire: Fire, cid: str) -> bytes:
    from fire.supervisor.files import log_path

    try:
        with open(log_path(str(fire.root), cid), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def _pid(fire: Fire, cid: str) -> int:
    r = fire("state", cid)
    return int(r.json()["pid"]) if r.code == 0 and r.json()["status"] == "running" else 0
