"""The supervisor: the units of one TOML file, and what they share.

One trio nursery holds everything: a task per container (``Unit.loop``), the
socket server, the signal channel, the stats sampler, the metrics server, and
each container's output follower (and a terminal's pump).  The supervisor itself
only decides *which* units run: at start (every container of the file; those that
depend on others wait for them to run), on a reload (``SIGHUP``: added ones start,
removed ones stop, changed ones are replaced, the others are not touched) and at
the end (``SIGTERM``: every unit stops).  Stops follow the reverse dependency
edges: a unit stops as soon as those that depend on it are gone, independent ones
at once (``stop_units``).

One supervisor per ``--root`` (an flock on ``@supervisor.lock``): two would both
try to own the same containers.
"""

from __future__ import annotations

import fcntl
import gc
import importlib.util
import os
import signal
from typing import TYPE_CHECKING

import trio

from fire import events as ev
from fire.errors import FireError, UsageError
from fire.lifecycle.units import CREATED, CREATING, RESTARTING, STOPPING
from fire.lifecycle.units import RUNNING as RUNNING_STATE
from fire.signals.table import name as signal_name
from fire.signals.table import parse as parse_signal
from fire.store import Store
from fire.supervisor import cgstats
from fire.supervisor import config as cfg
from fire.supervisor.bus import Bus
from fire.supervisor.engine import Engine
from fire.supervisor.files import LOCK, LOGS, SOCKET
from fire.supervisor.journal import Journal, table_lines
from fire.supervisor.output import Followers
from fire.supervisor.reaper import Reaper, become_subreaper
from fire.supervisor.server import Server
from fire.supervisor.signals import SignalChannel
from fire.supervisor.unit import Unit

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fire.supervisor.config import Config, Container
    from fire.supervisor.output import Output

FLUSH_GRACE = 2.0  # seconds subscribers get to receive the last events at exit
SETTLING = frozenset({CREATING, CREATED, STOPPING, RESTARTING})  # no gc.freeze meanwhile
STATUS_HEADER = ["ID", "STATE", "PID", "UPTIME", "RESTARTS", "HEALTH", "CPU", "MEM", "PIDS"]
REPORT_SLICE = 100  # rows of the SIGUSR1 table made or written between two checkpoints
SAMPLE_GROUP = 25  # containers whose cgroups are read in one go (see _sample_stats)
ORPHAN_TICK = 5.0  # reap orphans this often even without SIGCHLD (it coalesces)


class Supervisor:
    def __init__(self, root: str, config: Config, bundles: list[str] | None = None,
                 metrics: tuple[str, int] | None = None, journal: Journal | None = None,
                 pid_file: str | None = None) -> None:
        self.root = os.path.abspath(root)
        self.store = Store(self.root)
        self.config = config
        self.bundles = bundles or []  # bare BUNDLE arguments: kept across reloads
        self.metrics = metrics
        self.metrics_port = 0
        self.pid_file = os.path.abspath(pid_file) if pid_file else None
        self._pid_written = False
        self.journal = journal or Journal()
        self.bus = Bus()
        self.bus.listeners.append(self.journal)
        self.reaper = Reaper()
        self.engine = Engine(self.root, self.reaper)
        self.cgroups = cgstats.Reader()
        self.units: dict[str, Unit] = {}
        self._past_restarts: dict[str, int] = {}  # of ids a reload removed (counters go on)
        self._replacing: set[str] = set()  # changed by a reload, the old unit still stopping
        self._frozen: frozenset[int] = frozenset()  # the units at the last gc.freeze
        self.starts = trio.CapacityLimiter(config.settings.parallel_starts)
        self.exec_available = importlib.util.find_spec("fire.cli.exec") is not None
        self.server = Server(self)
        self.signals = SignalChannel(self)
        self.shutting_down = False
        self.finished = trio.Event()
        self._changed = trio.Event()
        self._reloading = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self._lock_fd = -1
        self.followers = Followers(os.path.join(self.root, LOGS))  # every container's log
        self.pumping = 0  # terminal pumps still reading (see pump())
        self.pumps_idle = trio.Event()
        self.pumps_idle.set()

    # ------------------------------------------------------------------ running
    @property
    def nursery(self) -> trio.Nursery:
        assert self._nursery is not None, "the supervisor is not running"
        return self._nursery

    def start_soon(self, fn: Callable[[], Awaitable[object]]) -> None:
        self.nursery.start_soon(fn)

    async def run(self) -> None:
        listeners: list[trio.SocketListener] = []
        if self.metrics is not None:  # a bad address: one line, and nothing made yet
            from fire.supervisor import metrics

            listeners = await metrics.listen(*self.metrics)
        try:
            self._lock_root()
        except BaseException:
            for listener in listeners:
                await listener.aclose()
            raise
        try:
            become_subreaper()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.signals.run)
                await nursery.start(self.server.serve)
                if self.metrics is not None:
                    from fire.supervisor.metrics import bound_port, serve

                    self.metrics_port = bound_port(listeners)
                    nursery.start_soon(serve, self, listeners)
                    self.journal.write("", f"metrics on http://{self.metrics[0]}:"
                                       f"{self.metrics_port}/metrics")
                nursery.start_soon(self._sample_stats)
                nursery.start_soon(self.followers.run)
                nursery.start_soon(self._reap_periodically)
                self._check_exec()
                self.journal.write("", f"supervising {len(self.config.containers)} "
                                   f"container(s) in {self.root} (pid {os.getpid()})")
                for cid, conf in self.config.containers.items():
                    self._spawn(cid, conf)
                await self.finished.wait()
                # Every container is gone: read what they wrote last, then let the
                # subscribers have the last events.
                with trio.move_on_after(FLUSH_GRACE):
                    await self.pumps_idle.wait()
                self.followers.finish()
                self.bus.close()
                with trio.move_on_after(FLUSH_GRACE):
                    await self.server.idle.wait()
                nursery.cancel_scope.cancel()
        finally:
            self._unlock_root()

    def _lock_root(self) -> None:
        self.store.ensure_root()
        fd = os.open(os.path.join(self.root, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FireError("another fire-supervise is running with --root {root}",
                            root=self.root) from None
        self._lock_fd = fd
        if self.pid_file is not None:
            try:
                self._write_pid_file(self.pid_file)
            except FireError:
                self._unlock_root()
                raise
            self._pid_written = True

    @staticmethod
    def _write_pid_file(path: str) -> None:
        """``--pid-file``: the pid and a newline, written whole (renamed into place)."""
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, f"{os.getpid()}\n".encode())
            finally:
                os.close(fd)
            os.rename(tmp, path)
        except OSError as exc:
            raise FireError("--pid-file {path}: {reason}", path=path,
                            reason=os.strerror(exc.errno or 0)) from None

    def _unlock_root(self) -> None:
        if self._lock_fd < 0:
            return
        paths = [os.path.join(self.root, name) for name in (SOCKET, LOCK)]
        if self.pid_file is not None and self._pid_written:
            paths.insert(0, self.pid_file)
        for path in paths:  # removed while the lock is still held
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        os.close(self._lock_fd)
        self._lock_fd = -1

    def _check_exec(self) -> None:
        if not self.exec_available and any(c.healthcheck for c in self.config.containers.values()):
            self.bus.publish(ev.Log(id="", level="warning", text="health checks need `fire exec`, "
                                    "which this installation lacks: they are not run"))

    def follow(self, output: Output) -> None:
        """Follow a container's log file into ``log`` events, in the background:
        until the unit closes its output (then one last read), not the supervisor."""
        self.followers.add(output)

    def pump(self, output: Output, fd: int) -> None:
        """Append a terminal's output (its master, ``fd``) to the container's log, in
        the background: the reading outlives the run (a restart does not wait for
        it), not the supervisor."""
        if not self.pumping:
            self.pumps_idle = trio.Event()
        self.pumping += 1
        self.nursery.start_soon(self._pump, output, fd)

    async def _pump(self, output: Output, fd: int) -> None:
        try:
            await output.pump(fd)
        finally:
            self.pumping -= 1
            if not self.pumping:
                self.pumps_idle.set()

    def _spawn(self, cid: str, conf: Container) -> Unit:
        # A new unit for an id goes on counting where the last one was: a counter
        # never goes back while the supervisor lives (restart on request, reload).
        old = self.units.get(cid)
        unit = Unit(self, cid, conf)
        unit.restarts = old.restarts if old is not None else self._past_restarts.pop(cid, 0)
        self.units[cid] = unit
        self.nursery.start_soon(unit.loop)
        return unit

    # ------------------------------------------------------------------ unit helpers
    def changed(self) -> None:
        """Wake every task waiting in ``wait_until`` (a unit's state changed)."""
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()

    def is_running(self, cid: str) -> bool:
        unit = self.units.get(cid)
        return (unit is not None and unit.state == RUNNING_STATE and not unit.stop_requested
                and cid not in self._replacing)

    def forwarded(self) -> set[int]:
        return {s for c in self.config.containers.values() for s in c.forward_signums}

    def reap_orphans(self) -> None:
        for pid, status in self.reaper.reap_orphans():
            self.bus.publish(ev.Log(id="", level="debug",
                                    text=f"reaped orphan {pid} (exit code {status.code})"))

    async def _reap_periodically(self) -> None:
        while True:
            await trio.sleep(ORPHAN_TICK)
            self.reap_orphans()
            self.settle_memory()

    def settle_memory(self) -> None:
        """Once the units have settled after a change (started, reloaded: none is
        being set up or stopped), move what they hold out of the garbage
        collector's sight (``gc.freeze``).  With 1,000 containers, a full
        collection walks some 200,000 long-lived objects — a 100 ms pause of every
        event, at unforeseeable times (the event history's turnover triggers
        one every few minutes); frozen, they are not walked, and a full collection
        looks at the young rest only.  Done once per change: what the last freeze
        held is given back first and collected then (the cycles of the units a
        reload removed), one pause at a time the user chose."""
        units = frozenset(id(u) for u in self.units.values())
        if units == self._frozen or any(u.state in SETTLING for u in self.units.values()):
            return
        self._frozen = units
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    async def _sample_stats(self) -> None:
        """Every container once per ``stats_interval``, in groups of ``SAMPLE_GROUP``
        spread over the interval: 1,000 cgroups read at once would hold the loop
        for tens of milliseconds (every signal, request and event would wait)."""
        while True:
            units = [u for u in self.units.values() if u.cgroup is not None and u.pidfd >= 0]
            groups = max(1, -(-len(units) // SAMPLE_GROUP))
            pause = self.config.settings.stats_interval / groups
            for i in range(groups):
                await trio.sleep(pause)
                self._sample(units[i * SAMPLE_GROUP:(i + 1) * SAMPLE_GROUP])

    def _sample(self, units: list[Unit]) -> None:
        for unit in units:
            if unit.cgroup is None or unit.pidfd < 0:  # gone since the list was made
                continue
            sample = self.cgroups.sample(unit.cgroup, quick=True)
            unit.sample = sample
            self.bus.publish(ev.Stats(id=unit.id, cpu=sample.cpu, memory=sample.memory,
                                      pids=sample.pids))
            if sample.oom_kills and sample.oom_kills > unit.oom_kills:
                self.bus.publish(ev.Oom(id=unit.id, count=sample.oom_kills - unit.oom_kills))
                unit.oom_kills = sample.oom_kills

    # ------------------------------------------------------------------ snapshot
    def snapshot(self, replayed: list[ev.AnyEvent]) -> list[ev.AnyEvent]:
        """The present, as events, where ``replayed`` does not already say it: what a
        new subscriber gets after the replay (which may have lost old events)."""
        last: dict[tuple[str, type], ev.AnyEvent] = {}
        for event in replayed:
            last[event.id, type(event)] = event
        out: list[ev.AnyEvent] = []
        for cid, unit in self.units.items():
            state = last.get((cid, ev.State))
            now = unit.state_event()
            if not (isinstance(state, ev.State) and (state.state, state.pid, state.restarts,
                                                     state.reason) == (
                    now.state, now.pid, now.restarts, now.reason)):
                out.append(now)
            health = last.get((cid, ev.Health))
            if unit.health and not (isinstance(health, ev.Health) and (
                    health.status, health.failures) == (unit.health, unit.health_failures)):
                out.append(ev.Health(cid, status=unit.health, failures=unit.health_failures,
                                     output=unit.health_output))
            if unit.sample is not None and unit.pidfd >= 0 and (cid, ev.Stats) not in last:
                s = unit.sample
                out.append(ev.Stats(cid, cpu=s.cpu, memory=s.memory, pids=s.pids))
        return out

    def status_report(self) -> None:
        """A table of the containers in the log, in one go."""
        rows = [self._status_row(unit) for unit in self.units.values()]
        self.journal.write("", f"status: {len(rows)} container(s), {self.bus.published} events")
        self.journal.table(STATUS_HEADER, rows)

    async def report_status(self) -> None:
        """SIGUSR1: the status table, in slices of ``REPORT_SLICE`` rows.  With 1,000
        containers the table takes milliseconds to make and write; in one go it
        would hold every event, the ``signal`` event of this very SIGUSR1 too."""
        await trio.lowlevel.checkpoint()  # the signal event goes out first
        rows = []
        for unit in list(self.units.values()):
            rows.append(self._status_row(unit))
            if len(rows) % REPORT_SLICE == 0:
                await trio.lowlevel.checkpoint()
        lines = table_lines(STATUS_HEADER, rows)
        self.journal.write("", f"status: {len(rows)} container(s), {self.bus.published} events")
        for i in range(0, len(lines), REPORT_SLICE):
            await trio.lowlevel.checkpoint()
            self.journal.write_lines("", lines[i:i + REPORT_SLICE])

    @staticmethod
    def _status_row(unit: Unit) -> list[str]:
        s = unit.sample if unit.pidfd >= 0 else None  # a stopped one's are gone
        return [unit.id, unit.state, str(unit.pid or "-"), _duration(unit.uptime),
                str(unit.restarts), unit.health or "-",
                "-" if s is None or s.cpu is None else f"{s.cpu:.2f}s",
                "-" if s is None or s.memory is None else f"{s.memory // 1024}K",
                "-" if s is None or s.pids is None else str(s.pids)]

    # ------------------------------------------------------------------ control
    async def control(self, request: ev.AnyRequest) -> ev.Reply:
        assert not isinstance(request, ev.Subscribe)
        if isinstance(request, ev.Reload):
            return await self.request_reload()
        unit = self.units.get(request.id)
        if unit is None:
            return ev.Reply(ok=False, error=f"no container {request.id!r} is supervised here")
        if isinstance(request, ev.Kill):
            try:
                signum = parse_signal(request.signal)
            except UsageError as exc:
                return ev.Reply(ok=False, error=str(exc))
            if not unit.kill(signum):
                return ev.Reply(ok=False, error="container not running")
            self.bus.publish(ev.Signal(unit.id, signal=signal_name(signum), target="container"))
            return ev.Reply(ok=True)
        if isinstance(request, ev.Stop):
            self.start_soon(unit.stop)
            return ev.Reply(ok=True)
        if self.shutting_down:
            return ev.Reply(ok=False, error="the supervisor is stopping")
        if isinstance(request, ev.Start):
            if not unit.done.is_set():
                return ev.Reply(ok=False, error=f"{unit.id} is already {unit.state}")
            self._spawn(unit.id, unit.conf)
            return ev.Reply(ok=True)
        cid = unit.id

        async def restart() -> None:
            await unit.stop()
            if not self.shutting_down and self.units.get(cid) is unit:
                self._spawn(cid, unit.conf)

        self.start_soon(restart)
        return ev.Reply(ok=True)

    # ------------------------------------------------------------------ stop, reload
    async def stop_units(self, ids: list[str], deps: dict[str, list[str]],
                         then: Callable[[str], None] | None = None) -> None:
        """Stop ``ids`` along the reverse dependency edges: each one as soon as the
        ones among ``ids`` that depend on it are gone, independent ones at once (the
        time it takes is the longest chain, not a sum of levels).  ``then(id)`` runs
        as soon as that one is stopped."""
        wanted = [cid for cid in ids if cid in self.units]
        gone = {cid: trio.Event() for cid in wanted}

        async def stop_one(cid: str) -> None:
            for other in wanted:
                if cid in deps.get(other, ()):
                    await gone[other].wait()
            unit = self.units.get(cid)
            if unit is not None:
                await unit.stop()
            gone[cid].set()
            if then is not None:
                then(cid)

        async with trio.open_nursery() as nursery:
            for cid in wanted:
                nursery.start_soon(stop_one, cid)

    async def shutdown(self) -> None:
        if self.shutting_down:
            # A second TERM/INT: the person is not waiting for stop timeouts.
            for unit in self.units.values():
                if unit.state == STOPPING:
                    unit.kill(signal.SIGKILL)
            return
        self.shutting_down = True
        self.journal.write("", f"stopping {len(self.units)} container(s)")
        async with self._reloading:
            deps = {cid: list(u.conf.depends_on) for cid, u in self.units.items()}
            await self.stop_units(list(self.units), deps)
        self.finished.set()

    async def reload(self) -> None:
        """SIGHUP: as a ``reload`` request, its answer in the log."""
        await self.request_reload()

    async def request_reload(self) -> ev.Reply:
        """Read the file again; apply it in the background.  A file that does not
        decode changes nothing (a ``log`` event and the reply say why)."""
        if self.shutting_down:
            return ev.Reply(ok=False, error="the supervisor is stopping")
        if self.config.path is None:
            text = "there is no --config file to reload"
            self.journal.write("", f"reload: {text}")
            return ev.Reply(ok=False, error=text)
        try:
            new = cfg.with_bundles(cfg.load(self.config.path), self.bundles)
            cfg.check_bundles(new, self.bundles)
        except FireError as exc:
            text = f"{exc}; the configuration is unchanged"
            self.bus.publish(ev.Log(id="", level="error", text=f"reload: {text}"))
            return ev.Reply(ok=False, error=text)
        removed, changed, added = _diff(self.config, new)
        self.start_soon(lambda: self._apply(new))
        return ev.Reply(ok=True, text=f"{len(added)} added, {len(removed)} removed, "
                        f"{len(changed)} changed")

    async def _apply(self, new: Config) -> None:
        """Added containers start at once; removed and changed ones stop along their
        dependency edges, and a changed one starts again as soon as it is stopped:
        nothing waits for a container it has no edge to."""
        async with self._reloading:
            if self.shutting_down:
                return
            old = self.config.containers
            removed, changed, added = _diff(self.config, new)
            self.bus.publish(ev.Log(id="", text=f"reload: {len(added)} added, {len(removed)} "
                                    f"removed, {len(changed)} changed"))
            await self.signals.listen({s for c in new.containers.values()
                                       for s in c.forward_signums})
            self.starts.total_tokens = new.settings.parallel_starts
            self.config = new
            self._check_exec()
            self._replacing |= set(changed)  # not "running" for a dependant until replaced
            for cid in added:
                self._spawn(cid, new.containers[cid])

            def stopped(cid: str) -> None:
                if cid in new.containers:  # changed: again, with the new settings
                    self._replacing.discard(cid)
                    if not self.shutting_down:
                        self._spawn(cid, new.containers[cid])
                else:
                    unit = self.units.pop(cid, None)
                    if unit is not None:
                        self._past_restarts[cid] = unit.restarts
                self.changed()

            deps = {cid: list(c.depends_on) for cid, c in old.items()}
            await self.stop_units(removed + changed, deps, stopped)
            self.changed()


def _diff(old: Config, new: Config) -> tuple[list[str], list[str], list[str]]:
    """(removed, changed, added) ids from ``old`` to ``new``."""
    before, after = old.containers, new.containers
    removed = [cid for cid in before if cid not in after]
    changed = [cid for cid, c in after.items() if cid in before and before[cid] != c]
    added = [cid for cid in after if cid not in before]
    return removed, changed, added


def _duration(seconds: float) -> str:
    if seconds <= 0:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
