"""fire-supervise under a hostile user (issue 22): stray signals, bad --metrics
addresses, a way to reload, ids taken by another bundle, missing bundles, counters
that must not go back, and stops along the real dependency edges."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import pytest

from fire import events as ev
from tests.supervisor.conftest import SERVE, Bundles, Supervised, alive, toml, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

# Signals whose default action would end (or stop) the supervisor.
STRAY = [signal.SIGUSR2, signal.SIGALRM, signal.SIGQUIT, signal.SIGPWR, signal.SIGVTALRM,
         signal.SIGPROF, signal.SIGXCPU, signal.SIGIO, signal.SIGSTKFLT, signal.SIGTRAP,
         signal.SIGABRT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGRTMIN + 3]


def ignored(sup: Supervised, name: str, after: int) -> ev.AnyEvent:
    return sup.wait_for(lambda e: isinstance(e, ev.Log) and e.id == "" and e.level == "warning"
                        and e.text.startswith(f"{name}: ") and "ignored" in e.text,
                        timeout=30, after=after)


def test_a_stray_signal_is_ignored_with_a_log_line_never_fatal(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    cid = fire.unique_id("stray")
    sup = supervise(toml({cid: {"bundle": str(bundles("stray", SERVE))}}))
    pid = sup.wait_state(cid, "running").pid
    for signum in STRAY:
        mark = sup.index()
        sup.signal(signum)
        ignored(sup, signal.Signals(signum).name if signum < signal.SIGRTMIN else
                f"SIGRTMIN+{signum - signal.SIGRTMIN}", mark)
        assert sup.proc.poll() is None, f"{signum} ended the supervisor"
    assert alive(pid)
    assert (fire.root / "@supervisor.sock").exists()
    assert sup.terminate() == 0
    assert not alive(pid)


def test_a_signal_no_longer_forwarded_after_a_reload_is_ignored_with_a_log_line(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    cid = fire.unique_id("unfwd")
    script = "trap 'echo got usr2' USR2; trap 'exit 0' TERM; echo up; while :; do sleep 0.1; done"
    table = {"bundle": str(bundles("unfwd", script)), "forward_signals": ["USR2"]}
    sup = supervise(toml({cid: table}))
    sup.wait_for(lambda e: isinstance(e, ev.Log) and e.id == cid and e.text == "up")
    sup.signal(signal.SIGUSR2)
    sup.wait_for(lambda e: isinstance(e, ev.Log) and e.id == cid and e.text == "got usr2")
    del table["forward_signals"]
    (tmp_path / "fire.toml").write_text(toml({cid: table}))
    mark = sup.index()
    sup.signal(signal.SIGHUP)
    sup.wait_for(lambda e: isinstance(e, ev.Log) and e.id == cid and e.text == "up", after=mark)
    mark = sup.index()
    sup.signal(signal.SIGUSR2)
    ignored(sup, "SIGUSR2", mark)
    time.sleep(0.5)
    assert not [e for e in sup.events[mark:] if isinstance(e, ev.Log) and e.text == "got usr2"]
    assert sup.proc.poll() is None
    assert sup.terminate() == 0


def test_a_metrics_address_that_cannot_be_bound_is_one_line_and_starts_nothing(
        fire: Fire, bundles: Bundles, tmp_path: Path) -> None:
    import socket

    from tests.supervisor.test_supervise import run_supervise

    cid = fire.unique_id("metrics")
    bundle = str(bundles(cid, SERVE))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cases = {f"127.0.0.1:{port}": "Address already in use",
                 "192.0.2.1:9100": "Cannot assign requested address",
                 "no-such-host.invalid:9100": ""}
        for address, reason in cases.items():
            r = run_supervise("--metrics", address, bundle, root=fire.root)
            assert r.returncode == 1, r
            assert r.stderr.count("\n") == 1, r.stderr
            host, port_text = address.rsplit(":", 1)
            assert r.stderr.startswith(f"fire-supervise: --metrics {host}:{port_text}: cannot "
                                       "listen there: "), r.stderr
            assert reason in r.stderr
            assert not fire.root.exists(), "nothing made, nothing started"


# Stops 2 s after SIGTERM.
SLOW_STOP = "trap 'sleep 2; exit 0' TERM; echo up; sleep 1000 & wait"


def test_a_reload_does_not_make_a_changed_container_wait_for_an_unrelated_removed_one(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    web, cache, new = fire.unique_id("web"), fire.unique_id("cache"), fire.unique_id("new")
    first = {web: {"bundle": str(bundles("web", "trap '' TERM; sleep 1000 & wait")),
                   "stop_timeout": 5},
             cache: {"bundle": str(bundles("cache", SERVE))}}
    sup = supervise(toml(first))
    for cid in first:
        sup.wait_state(cid, "running")
    mark = sup.index()
    (tmp_path / "fire.toml").write_text(toml({
        cache: {"bundle": first[cache]["bundle"], "stop_timeout": 3},
        new: {"bundle": str(bundles("new", SERVE))}}))
    sup.signal(signal.SIGHUP)
    replaced = sup.wait_state(cache, "running", after=mark)
    added = sup.wait_state(new, "running", after=mark)
    web_exit = sup.wait_for(lambda e: isinstance(e, ev.Exit) and e.id == web, after=mark)
    assert replaced.time < web_exit.time, "cache did not wait for web's 5 s stop"
    assert added.time < web_exit.time
    assert web_exit.signal == "SIGKILL"
    assert sup.terminate() == 0


def test_sigterm_stops_along_the_dependency_edges_in_parallel(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    # b needs a; c needs nothing and nothing needs it.  By levels, c would stop
    # with a, after b; along the edges it stops at once, with b.
    a, b, c = fire.unique_id("a"), fire.unique_id("b"), fire.unique_id("c")
    sup = supervise(toml({
        a: {"bundle": str(bundles("a", SLOW_STOP))},
        b: {"bundle": str(bundles("b", SLOW_STOP)), "depends_on": [a]},
        c: {"bundle": str(bundles("c", SLOW_STOP))},
    }))
    for cid in (a, b, c):
        sup.wait_state(cid, "running")
    began = time.monotonic()
    assert sup.terminate() == 0
    took = time.monotonic() - began
    stopping = {e.id: e.time for e in sup.events if isinstance(e, ev.State)
                and e.state == "stopping"}
    exits = {e.id: e.time for e in sup.events if isinstance(e, ev.Exit)}
    assert stopping[c] < exits[b], "c, on no edge, is stopped at once"
    assert exits[b] < stopping[a]
    assert exits[c] < stopping[a], "…and is gone before a begins"
    assert took < 4 + 3, took
