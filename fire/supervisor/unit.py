"""One supervised container: its runs, its restarts, its health, its stop.

A *run* of a container is a walk of two small stage graphs, with the container's
life in between::

    set-up:   logs ∥ bundle ∥ leftover ─→ create ─→ start
                bundle ─→ seccomp ──────↗   (the `fire create` process reports its
       bundle, leftover ─→ cgroup ──────↗    own and the init's stages: validate,
                                             claim, storage, network, spawn,
                                             namespaces, rootfs, mounts, …, created)
    running:  wait for the exit (pidfd) ∥ health checks ∥ stop requests
    teardown: delete  (`fire delete --force`: kills what is left, runs the
                       poststop hooks, removes the cgroup and the state directory)

The set-up graph is derived from ``fire.lifecycle.stages.CREATE`` (``setup_graph``):
the stages declared ``ahead`` there (seccomp, cgroup) run here, in worker threads,
concurrently (``fire.supervisor.ahead``), and ``fire create`` takes their results
over (``fire.prepared``) instead of running them; their events carry side
``supervisor``.  A later failure undoes them, newest first (the graph driver).

`fire create`, `start` and `delete` hand their runtime-side hooks (and create the
netlink work of ``network:attach``) back to the supervisor over the delegation
channel (``fire.supervisor.delegation``): a ``hook`` event per hook.  The TOML
file's network and storage keys become create's flags (``Container.create_flags``).

then the restart policy (``fire.supervisor.policy``) decides whether there is
another run, after a backoff.  Every stage's start, end, duration and error is an
event; so is every change of the unit's ``state``, which goes through the
transition table of ``fire.lifecycle.units`` (an illegal change raises and changes
nothing)::

    waiting → creating → created → running → stopping → stopped
                 ↑                                  ╰──→ restarting ─╮
                 ╰───────────────────────────────────────────────────╯
    (failed: a run failed and the policy will not restart it)

Stopping is cooperative: ``stop()`` cancels what can be cancelled (waiting for a
dependency, set-up, a backoff) and ends a running container with its stop signal,
then SIGKILL after ``stop_timeout``; the loop then tears down and ends.  A set-up
that is cancelled halfway is cleaned with ``fire delete --force``, which knows
how from the container's state.json.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Protocol

import trio

from fire import events as ev
from fire.delegate import PREPARED_FD_ENV, STAGE_FD_ENV
from fire.errors import FireError, StateCorrupt, describe
from fire.lifecycle import units as ul
from fire.lifecycle.stages import CREATE, Stage, supervisor_setup
from fire.lifecycle.units import CREATED, FAILED, STOPPED, STOPPING, WAITING
from fire.lifecycle.units import RUNNING as RUNNING_STATE
from fire.signals.table import name as signal_name
from fire.spec.state import PAUSED, RUNNING
from fire.supervisor import graph, policy
from fire.supervisor.ahead import Ahead, ahead_allowed
from fire.supervisor.console import ConsoleSocket
from fire.supervisor.delegation import Delegation
from fire.supervisor.graph import SUPERVISOR, StageFailed
from fire.supervisor.output import Output
from fire.supervisor.reaper import open_pidfd
from fire.supervisor.relay import StageRelay

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fire.spec.config import Spec
    from fire.spec.state import State
    from fire.store import Store
    from fire.supervisor.bus import Bus
    from fire.supervisor.cgstats import Reader, Sample
    from fire.supervisor.config import Config, Container
    from fire.supervisor.engine import Engine
    from fire.supervisor.journal import Journal
    from fire.supervisor.reaper import Reaper

OWN: tuple[Stage, ...] = (
    Stage("logs", side=SUPERVISOR),
    Stage("bundle", side=SUPERVISOR),  # reads config.json: validate's stand-in
    Stage("leftover", side=SUPERVISOR),  # then the id is free: claim's stand-in
)
STAND_INS = {"validate": ("bundle",), "claim": ("bundle", "leftover")}


def setup_graph(cgroup_manager: str = "cgroupfs") -> tuple[Stage, ...]:
    """The set-up graph of a container: derived from ``CREATE`` (its ``ahead``
    stages, which this container's settings allow: ``ahead_allowed``)."""
    return supervisor_setup(CREATE, OWN, STAND_INS, "create", "start",
                            ahead_allowed(cgroup_manager))


SETUP = setup_graph()  # with the cgroupfs driver (the default)
TEARDOWN: tuple[Stage, ...] = (Stage("delete", side=SUPERVISOR),)

HEALTH_OUTPUT = 4096  # characters of a check's output kept (its end) in the health event
BUNDLE_POLL = 1.0  # seconds between looks for a bundle that is to appear (wait_for_bundle)

class UnitHost(Protocol):
    """What a unit uses of its supervisor (``fire.supervisor.supervisor.Supervisor``):
    the shared services, and the few questions about the other units."""

    @property
    def root(self) -> str: ...
    @property
    def config(self) -> Config: ...
    @property
    def store(self) -> Store: ...
    @property
    def bus(self) -> Bus: ...
    @property
    def journal(self) -> Journal: ...
    @property
    def reaper(self) -> Reaper: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def cgroups(self) -> Reader: ...
    @property
    def starts(self) -> trio.CapacityLimiter: ...
    @property
    def exec_available(self) -> bool: ...
    @property
    def units(self) -> dict[str, Unit]: ...
    def changed(self) -> None: ...
    async def wait_until(self, condition: Callable[[], bool]) -> None: ...
    def is_running(self, cid: str) -> bool: ...
    def follow(self, output: Output) -> None: ...
    def pump(self, output: Output, fd: int) -> None: ...


class Unit:
    def __init__(self, sup: UnitHost, cid: str, conf: Container) -> None:
        self.sup = sup
        self.id = cid
        self.conf = conf
        self.lifecycle = ul.Lifecycle(cid)
        self.reason = ""
        self.pid = 0
        self.pidfd = -1
        self.cgroup: str | None = None
        self.terminal = False  # process.terminal: its output comes through a pty
        self.since = 0.0  # when its process started (epoch s; an adopted one's too)
        self.run = 0
        self.restarts = 0  # the id's restarts while the supervisor lives (never goes back)
        self.policy_restarts = 0  # this unit's, for max_restarts (a new unit starts over)
        self.streak = 0
        self.health = ""
        self.health_failures = 0  # consecutive failed checks (the last health event's)
        self.health_output = ""  # the last check's output (its last HEALTH_OUTPUT characters)
        self.sample: Sample | None = None
        self.oom_kills = 0
        self.output: Output | None = None
        self.stop_requested = False
        self.unhealthy = False
        self.done = trio.Event()
        self._end = trio.Event()  # end the current run now (stop, or unhealthy)
        self._cancellable: trio.CancelScope | None = None
        self.spec: Spec | None = None  # config.json, as the bundle stage read it
        self.ahead: Ahead | None = None  # this run's stages run ahead of create

    # ------------------------------------------------------------------ events
    def publish(self, event: ev.AnyEvent) -> None:
        self.sup.bus.publish(event)

    @property
    def state(self) -> str:
        """The supervised state (``fire.lifecycle.units``): changed only by ``send``."""
        return self.lifecycle.state

    def send(self, event: str, reason: str = "") -> None:
        """Report ``event`` to the lifecycle table and publish the state it leads to.
        An event the table does not allow here raises ``LifecycleError`` (a bug: the
        loop turns it into ``failed``) and changes nothing."""
        self.lifecycle.send(event)
        self.reason = reason
        self.publish(self.state_event())
        self.sup.changed()

    def state_event(self) -> ev.State:
        return ev.State(self.id, state=self.state, pid=self.shown_pid(), restarts=self.restarts,
                        reason=self.reason,
                        since=self.since if self.state in (RUNNING_STATE, STOPPING) else 0.0)

    def shown_pid(self) -> int:
        """The pid a ``state`` event carries: the container's, while it has one."""
        return self.pid if self.state in (CREATED, RUNNING_STATE, STOPPING) else 0

    def say(self, text: str, level: str = "info") -> None:
        self.publish(ev.Log(id=self.id, level=level, text=text))

    # graph.Reporter
    def started(self, stage: Stage) -> None:
        self.publish(ev.StageStarted(id=self.id, stage=stage.name, side=stage.side, run=self.run))

    def finished(self, stage: Stage, duration: float) -> None:
        self.publish(ev.StageFinished(id=self.id, stage=stage.name, side=stage.side,
                                      duration=duration, run=self.run))

    def failed(self, stage: Stage, duration: float, error: str) -> None:
        self.publish(ev.StageFailed(id=self.id, stage=stage.name, side=stage.side,
                                    duration=duration, error=error, run=self.run))

    def undo_failed(self, stage: Stage, error: str) -> None:
        self.say(f"undoing {stage.name}: {error}", "warning")

    # ------------------------------------------------------------------ control
    async def stop(self) -> None:
        """End the container for good (no restart) and wait until it is torn down."""
        self.stop_requested = True
        self._end.set()
        if self._cancellable is not None:
            self._cancellable.cancel()
        await self.done.wait()

    def kill(self, signum: int) -> bool:
        """Send ``signum`` to the container's process; False if it is not running."""
        if self.pidfd < 0:
            return False
        try:
            signal.pidfd_send_signal(self.pidfd, signum)
        except OSError:  # ESRCH: it has just exited
            return False
        return True

    def asked_to_stop(self) -> bool:
        """``stop_requested``, read afresh (a call: mypy must not narrow it across the
        awaits during which ``stop()`` may set it)."""
        return self.stop_requested

    @property
    def uptime(self) -> float:
        return time.time() - self.since if self.state in (RUNNING_STATE, STOPPING) else 0.0

    # ------------------------------------------------------------------ the loop
    async def loop(self) -> None:
        """Runs, restarts, until stopped or the policy gives up.

        An unexpected error (a bug) ends this unit — state ``failed``, the traceback
        in the supervisor's log — and nothing else: every other container stays
        supervised.
        """
        try:
            await self._loop()
        except Exception as exc:  # a bug: contained to this unit (see the docstring)
            import traceback

            self.sup.journal.write(self.id, "internal error:\n" + "".join(
                traceback.format_exception(exc)).rstrip())
            self.stop_requested = True
            self._forget_process()
            self.send(ul.BROKEN, f"internal error: {describe(exc)}")
        finally:
            if self.output is not None:
                self.output.close()
                self.output = None
            self.done.set()

    async def _loop(self) -> None:
        """The runs of the container, and the decisions between them."""
        if not await self._wait_dependencies():
            return
        existing = self._existing()
        if existing is not None and existing.bundle != self.conf.bundle:
            # Not ours: left alone, and not retried (the id stays taken).
            self.say(f"{self.sup.root}/{self.id} belongs to another bundle ({existing.bundle}); "
                     "it is left alone", "error")
            self.send(ul.GIVE_UP, f"the id is taken by another bundle ({existing.bundle})")
            return
        if existing is None and not await self._wait_bundle():
            return
        while not self.asked_to_stop():
            if existing is not None:
                outcome = await self._adopt(existing)
                existing = None
            else:
                outcome = await self._run_once()
            if self.asked_to_stop():
                break
            if not policy.should_restart(self.conf.restart, outcome, self.policy_restarts,
                                         self.conf.max_restarts):
                if outcome.failed:
                    self.send(ul.GIVE_UP, _describe(outcome))
                else:
                    self.send(ul.END, _describe(outcome))
                return
            self.streak = policy.next_streak(self.streak, outcome)
            delay = policy.backoff(self.streak)
            self.streak += 1
            self.restarts += 1
            self.policy_restarts += 1
            self.send(ul.RESTART, f"{_describe(outcome)}; again in {delay:g} s")
            with self._cancel_on_stop():
                await trio.sleep(delay)
        self.send(ul.END, "stopped on request")

    def _cancel_on_stop(self) -> trio.CancelScope:
        scope = trio.CancelScope()
        if self.stop_requested:
            scope.cancel()
        self._cancellable = scope
        return scope

    async def _wait_dependencies(self) -> bool:
        needs = self.conf.depends_on
        if not needs:
            return True

        def ready() -> bool:
            return all(self.sup.is_running(d) for d in needs)

        with self._cancel_on_stop() as scope:
            while not ready():
                self.send(ul.WAIT, self._waiting_for(needs))
                await self.sup.wait_until(
                    lambda: ready() or self._waiting_for(needs) != self.reason)
        if scope.cancelled_caught:
            self.send(ul.END, "stopped on request")
            return False
        return True

    async def _wait_bundle(self) -> bool:
        """``wait_for_bundle``: wait (state ``waiting``) until the bundle is there;
        False when stopped meanwhile."""
        from fire.i18n import render
        from fire.supervisor.config import bundle_problem

        if not self.conf.wait_for_bundle:
            return True
        with self._cancel_on_stop() as scope:
            while (problem := bundle_problem(self.conf.bundle)) is not None:
                reason = f"for its bundle: {self.conf.bundle}: {render(problem, {})}"
                if (self.state, self.reason) != (WAITING, reason):
                    self.send(ul.WAIT, reason)
                await trio.sleep(BUNDLE_POLL)
        if scope.cancelled_caught:
            self.send(ul.END, "stopped on request")
            return False
        return True

    def _waiting_for(self, needs: list[str]) -> str:
        """Why it waits: the dependencies not running, with the state of those that
        will not run on their own (failed, stopped: until started or reloaded)."""
        parts = []
        for dep in needs:
            unit = self.sup.units.get(dep)
            if unit is not None and unit.state in (FAILED, STOPPED):  # its last state
                parts.append(f"{dep} ({unit.state}: {unit.reason})" if unit.reason
                             else f"{dep} ({unit.state})")
            elif not self.sup.is_running(dep):
                parts.append(dep)
        return "for " + ", ".join(parts)

    def _existing(self) -> State | None:
        """The state of a container of this id already in --root (a previous
        supervisor's), or None."""
        try:
            cdir = self.sup.store.open(self.id)
        except FireError:
            return None
        try:
            return cdir.read_state()
        except StateCorrupt:
            return None
        finally:
            cdir.close()

    # ------------------------------------------------------------------ one run
    async def _run_once(self) -> policy.Outcome:
        self.run += 1
        self.unhealthy = False
        self._end = trio.Event()
        self.send(ul.SET_UP)
        ahead = self.ahead = Ahead(self.id, self.sup.root,
                                   lambda text: self.say(text, "warning"))
        actions = {"logs": self._logs, "bundle": self._bundle, "leftover": self._leftover,
                   "seccomp": self._seccomp, "cgroup": self._cgroup,
                   "create": self._create, "start": self._start}
        undo = {"create": self._delete_quietly, "cgroup": ahead.remove_cgroup}
        try:
            with self._cancel_on_stop() as scope:
                async with self.sup.starts:
                    await graph.run(setup_graph(self.conf.cgroup_manager or "cgroupfs"), actions, self, undo)
        except StageFailed as exc:
            self._forget_process()
            return policy.Outcome(failed_stage=exc.stage)
        finally:
            self._cancellable = None
            self.spec = self.ahead = None  # the set-up's: not kept while it runs
        if scope.cancelled_caught:
            self._forget_process()
            return policy.Outcome(stopped=True)
        return await self._running()

    async def _adopt(self, state: State) -> policy.Outcome:
        """Watch a container a previous supervisor started, instead of a duplicate."""
        from fire.container.status import current

        status = current(state)
        fd = open_pidfd(state.pid, state.pidStart) if status in (RUNNING, PAUSED) else None
        if fd is None:  # created, stopped, creating: the set-up's `leftover` stage deletes it
            return await self._run_once()
        self.run += 1
        self._end = trio.Event()
        self._take(state, fd)
        try:
            await self._logs()  # what it writes from now on; the file has what it wrote before
        except OSError as exc:  # watched all the same: the output is not what keeps it alive
            self.say(f"cannot follow its output: {describe(exc)}", "warning")
        # A terminal's master died with the supervisor that held it (docs/supervisor.md).
        terminal = " and its terminal's output is not collected" if self._has_terminal() else ""
        self.say(f"adopted the running container (pid {self.pid}); its exit code will be "
                 f"unknown{terminal}")
        return await self._running(adopted=True)

    def _take(self, state: State, pidfd: int) -> None:
        self.pid, self.pidfd = state.pid, pidfd
        path = (state.cgroup or {}).get("path")
        self.cgroup = path if isinstance(path, str) else None
        self.sup.reaper.watched.add(self.pid)

    def _forget_process(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
        self.sup.reaper.watched.discard(self.pid)
        self.pidfd = -1
        self.pid = 0
        self.sample = None  # a reading of a process that is gone: not shown any more

    async def _running(self, adopted: bool = False) -> policy.Outcome:
        from fire.procfs import started_at

        if self.stop_requested:  # asked between the set-up and now
            self._end.set()
        # The process's own start: an adopted one has run since before us.
        self.since = started_at(self.pid) or time.time()
        began = trio.current_time()
        if adopted:
            self.send(ul.ADOPT, "adopted")
        else:
            self.send(ul.STARTED)
        async with trio.open_nursery() as nursery:
            if self.conf.healthcheck is not None and self.sup.exec_available:
                nursery.start_soon(self._health)
            nursery.start_soon(self._stop_when_asked)
            status = await self.sup.reaper.wait(self.pidfd, self.pid)
            nursery.cancel_scope.cancel()
        if self.output is not None:
            self.output.end_of_run()  # its last line, even without a newline
        uptime = trio.current_time() - began
        self.publish(ev.Exit(id=self.id, code=status.code, run=self.run,
                             signal=signal_name(status.signal) if status.signal else None))
        self._check_oom()
        self._forget_process()
        try:
            await graph.run(TEARDOWN, {"delete": self._delete}, self)
        except StageFailed:
            pass  # reported as an event; the next run's `leftover` stage tries again
        return policy.Outcome(code=status.code, signal=status.signal, unhealthy=self.unhealthy,
                              stopped=self.stop_requested, uptime=uptime)

    async def _stop_when_asked(self) -> None:
        await self._end.wait()
        self.send(ul.STOP, "unhealthy" if self.unhealthy and not self.stop_requested
                       else "")
        self.kill(self.conf.stop_signum)
        await trio.sleep(self.conf.stop_timeout)
        self.say(f"still running {self.conf.stop_timeout:g} s after {self.conf.stop_signal}: "
                 "SIGKILL", "warning")
        self.kill(signal.SIGKILL)

    def _check_oom(self) -> None:
        if self.cgroup is None:
            return
        kills = self.sup.cgroups.sample(self.cgroup).oom_kills
        if kills and kills > self.oom_kills:
            self.publish(ev.Oom(id=self.id, count=kills - self.oom_kills))
        self.oom_kills = 0
        self.sup.cgroups.forget(self.cgroup)

    # ------------------------------------------------------------------ stages
    async def _logs(self) -> None:
        """Open the log file and follow it from its current end (kept across runs)."""
        if self.output is None:
            self.output = Output(self.sup.root, self.id, self.publish, self.conf.log_max_bytes,
                                 self.conf.log_files, self.sup.config.settings.output_events)
            self.sup.follow(self.output)

    async def _bundle(self) -> None:
        from fire.spec.load import read_config

        self.spec = read_config(os.path.join(self.conf.bundle, "config.json"))
        self.terminal = self.spec.process is not None and bool(self.spec.process.terminal)

    async def _seccomp(self) -> None:
        assert self.ahead is not None
        assert self.spec is not None
        await self.ahead.seccomp(self.spec, self.conf.bundle)

    async def _cgroup(self) -> None:
        assert self.ahead is not None
        assert self.spec is not None
        await self.ahead.make_cgroup(self.spec)

    def _has_terminal(self) -> bool:
        """Whether the bundle asks for a terminal (for what adoption can collect)."""
        try:
            return self._read_terminal()
        except (FireError, OSError):
            return False

    def _read_terminal(self) -> bool:
        from fire.spec.load import read_config

        spec = read_config(os.path.join(self.conf.bundle, "config.json"))
        return spec.process is not None and bool(spec.process.terminal)

    def has_state_dir(self) -> bool:
        """``<root>/<id>`` exists (a local directory: no need for a thread)."""
        return os.path.lexists(os.path.join(self.sup.root, self.id))

    async def _leftover(self) -> None:
        if self.has_state_dir():
            self.say("deleting the stopped container left in --root by an earlier run")
            await self._delete_quietly()

    async def _create(self) -> None:
        async with AsyncExitStack() as stack:
            console = await stack.enter_async_context(ConsoleSocket()) if self.terminal else None
            await self._create_with(console)
        self.send(ul.MADE)

    async def _create_with(self, console: ConsoleSocket | None) -> None:
        assert self.output is not None
        # The log file itself (O_APPEND) is create's stdout and stderr, and so the
        # container's: it keeps writing there whatever becomes of this supervisor.
        out_w = self.output.writer()
        stage_r, stage_w = os.pipe2(os.O_CLOEXEC)
        relay = StageRelay(self.id, self.run, self.publish)
        delegation = self.delegation()
        env = {STAGE_FD_ENV: str(stage_w)}
        fds: tuple[int, ...] = (stage_w,)
        prepared = self.ahead.handover() if self.ahead is not None else -1
        if prepared >= 0:  # what create takes over (fire.prepared)
            env[PREPARED_FD_ENV] = str(prepared)
            fds = (stage_w, prepared)
        # Network and storage settings of the TOML file become create's flags.
        args = [*self.conf.global_flags(), "create", "--bundle", self.conf.bundle,
                *self.conf.create_flags(), self.id]
        if console is not None:
            args[-1:-1] = ["--console-socket", console.path]
        try:
            with self.sup.reaper.hold():  # the container's process is ours once create exits
                try:
                    proc = await self.sup.engine.open(
                        args, stdout=out_w, stderr=out_w, pass_fds=fds, env=env,
                        delegation=delegation)
                finally:
                    os.close(out_w)
                    os.close(stage_w)
                    if prepared >= 0:
                        os.close(prepared)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(relay.read, stage_r)
                    stage_r = -1
                    accepting = trio.CancelScope()
                    if console is not None:
                        nursery.start_soon(_within, accepting, console.receive)
                    result = await self.sup.engine.wait(proc, delegation)
                    accepting.cancel()  # create is gone: it sent the terminal, or never will
                if console is not None and console.master >= 0:
                    self.sup.pump(self.output, console.master)
                if result.code != 0:
                    raise StageFailed("create", relay.error or result.error)
                state = self._existing()
                fd = open_pidfd(state.pid, state.pidStart) if state is not None else None
                if state is None or fd is None:
                    raise StageFailed("create", "the container's process is gone")
                self._take(state, fd)
        except BaseException:
            with trio.CancelScope(shield=True):
                await self._delete_quietly()
            raise
        finally:
            delegation.close()
            if stage_r >= 0:
                os.close(stage_r)

    async def _start(self) -> None:
        # From here on the container's program runs: a stop asked now must not
        # cancel the set-up (that would end in `delete --force`, a SIGKILL) but be
        # the graceful stop of a running container (stop_signal, then the timeout).
        # A stop asked before this point has cancelled the set-up's scope: the
        # checkpoint raises, and nothing was started.
        await trio.lowlevel.checkpoint()
        self._cancellable = None
        result = await self.sup.engine.run("start", self.id, delegation=self.delegation())
        if result.code != 0:
            raise StageFailed("start", result.error)

    def delegation(self) -> Delegation:
        """What a ``fire create|start|delete`` of this container hands back to us:
        its runtime-side hooks (run with the trio runner, a ``hook`` event each) and
        the netlink work of ``network:attach`` (fire.supervisor.delegation)."""
        return Delegation(self.id, self.publish, self.sup.reaper)

    async def _delete(self) -> None:
        result = await self.sup.engine.run("delete", "--force", self.id,
                                           delegation=self.delegation())
        if result.code != 0:
            raise StageFailed("delete", result.error)

    async def _delete_quietly(self) -> None:
        """``fire delete --force`` (after a failed or interrupted set-up)."""
        if self.has_state_dir():
            result = await self.sup.engine.run("delete", "--force", self.id,
                                               delegation=self.delegation())
            if result.code != 0:
                self.say(f"cleaning up: {result.error}", "warning")

    # ------------------------------------------------------------------ health
    async def _health(self) -> None:
        hc = self.conf.healthcheck
        assert hc is not None
        failures = 0
        began = trio.current_time()
        self.health, self.health_failures, self.health_output = policy.STARTING, 0, ""
        self.publish(ev.Health(id=self.id, status=self.health))
        while True:
            await trio.sleep(hc.interval)
            try:
                result = await self.sup.engine.run("exec", self.id, *hc.command,
                                                   limit=hc.timeout, merged=True)
                ok, detail, output = result.code == 0, result.error, result.stderr
            except OSError as exc:  # could not even start `fire exec`: a failed check
                ok, detail, output = False, describe(exc), ""
            grace = trio.current_time() - began < hc.start_period
            self.health, failures = policy.health_step(failures, ok, hc.retries, grace)
            # What the check printed (its end: the verdict is usually last), else why it failed.
            output = output[-HEALTH_OUTPUT:] if output.strip() else ("" if ok else detail)
            self.health_failures, self.health_output = failures, output
            self.publish(ev.Health(self.id, status=self.health, failures=failures,
                                   output=output))
            self.sup.changed()
            if self.health == policy.UNHEALTHY:
                self.unhealthy = True
                self._end.set()
                return


async def _within(scope: trio.CancelScope, fn: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await fn()


def _describe(outcome: policy.Outcome) -> str:
    if outcome.stopped:
        return "stopped on request"
    if outcome.failed_stage is not None:
        return f"stage {outcome.failed_stage} failed"
    if outcome.unhealthy:
        return "unhealthy"
    if outcome.signal is not None:
        return f"killed by {signal_name(outcome.signal)}"
    if outcome.code is None:
        return "exited (status unknown)"
    return f"exited with code {outcome.code}"
