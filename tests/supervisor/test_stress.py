"""fire-supervise under a hostile user (issue 22): stray signals, bad --metrics
addresses, a way to reload, ids taken by another bundle, missing bundles, counters
that must not go back, and stops along the real dependency edges."""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any

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


def up(sup: Supervised, cid: str, after: int = 0) -> None:
    """The container wrote "up": its TERM trap is set (pid 1 without a handler
    ignores SIGTERM, and a stop would wait for stop_timeout); and it is ``running``
    (its line can come first: the log is read as soon as it is written, while
    ``fire start`` may still be returning)."""
    sup.wait_for(lambda e: isinstance(e, ev.Log) and e.id == cid and e.text == "up",
                 after=after)
    sup.wait_state(cid, "running", after=after)


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
    first: dict[str, dict[str, Any]] = {
        web: {"bundle": str(bundles("web", "trap '' TERM; sleep 1000 & wait")),
                   "stop_timeout": 5},
             cache: {"bundle": str(bundles("cache", SERVE))}}
    sup = supervise(toml(first))
    for cid in first:
        sup.wait_state(cid, "running")
    up(sup, cache)
    mark = sup.index()
    (tmp_path / "fire.toml").write_text(toml({
        cache: {"bundle": first[cache]["bundle"], "stop_timeout": 3},
        new: {"bundle": str(bundles("new", SERVE))}}))
    sup.signal(signal.SIGHUP)
    replaced = sup.wait_state(cache, "running", after=mark)
    added = sup.wait_state(new, "running", after=mark)
    web_exit = sup.wait_for(lambda e: isinstance(e, ev.Exit) and e.id == web, after=mark)
    assert replaced.time < web_exit.time, sup.stderr()  # cache did not wait for web's 5 s stop
    assert added.time < web_exit.time
    assert isinstance(web_exit, ev.Exit)
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
        up(sup, cid)
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


def test_reload_by_pid_file_and_by_fire_reload(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    one, two = fire.unique_id("one"), fire.unique_id("two")
    pid_file = tmp_path / "supervise.pid"
    first = {one: {"bundle": str(bundles("one", SERVE))}}
    sup = supervise(toml(first), "--pid-file", str(pid_file))
    sup.wait_state(one, "running")
    assert pid_file.read_text() == f"{sup.proc.pid}\n"
    # The README's way: kill -HUP "$(cat supervise.pid)"
    (tmp_path / "fire.toml").write_text(toml({**first, two: {"bundle": str(bundles("two",
                                                                                     SERVE))}}))
    mark = sup.index()
    os.kill(int(pid_file.read_text()), signal.SIGHUP)
    sup.wait_state(two, "running", after=mark)
    # fire reload: over the socket, with what changes (or why not) as its answer.
    (tmp_path / "fire.toml").write_text(toml(first))
    mark = sup.index()
    r = fire("reload")
    assert (r.code, r.out) == (0, "reload: 0 added, 1 removed, 0 changed\n"), r
    sup.wait_state(two, "stopped", after=mark)
    (tmp_path / "fire.toml").write_text(toml({one: {"bundle": "x", "restart": "sometimes"}}))
    r = fire("reload")
    assert r.code == 1
    assert r.err.count("\n") == 1, r
    assert "$.containers." in r.err, r
    assert "restart: unknown value 'sometimes'" in r.err, r
    assert "the configuration is unchanged" in r.err
    assert sup.terminate() == 0
    assert not pid_file.exists(), "removed at exit"


def test_an_id_taken_by_another_bundle_stays_failed_and_its_dependants_say_why_they_wait(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    taken, web = fire.unique_id("taken"), fire.unique_id("web")
    other = bundles("other", SERVE)
    assert fire("create", "--bundle", str(other), taken).code == 0
    sup = supervise(toml({taken: {"bundle": str(bundles("mine", SERVE))},
                          web: {"bundle": str(bundles("web", SERVE)), "depends_on": [taken]}}))
    failed = sup.wait_state(taken, "failed")
    assert failed.reason == f"the id is taken by another bundle ({other})"
    waiting = sup.wait_for(lambda e: isinstance(e, ev.State) and e.id == web
                           and e.state == "waiting" and "failed" in e.reason)
    assert isinstance(waiting, ev.State)
    assert waiting.reason == f"for {taken} (failed: {failed.reason})"
    time.sleep(1)
    assert sup.states(taken)[-1] == "failed", "not 'stopped on request': nobody asked"
    assert "stopped on request" not in [e.reason for e in sup.of(taken, ev.State)]
    assert fire.state(taken)["status"] == "created", "the other bundle's container is untouched"
    assert sup.terminate() == 0
    assert fire("delete", "--force", taken).code == 0


def metrics_port(sup: Supervised) -> int:
    found: list[int] = []

    def bound() -> bool:
        import re

        m = re.search(r"metrics on http://[^:]+:(\d+)/metrics", sup.stderr())
        if m:
            found.append(int(m.group(1)))
        return bool(m)

    assert wait_until(bound), sup.stderr()
    return found[0]


def restarts_metric(port: int, cid: str) -> float:
    from tests.supervisor.test_metrics import scrape

    return scrape(port)["fire_container_restarts_total", (("id", cid),)]


def test_restart_counters_never_go_back_for_the_same_id(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    from fire.supervisor.client import request

    cid = fire.unique_id("count")
    table = {"bundle": str(bundles("count", SERVE)), "restart": "always"}
    sup = supervise(toml({cid: table}), "--metrics", "127.0.0.1:0")
    port = metrics_port(sup)
    up(sup, cid)
    mark = sup.index()
    assert request(str(fire.root), ev.Kill(id=cid, signal="KILL")).ok
    assert sup.wait_state(cid, "running", after=mark).restarts == 1, "restarted by the policy"
    assert restarts_metric(port, cid) == 1
    up(sup, cid, mark)
    mark = sup.index()
    assert request(str(fire.root), ev.Restart(id=cid)).ok  # the TUI's `r`
    again = sup.wait_state(cid, "running", after=mark)
    assert again.restarts == 1, "a restart on request does not count, nor reset the count"
    assert restarts_metric(port, cid) == 1
    mark = sup.index()
    (tmp_path / "fire.toml").write_text(toml({cid: {**table, "stop_timeout": 7}}))
    sup.signal(signal.SIGHUP)
    changed = sup.wait_state(cid, "running", after=mark)
    assert changed.restarts == 1, "a reload that changes it keeps its count"
    assert restarts_metric(port, cid) == 1
    assert sup.terminate() == 0


def test_an_adopted_container_s_uptime_is_its_process_s(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    import re

    cid = fire.unique_id("uptime")
    config = toml({cid: {"bundle": str(bundles("uptime", SERVE))}})
    first = supervise(config)
    started = first.wait_state(cid, "running")
    assert abs(started.since - started.time) < 2
    first.proc.kill()
    first.proc.wait()
    time.sleep(3)
    second = supervise(config)
    adopted = second.wait_state(cid, "running")
    assert adopted.reason == "adopted"
    assert abs(adopted.since - started.since) < 0.05, "the process's start, not the adoption"
    second.signal(signal.SIGUSR1)
    row = re.compile(rf"{cid}\s+running\s+{started.pid}\s+(\d+)s\s")
    assert wait_until(lambda: row.search(second.stderr()) is not None), second.stderr()
    found = row.search(second.stderr())
    assert found is not None
    assert int(found.group(1)) >= 3
    assert second.terminate() == 0


def test_a_missing_bundle_is_an_error_when_the_file_is_read(
        fire: Fire, bundles: Bundles, tmp_path: Path) -> None:
    from tests.supervisor.test_supervise import run_supervise

    cid, ok = fire.unique_id("missing"), fire.unique_id("ok")
    path = tmp_path / "fire.toml"
    missing = tmp_path / "nowhere"
    path.write_text(toml({ok: {"bundle": str(bundles("ok", SERVE))},
                          cid: {"bundle": str(missing)}}))
    r = run_supervise("--config", str(path), root=fire.root)
    assert (r.returncode, r.stderr) == (1, f"fire-supervise: invalid {path}: $.containers.{cid}"
                                           f".bundle: {missing}: no such directory\n")
    assert not fire.root.exists(), "nothing started"
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_supervise(str(empty), root=fire.root)
    assert (r.returncode, r.stderr) == (1, f"fire-supervise: invalid {empty}: no config.json "
                                           "in it\n")
    assert not fire.root.exists()


def test_a_reload_with_a_missing_bundle_changes_nothing(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    cid, new = fire.unique_id("keep"), fire.unique_id("new")
    first = {cid: {"bundle": str(bundles("keep", SERVE))}}
    sup = supervise(toml(first))
    pid = sup.wait_state(cid, "running").pid
    (tmp_path / "fire.toml").write_text(toml({**first, new: {"bundle": str(tmp_path / "no")}}))
    mark = sup.index()
    sup.signal(signal.SIGHUP)
    error = sup.wait_for(lambda e: isinstance(e, ev.Log) and e.level == "error", after=mark)
    assert isinstance(error, ev.Log)
    assert f"$.containers.{new}.bundle: {tmp_path / 'no'}: no such directory" in error.text
    assert "the configuration is unchanged" in error.text
    time.sleep(0.5)
    assert not sup.of(new), "nothing of it started"
    assert fire.state(cid)["pid"] == pid
    assert sup.terminate() == 0


def test_a_bundle_marked_to_appear_later_is_waited_for(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    cid, web = fire.unique_id("later"), fire.unique_id("web")
    later = bundles.base / "later"
    sup = supervise(toml({cid: {"bundle": str(later), "wait_for_bundle": True},
                          web: {"bundle": str(bundles("web", SERVE)), "depends_on": [cid]}}))
    waiting = sup.wait_state(cid, "waiting")
    assert waiting.reason == f"for its bundle: {later}: no such directory"
    assert sup.wait_state(web, "waiting").reason == f"for {cid}"
    time.sleep(1.5)
    assert not sup.of(cid, ev.StageStarted), "no start tried, no backoff"
    bundles("later", SERVE)
    sup.wait_state(cid, "running")
    sup.wait_state(web, "running")
    assert sup.terminate() == 0


def test_fire_logs_follow_of_an_unknown_id_says_it_waits_for_it(fire: Fire) -> None:
    import select
    import subprocess

    with fire.popen("logs", "-f", "no-such-ctr", stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE) as proc:
        try:
            assert proc.stderr is not None
            ready, _, _ = select.select([proc.stderr], [], [], 10)
            assert ready, "fire logs -f waits silently"
            line = proc.stderr.readline()
        finally:
            proc.kill()
    assert line == (f"fire: warning: no container no-such-ctr in {fire.root} (and no output "
                    "recorded): waiting for it to appear\n")
