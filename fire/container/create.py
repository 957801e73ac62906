"""``create``: the synchronous driver of the create stage graph.

``Creation`` binds an action (``actions``) and an undo (``undos``) to each
runtime-side stage name of ``fire.lifecycle.stages.CREATE``, and walks the graph
in its topological order (``stages.Walk``).  The init's stages arrive as messages
on the channel: at the first of them the walk serves the init until it asks for
the runtime's next stages (``network:attach``, ``hooks:runtime``: its Hooks
message), then again until it is ready.  When a stage fails, the undos of the
stages that began run newest first, by stage name; each checks what its stage made,
so a failed create leaves no process, cgroup, mount, network or state directory.
Everything a later ``delete --force`` needs to clean up after a crash (the init's
pid, the cgroup directories about to be made) is written to state.json *before*
it exists.  (The early claim does the claim and cgroup stages' work inside
validate, to overlap a kernel wait with decoding: container/early.py; it tells the
walk, which then undoes those stages too.)

The stage channel: a caller that sets ``FIRE_STAGE_FD=N`` (the supervisor) gets
one JSON line per stage start and end on fd N, the init's stages included
(``{"stage": "mounts", "phase": "start"|"done"|"error", "time": …, "mono": …}``,
``"error"`` with the one-line message); unset, it costs one environment lookup.

Prepared stages: fire-supervise may run the stages declared ``ahead`` in the graph
(seccomp, cgroup) itself before it runs create, and hand their results over
(``FIRE_PREPARED_FD``, ``fire.prepared``).  The walk then takes those results over
instead of running the stages, does not report them (the supervisor did), and
undoes them like its own if a later stage fails.  Unset (engines), it costs one
environment lookup.
"""

from __future__ import annotations

import os
import time

from fire import delegate, rootless
from fire.cgroup.driver import for_config
from fire.container import plan as planner
from fire.container import sysctl_ns
from fire.container.early import Early
from fire.container.early import begin as begin_early
from fire.container.execplan import save_plan as save_exec_plan
from fire.container.handoff import send_console, write_pid_file
from fire.container.spawn import InitProcess, spawn
from fire.errors import (
    ConfigError,
    FireError,
    HookError,
    InitError,
    SyscallError,
    UsageError,
    describe,
)
from fire.init import EXEC_SOCKET
from fire.init import messages as msg
from fire.lifecycle import machine as lm
from fire.lifecycle.stages import CREATE, Walk
from fire.log import log
from fire.net import stage as net_stage
from fire.procfs import start_time
from fire.spec.state import CREATED, CREATING, State
from fire.spec.validate import validate
from fire.storage import stage as storage_stage

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket
    from collections.abc import Callable

    from fire.cgroup.manager import Manager
    from fire.cgroup.translate import Translation
    from fire.init.plan import Plan, SeccompPlan
    from fire.net.settings import NetSettings
    from fire.prepared import Handover
    from fire.spec.config import Spec
    from fire.storage.settings import StorageSettings
    from fire.storage.stage import Prepared
    from fire.store import ContainerDir, Store


class Options:
    """What the command line adds to config.json."""

    def __init__(self, bundle: str = ".", pid_file: str | None = None,
                 console_socket: str | None = None, no_pivot: bool = False,
                 no_new_keyring: bool = False, preserve_fds: int = 0,
                 foreground: bool = False, annotations: dict[str, str] | None = None,
                 on_stage: Callable[[str, str], None] | None = None,
                 systemd_cgroup: bool = False, systemd_slice: str | None = None) -> None:
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.foreground = foreground  # `run`: the terminal is proxied, not sent
        # run.fire.* annotations set by flags (fire.cli.runflags): override config.json's
        self.annotations = annotations or {}
        self.on_stage = on_stage  # told of every stage's start and end (`run`'s progress)
        self.systemd_cgroup = systemd_cgroup  # --systemd-cgroup: a scope (cgroup/systemd.py)
        self.systemd_slice = systemd_slice  # --systemd-slice: the scope's slice, not config's
        if systemd_slice is not None and not systemd_cgroup:
            raise UsageError("--systemd-slice needs --systemd-cgroup")


def check_terminal(terminal: bool, opts: Options) -> None:
    """runc's two rules about ``process.terminal`` and ``--console-socket``."""
    detached = not opts.foreground
    if detached and terminal and not opts.console_socket:
        raise UsageError("cannot allocate tty if fire will detach without setting console "
                         "socket ($.process.terminal is true; give --console-socket)")
    if (not detached or not terminal) and opts.console_socket:
        raise UsageError("cannot use console socket if fire will not detach or allocate tty")


def crash_point(stage: str) -> None:
    """Test-only: ``FIRE_TEST_CRASH_AT=<stage>`` kills the runtime at that stage."""
    if os.environ.get("FIRE_TEST_CRASH_AT") == stage:
        os.kill(os.getpid(), 9)


def fail_point(stage: str) -> None:
    """Test-only: ``FIRE_TEST_FAIL_AT=<stage>`` fails create at that stage's start."""
    if os.environ.get("FIRE_TEST_FAIL_AT") == stage:
        raise InitError(None, stage=stage, detail="failure injected (FIRE_TEST_FAIL_AT)")


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def listen_fds() -> int:
    """Socket-activation fds handed to us (systemd's LISTEN_FDS), passed on as runc does."""
    try:
        if int(os.environ.get("LISTEN_PID", "0")) != os.getpid():
            return 0
        return max(0, int(os.environ.get("LISTEN_FDS", "0")))
    except ValueError:
        return 0


class StageReport:
    """Writes the stage channel (see the module's docstring) to the caller's fd.

    Reporting must never break a create: once the reader is gone, it stops.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        try:
            os.set_inheritable(fd, False)  # not for the init, nor hooks
        except OSError:
            self.fd = -1

    def __call__(self, name: str, phase: str) -> None:
        self.write({"stage": name, "phase": phase})

    def error(self, stage: str, exc: BaseException) -> None:
        self.write({"stage": stage, "phase": "error", "error": describe(exc)})

    def write(self, record: dict[str, object]) -> None:
        if self.fd < 0:
            return
        import json  # already loaded by fire.spec.state

        record["time"] = time.time()
        record["mono"] = time.monotonic()
        try:
            os.write(self.fd, json.dumps(record).encode() + b"\n")
        except OSError:
            self.fd = -1


def stage_report() -> StageReport | None:
    fd = os.environ.get(delegate.STAGE_FD_ENV, "")
    return StageReport(int(fd)) if fd.isdigit() else None


class Created:
    """The result of a successful create."""

    def __init__(self, cdir: ContainerDir, state: State, spec: Spec, master: int) -> None:
        self.cdir = cdir
        self.state = state
        self.spec = spec
        self.master = master  # the terminal's master fd, in the foreground (`run`) only


class Creation:
    def __init__(self, store: Store, cid: str, opts: Options) -> None:
        self.store = store
        self.id = cid
        self.opts = opts
        self.undo: list[tuple[str, Callable[[], None]]] = []
        self.cdir: ContainerDir | None = None
        self.state: State | None = None
        self.init: InitProcess | None = None
        self.cgroup: Manager | None = None
        self.master = -1
        self.on_stage: Callable[[str, str], None] | None = opts.on_stage
        self.machine = lm.Machine(cid, CREATING)
        self.report = stage_report()
        self.current = ""
        self.walk = Walk(CREATE)
        self.poststop = False  # the undo of claim runs the poststop hooks first
        # What the stages share (set by the stage that makes each, read by the
        # later ones and by the undos).
        self.bundle = ""
        self.rootfs = ""
        self.early: Early | None = None
        self.spec: Spec | None = None
        self.net: NetSettings | None = None
        self.storage: StorageSettings | None = None
        self.decoded: Manager | None = None  # the cgroup the config names
        self.made_cgroup: Manager | None = None  # recorded before it is made
        self.resources: Translation | None = None
        self.seccomp: SeccompPlan | None = None
        self.prepared: Prepared | None = None
        self.plan: Plan | None = None
        self.host_mounts = False
        self.waiting: type[msg.Message] | None = None  # what the init asked for
        # The stages fire-supervise ran ahead (fire.prepared), or None.
        self.ahead: Handover | None = None
        if os.environ.get(delegate.PREPARED_FD_ENV):
            from fire.prepared import take

            self.ahead = take()

    # ------------------------------------------------------------------ driver
    def run(self) -> Created:
        try:
            return self._run()
        except BaseException as exc:
            if self.report is not None:
                self.report.error(self.current, exc)
            actions = self.machine.send(lm.CREATE_FAILED)
            self.unwind(poststop=lm.RUN_POSTSTOP in actions)
            raise

    def unwind(self, poststop: bool = False) -> None:
        """Undo what was made, newest first: this create's own form of the machine's
        ``DESTROY`` (kill, cgroup, state directory), and the poststop hooks, when the
        machine asks for them, run just before the state directory goes (runtime.md
        steps 12 then 13).  Create's stages are undone by stage name
        (``undos``); ``undo`` is the stack of a driver that runs its own stages
        (``fire.container.restore``)."""
        self.poststop = poststop

        def failed(name: str, exc: BaseException) -> None:
            log.warning("cleanup after a failed create: {what}: {error}", what=name,
                        error=str(exc))

        self.walk.unwind(self.undos(), failed, (FireError, OSError))
        while self.undo:
            what, func = self.undo.pop()
            if poststop and what == "state directory" and self.state is not None:
                from fire.container import destroy as teardown

                poststop = False
                teardown.run_hooks(self.state, "poststop")
            try:
                func()
            except (FireError, OSError) as exc:
                log.warning("cleanup after a failed create: {what}: {error}", what=what,
                            error=str(exc))

    def stage(self, name: str, phase: str = "start") -> None:
        if phase == "start":
            self.current = name
            crash_point(name)
            fail_point(name)
        log.debug("stage {name}: {phase}", name=name, phase=phase)
        if self.report is not None:
            self.report(name, phase)
        if self.on_stage is not None:
            self.on_stage(name, phase)

    def _run(self) -> Created:
        """Walk ``CREATE`` with the runtime's actions bound to its stage names."""
        self.walk.run(self.actions(), self.follow, self.stage, self.taken_over())
        assert self.init is not None
        assert self.cdir is not None
        assert self.state is not None
        assert self.spec is not None
        self.init.chan.close()
        self.init.reap()
        self.walk.begun.clear()
        return Created(self.cdir, self.state, self.spec, self.master)

    def actions(self) -> dict[str, Callable[[], None]]:
        """The runtime side of ``CREATE``: stage name -> action."""
        return {"validate": self.validate, "claim": self.claim, "cgroup": self.make_cgroup,
                "seccomp": self.compile_seccomp, "storage": self.prepare_storage,
                "network": self.prepare_network, "spawn": self.send_plan,
                "network:attach": self.attach_network, "hooks:runtime": self.runtime_hooks,
                "created": self.record_created}

    def taken_over(self) -> dict[str, Callable[[], None]] | None:
        """The stages fire-supervise ran ahead: stage name -> what takes its result."""
        if self.ahead is None:
            return None
        takes = {"seccomp": self.take_seccomp, "cgroup": self.take_cgroup}
        return {name: takes[name] for name in self.ahead.stages if name in takes}

    def undos(self) -> dict[str, Callable[[], None] | None]:
        """Stage name -> what undoes it after a later failure (see ``Walk.unwind``):
        each checks what its stage made, so a stage that failed half-way, or never
        got to make anything, is undone too.  The init (spawned in validate, run in
        spawn) dies before its cgroup goes; poststop hooks run just before the state
        directory goes (runtime.md steps 12 then 13)."""
        return {"validate": self._kill_init, "claim": self.remove_state_dir,
                "cgroup": self.remove_cgroup, "storage": self.remove_storage,
                "network": self.remove_network, "spawn": self.undo_spawn}

    # ------------------------------------------------------------------ stages
    def validate(self) -> None:
        opts = self.opts
        self.bundle = bundle = os.path.abspath(opts.bundle)
        try:
            os.chdir(bundle)
        except OSError as exc:
            raise ConfigError("", "bundle {path}: {reason}", "bundle", path=bundle,
                              reason=exc.strerror) from None
        # Start the init's interpreter now: its start-up (~15 ms) overlaps the
        # decoding below, on the second core.  It only waits for its plan, and exits
        # by itself if we die first (EOF on the channel); a failure kills it (undo).
        self.init = spawn(listen_fds() + opts.preserve_fds)
        # Claim the id, make the cgroup and join the init to it in a thread: the
        # join's wait (an RCU grace period) overlaps msgspec below (container/early.py).
        # (Not with the systemd driver: systemd makes the cgroup and moves the init.)
        ahead = self.ahead
        early = self.early = None if opts.systemd_cgroup else begin_early(
            self.store, self.id, bundle, self.init.pid, now_rfc3339(), self._claimed_early,
            self._cgroup_early, ahead.cgroup_created if ahead and "cgroup" in ahead.stages
            else None)
        from fire.spec.load import read_config  # msgspec (~12 ms): while the init starts

        spec = read_config(os.path.join(bundle, "config.json"))
        spec, self.net = net_stage.parse(spec, opts.annotations)  # before validate: host drops netns
        self.storage = storage_stage.parse(spec)
        for warning in validate(spec):
            log.warning("{warning}", warning=warning)
        sysctl_ns.check(spec)
        assert spec.linux is not None
        proc = spec.process
        check_terminal(bool(proc and proc.terminal), opts)
        self.rootfs = planner.rootfs_path(spec, bundle)
        cgroups_path = spec.linux.cgroups_path
        if opts.systemd_slice is not None:
            cgroups_path = f"{opts.systemd_slice}:fire:{self.id}"
        cgroup: Manager
        if rootless.enabled():  # a delegated subtree, or none (fire.cgroup.rootless)
            from fire.cgroup import rootless as rootless_cgroup

            cgroup = rootless_cgroup.manager(cgroups_path, self.id)
            if cgroup.delegated == rootless_cgroup.NONE:
                spec = rootless_cgroup.without_cgroup(spec)
        else:
            cgroup = for_config(cgroups_path, self.id, opts.systemd_cgroup)
        if early is not None:
            cgroup = early.finish(cgroup)  # joined; before anything else can fork
        self.resources = self.translate_resources(spec, cgroup)
        if cgroup.delegated:
            from fire.cgroup.rootless import skip_devices

            skip_devices(self.resources, spec)
        self.spec = spec
        self.decoded = cgroup

    def _claimed_early(self, cdir: ContainerDir) -> None:
        self.walk.ahead("claim")
        self.cdir = cdir

    def _cgroup_early(self, cgroup: Manager) -> None:
        """Before the early cgroup is made: it is the cgroup stage's to undo."""
        self.walk.ahead("cgroup")
        self.made_cgroup = cgroup

    def claim(self) -> None:
        spec = self.spec
        assert spec is not None
        assert spec.linux is not None
        early = self.early
        if early is None:
            self.cdir = self.store.claim(self.id)
        cdir = self.cdir
        assert cdir is not None
        proc = spec.process
        state = State(oci_version=spec.oci_version, id=self.id, status=CREATING,
                      bundle=self.bundle, rootfs=self.rootfs, created=now_rfc3339(),
                      owner="", annotations=dict(spec.annotations) if spec.annotations else None,
                      hooks=_runtime_hooks(spec),
                      namespaces={ns.type: ns.path for ns in spec.linux.namespaces or []},
                      terminal=bool(proc and proc.terminal))
        if early is not None:  # what the early claim recorded
            assert self.decoded is not None
            state.cgroup = self.decoded.to_state()
            state.initPid, state.initStart = early.state.initPid, early.state.initStart
        self.state = state
        cdir.write_state(state)

    def make_cgroup(self) -> None:
        cgroup, resources = self.decoded, self.resources
        state, cdir = self.state, self.cdir
        assert cgroup is not None
        assert resources is not None
        assert state is not None
        assert cdir is not None
        if cgroup.driver == "systemd":
            self.start_scope(cgroup, resources)
        elif self.early is None:
            cgroup.created = cgroup.planned()
            state.cgroup = cgroup.to_state()
            cdir.write_state(state)
            self.made_cgroup = cgroup
            cgroup.create()
        # Before the plan is sent, so the container never runs unlimited (the init may
        # have joined already: it only waits for its plan).
        cgroup.apply(resources)
        self.cgroup = cgroup

    def compile_seccomp(self) -> None:
        from fire.security.setup import prepare_security

        state, cdir, spec = self.state, self.cdir, self.spec
        assert state is not None
        assert cdir is not None
        assert spec is not None
        self.seccomp = prepare_security(spec, self.bundle, self.store.root, state)
        if state.extra:
            cdir.write_state(state)  # where a notify listener goes, for `fire start`

    def take_seccomp(self) -> None:
        """The filter fire-supervise compiled (its LSM checks done too)."""
        from fire.security.setup import record_listener

        assert self.ahead is not None
        state, cdir = self.state, self.cdir
        assert state is not None
        assert cdir is not None
        self.seccomp = self.ahead.seccomp
        if record_listener(self.seccomp, state):
            cdir.write_state(state)

    def take_cgroup(self) -> None:
        """The cgroup fire-supervise made and limited: recorded (the directories it
        made are ours to remove), joined later as usual, not limited again."""
        ahead, cgroup, state, cdir = self.ahead, self.decoded, self.state, self.cdir
        assert ahead is not None
        assert cgroup is not None
        assert state is not None
        assert cdir is not None
        if cgroup.driver != "cgroupfs" or cgroup.delegated is not None \
                or cgroup.path != ahead.cgroup_path:
            raise ConfigError("$.linux.cgroupsPath", "not the cgroup fire-supervise "
                              "prepared ({path})", path=ahead.cgroup_path)
        if self.early is None:
            cgroup.created = list(ahead.cgroup_created)
            state.cgroup = cgroup.to_state()
            cdir.write_state(state)
            self.made_cgroup = cgroup
        self.cgroup = cgroup

    def prepare_storage(self) -> None:
        """Fire's own storage, when asked for (fire.storage.stage)."""
        if self.storage is not None:
            assert self.spec is not None
            self.spec, self.prepared = storage_stage.prepare(self, self.spec, self.storage)

    def prepare_network(self) -> None:
        """Fire's own network, when asked for (fire.net.stage)."""
        if self.net is not None and self.net.mode == "bridge":
            assert self.spec is not None
            self.spec = net_stage.prepare(self, self.spec, self.net)

    def send_plan(self) -> None:
        """The plan, with the fds it names, to the waiting init."""
        opts, spec, cdir, state, cgroup = self.opts, self.spec, self.cdir, self.state, self.cgroup
        init = self.init
        assert spec is not None
        assert cdir is not None
        assert state is not None
        assert cgroup is not None
        assert init is not None
        extra = listen_fds() + opts.preserve_fds
        plan, warnings = planner.build(
            spec, cid=self.id, bundle=self.bundle, state_dir=cdir.path, rootfs=self.rootfs,
            cgroups=cgroup.mounts(), no_pivot=opts.no_pivot,
            new_keyring=not opts.no_new_keyring, extra_fds=extra, listen_fds=listen_fds(),
            seccomp=self.seccomp)
        for warning in warnings:
            log.warning("{warning}", warning=warning)
        self.plan = plan
        storage_stage.complete_plan(plan, self.prepared)
        net_stage.complete_plan(plan, self.net)
        # `fire exec` starts from the container's compiled process (seccomp included).
        save_exec_plan(cdir, plan["process"])
        state.initPid = init.pid
        state.initStart = start_time(init.pid) or 0
        cdir.write_state(state)
        if self.early is None and cgroup.driver != "systemd":
            cgroup.add(init.pid)
        if plan["chroot"]:  # no mount namespace: the tree is made in the host's
            from fire.container import hostmounts

            hostmounts.record_before(state)
            cdir.write_state(state)
            self.host_mounts = True
        listener = bind_exec_socket(cdir.fd)
        trees: list[int] = []
        try:
            if any(mp["idmap"] for mp in plan["mounts"]):
                from fire.container import idmap

                trees = idmap.prepare(plan["mounts"], 1)
            if self.prepared is not None or self.net is not None:  # Fire's own storage, network
                from fire.storage import detached

                trees += detached.prepare(plan, self.store.root, 1 + len(trees))
            msg.put(init.chan, msg.PlanMessage(plan), fds=[listener.fileno(), *trees])
        finally:
            listener.close()
            for fd in trees:
                os.close(fd)

    def follow(self, name: str) -> None:
        """An init-side stage: serve the init until it asks for the runtime's next
        stage (network:attach) or is ready; its stages are reported on the way."""
        if self.waiting is None:
            assert self.spec is not None
            assert self.plan is not None
            self.converse(self.spec, self.plan)

    def attach_network(self) -> None:
        """Asked for by the init (its Hooks message): the veth before any runtime hook."""
        assert self.spec is not None
        self.expect_request(msg.Hooks)
        state = self.state
        assert state is not None
        assert self.init is not None
        if not state.pid:
            self.set_pid(self.init.pid)
        net_stage.attach(self, self.spec)

    def runtime_hooks(self) -> None:
        assert self.spec is not None
        assert self.init is not None
        assert self.plan is not None
        self.expect_request(msg.Hooks)
        self.machine.send(lm.HOOKS_BEGIN)
        answer = self.plan["runtime_turn"]  # else the init did not wait (Init.runtime_turn)
        try:
            self.run_runtime_hooks(self.spec)
        except HookError:
            if answer:
                msg.put(self.init.chan, msg.Error("hooks"))
            raise
        if answer:
            msg.put(self.init.chan, msg.Ok())
        self.waiting = None  # the init goes on

    def record_created(self) -> None:
        self.expect_request(msg.Ready)
        state, cdir, plan = self.state, self.cdir, self.plan
        assert state is not None
        assert cdir is not None
        assert plan is not None
        if plan["chroot"]:
            from fire.container import hostmounts

            hostmounts.record_ours(state)
        state.status = CREATED
        cdir.write_state(state)
        if self.opts.pid_file:
            write_pid_file(self.opts.pid_file, state.pid)

    def expect_request(self, kind: type[msg.Message]) -> None:
        """The init's conversation stopped where this runtime stage belongs."""
        if self.waiting is not kind:
            raise InitError(None, stage=self.current,
                            detail="the container's init did not ask for this stage")

    # ------------------------------------------------------------------ undos
    def remove_state_dir(self) -> None:
        if self.cdir is None:
            return
        if self.poststop and self.state is not None:
            from fire.container import destroy as teardown

            self.poststop = False
            teardown.run_hooks(self.state, "poststop")
        self.cdir.remove()

    def remove_cgroup(self) -> None:
        if self.early is not None:
            self.early.wait()  # the joining thread first
        self._kill_init()  # the init before its cgroup
        if self.made_cgroup is not None:
            self.made_cgroup.destroy()

    def remove_storage(self) -> None:
        state = self.state
        if self.cdir is not None and state is not None and (state.extra or {}).get("storage"):
            storage_stage.teardown(self.store.root, self.cdir.path, state)

    def remove_network(self) -> None:
        state = self.state
        if state is not None and net_stage.record_of(state) is not None:
            net_stage.teardown(self.store.root, state)

    def undo_spawn(self) -> None:
        self._kill_init()  # first: the init may still be mounting
        if self.host_mounts:
            from fire.container import hostmounts

            assert self.state is not None
            hostmounts.release(self.state)

    def start_scope(self, cgroup: Manager, resources: Translation) -> None:
        """The systemd driver: the unit is recorded, then started with the init in it
        (systemd moves it), then the v1 hierarchies systemd left are joined."""
        from fire.cgroup.systemd import SystemdManager

        assert isinstance(cgroup, SystemdManager)
        assert self.cdir is not None
        assert self.state is not None
        assert self.init is not None
        state = self.state
        state.cgroup = cgroup.to_state()
        self.cdir.write_state(state)
        self.made_cgroup = cgroup
        cgroup.start(self.init.pid, resources, f"fire container {self.id}")
        cgroup.created = cgroup.planned()  # v1: the hierarchies systemd does not manage
        if cgroup.created:
            state.cgroup = cgroup.to_state()
            self.cdir.write_state(state)
            cgroup.join_rest(self.init.pid)

    @staticmethod
    def translate_resources(spec: Spec, cgroup: Manager) -> Translation:
        """linux.resources as cgroup writes: every value is checked (an error names
        its JSON path) before anything exists; ``update`` later merges into the copy
        kept in the state."""
        import msgspec

        from fire.cgroup.translate import translate

        assert spec.linux is not None
        res = spec.linux.resources
        translation = translate(res, cgroup.where)
        for warning in translation.warnings:
            log.warning("{warning}", warning=warning)
        cgroup.resources = msgspec.to_builtins(res) if res is not None else None
        return translation

    def _kill_init(self) -> None:
        state = self.state
        init, self.init = self.init, None  # once: its pid may be reused after the reap
        if init is not None:
            init.kill()
            init.reap()
        if state is not None and state.pid and state.pidStart and start_time(state.pid) == state.pidStart:
            try:
                os.kill(state.pid, 9)
            except ProcessLookupError:
                pass

    # ------------------------------------------------------------------ protocol
    def converse(self, spec: Spec, plan: Plan) -> None:
        """Serve the init's requests until it asks for the runtime's stages (Hooks)
        or is ready (``waiting`` says which)."""
        assert self.init is not None
        assert self.state is not None
        assert self.cdir is not None
        init = self.init
        chan = init.chan
        state = self.state

        def handle(message: msg.Message, fds: list[int]) -> bool:
            if isinstance(message, msg.Stage):
                self.stage(message.name, message.phase)
            elif isinstance(message, msg.Idmap):
                self.write_idmaps(spec, message.pid)
                msg.put(chan, msg.Ok())
            elif isinstance(message, msg.Child):
                self.set_pid(message.pid)
            elif isinstance(message, msg.Hooks):  # the runtime's turn: network:attach
                self.waiting = msg.Hooks
                return True
            elif isinstance(message, msg.Pty):
                self.take_pty(fds)  # the master is closed (sent on) or kept (foreground)
                msg.put(chan, msg.Ok())
            elif isinstance(message, msg.Warn):
                log.info("{text}", text=message.text)
            elif isinstance(message, msg.Ready):
                if not state.pid:
                    self.set_pid(init.pid)
                self.waiting = msg.Ready
                return True
            return False

        def closed() -> None:
            code = init.reap()
            raise InitError(None, stage="init",
                            detail=f"the container's init exited unexpectedly (status {code})")

        msg.converse(chan, handle, closed)

    def set_pid(self, pid: int) -> None:
        assert self.state is not None
        assert self.cdir is not None
        self.state.pid = pid
        self.state.pidStart = start_time(pid) or 0
        self.cdir.write_state(self.state)

    def write_idmaps(self, spec: Spec, pid: int) -> None:
        from fire.container import idmaps

        idmaps.write(spec, pid)

    def run_runtime_hooks(self, spec: Spec) -> None:
        """prestart, then createRuntime: in the runtime's namespaces."""
        assert self.state is not None
        for phase in ("prestart", "createRuntime"):
            hooks = planner.hook_plans(spec, phase)
            if hooks:  # by fire-supervise when it runs us (fire.delegate), else here
                from fire.container import destroy as teardown

                delegate.run_hooks(hooks, teardown.hook_state(self.state, phase), phase,
                                   lambda text: log.info("{output}", output=text))

    def take_pty(self, fds: list[int]) -> None:
        """The master: sent on over --console-socket (``converse`` closes our copy), or
        kept for the foreground (taken out of ``fds``)."""
        if not fds:
            raise InitError(None, stage="terminal", detail="the init sent no terminal")
        if self.opts.console_socket:
            send_console(self.opts.console_socket, fds[0])
        else:
            self.master = fds.pop(0)


def bind_exec_socket(dirfd: int) -> _socket.socket:
    """``exec.sock``, where ``fire start`` finds the waiting init; bound here, by the
    runtime, because the init may lack the right to create files in ``--root``."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.bind(f"/proc/self/fd/{dirfd}/{EXEC_SOCKET}")
        sock.listen(8)
    except OSError as exc:
        sock.close()
        raise SyscallError("binding exec.sock", exc) from None
    return sock


def _runtime_hooks(spec: Spec) -> dict[str, list[dict[str, object]]] | None:
    """The hooks later commands run (poststart by start, poststop by delete)."""
    out: dict[str, list[dict[str, object]]] = {}
    for phase in ("poststart", "poststop"):
        hooks = planner.hook_plans(spec, phase)
        if hooks:
            out[phase] = [dict(h) for h in hooks]
    return out or None


def create(store: Store, cid: str, opts: Options) -> Created:
    return Creation(store, cid, opts).run()


