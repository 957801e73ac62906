"""``exec``: run one more process inside a running container.

The process is started the way the container's own process was: a sealed, fresh
interpreter (fire/container/spawn.py) runs a small init, fire/init/join.py, which
receives a plan over the channel, joins the container and ends in the same
``fire.init.process.become()`` as the container's init.  The runtime side, here:

1. checks the container (running; paused only with ``--ignore-paused``; stopped:
   runc's "container not running");
2. compiles the process: the container's own process (saved at create time, see
   below) with the command line's changes, or ``--process FILE`` (validated with
   msgspec against the spec's ``Process``, errors naming the JSON path);
3. finds what to join: a pidfd of the container's process (checked against its
   start time), the namespaces that differ from ours, the container's cgroup (or a
   sub-cgroup: ``--cgroup``), and the device and inode of its root;
4. spawns the join init, writes its pid into the cgroup (its child inherits it),
   sends the plan and the pidfd;
5. serves the init: the terminal's master goes to ``--console-socket`` (SCM_RIGHTS,
   as runc) or to the foreground proxy; an error comes back as one message; EOF
   means the program was exec'd;
6. ``--detach``: writes the pid file and exits, leaving the process to the caller's
   subreaper (conmon, containerd's shim).  Otherwise Fire is the subreaper: it
   waits, forwarding signals (fire/container/foreground.py's SignalChannel), and returns
   the exit code (128+N after signal N).

**What exec needs from create** (a decision): ``create`` saves the container's
compiled process plan (``exec.plan`` in the state directory, marshal-encoded: the
same plan the init received, capability masks, rlimits and the seccomp BPF
included).  An exec then needs no config.json, no msgspec (without ``--process``)
and no seccomp compiler; it applies the container's filter even if the bundle
changed or disappeared since.  With ``--process`` everything of the process comes
from that file, except what the spec puts outside ``process``: the seccomp filter
and the personality stay the container's, as in runc.
"""

from __future__ import annotations

import os

from fire.container.execplan import load_plan
from fire.errors import ConfigError, InitError, LifecycleError, NotRunning, UsageError
from fire.log import log
from fire.procfs import start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.container.spawn import InitProcess
    from fire.init.channel import Channel
    from fire.init.plan import ProcessPlan
    from fire.spec.state import State
    from fire.store import Store

MAX_PROCESS_BYTES = 4 * 1024 * 1024


class ExecOptions:
    """The command line of ``fire exec``."""

    def __init__(self, args: list[str] | None = None, process_file: str | None = None,
                 tty: bool = False, console_socket: str | None = None, detach: bool = False,
                 pid_file: str | None = None, cwd: str | None = None,
                 env: list[str] | None = None, user: str | None = None,
                 additional_gids: list[int] | None = None, caps: list[str] | None = None,
                 no_new_privs: bool = False, apparmor: str | None = None,
                 process_label: str | None = None, preserve_fds: int = 0,
                 cgroups: list[str] | None = None, ignore_paused: bool = False) -> None:
        self.args = list(args or [])
        self.process_file = process_file
        self.tty = tty
        self.console_socket = console_socket
        self.detach = detach
        self.pid_file = pid_file
        self.cwd = cwd
        self.env = list(env or [])
        self.user = user
        self.additional_gids = list(additional_gids or [])
        self.caps = list(caps or [])
        self.no_new_privs = no_new_privs
        self.apparmor = apparmor
        self.process_label = process_label
        self.preserve_fds = preserve_fds
        self.cgroups = list(cgroups or [])
        self.ignore_paused = ignore_paused


# ---------------------------------------------------------------------- the process


def _read_limited(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError("", "cannot open {path}: {reason}", path, path=path,
                          reason=exc.strerror) from None
    try:
        data = os.read(fd, MAX_PROCESS_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_PROCESS_BYTES:
        raise ConfigError("", "larger than {limit} bytes", path, limit=MAX_PROCESS_BYTES)
    return data


def process_from_file(path: str, base: ProcessPlan | None, preserve_fds: int) -> ProcessPlan:
    """``--process FILE``: a runtime-spec ``process`` object (as podman and the shim
    write it), compiled like config.json's."""
    import msgspec

    from fire.container import plan as planner
    from fire.spec.config import Linux, Process, Spec
    from fire.spec.load import decode_error
    from fire.spec.validate import _validate_process

    data = _read_limited(path)
    try:
        proc = msgspec.json.decode(data, type=Process)
    except msgspec.DecodeError as exc:
        raise decode_error(exc, document=path, data=data) from None
    except RecursionError:
        raise ConfigError("", "malformed JSON: nested too deeply", path) from None
    spec = Spec(oci_version="1.0.0", process=proc, linux=Linux())
    warnings: list[str] = []
    try:
        _validate_process(spec, warnings)
    except ConfigError as exc:  # the rules of config.json's process, paths of this file
        raise ConfigError("$" + exc.where.removeprefix("$.process"), exc.detail, path,
                          **exc.detail_params) from None
    plan = planner.process_plan(spec, warnings, preserve_fds, 0)
    assert plan is not None
    for warning in warnings:
        log.warning("{warning}", warning=warning.replace("$.process", "$"))
    if base is not None:
        plan["seccomp"] = base["seccomp"]
        plan["personality"] = base["personality"]
    return plan


def _default_process() -> ProcessPlan:
    """For a container whose config has no process: the spec's defaults, compiled
    the usual way (so the plan has every key ``become`` reads)."""
    from fire.container import plan as planner
    from fire.spec.config import Linux, Process, Spec

    spec = Spec(oci_version="1.0.0", process=Process(args=["sh"]), linux=Linux())
    plan = planner.process_plan(spec, [], 0, 0)
    assert plan is not None
    return plan


def _cap_bit(name: str) -> int:
    from fire.spec.names import CAPABILITIES

    full = name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper()
    bit = CAPABILITIES.get(full)
    if bit is None:
        raise UsageError("unknown capability {name!r}", name=name)
    return bit


def _user(text: str) -> tuple[int, int | None]:
    uid, sep, gid = text.partition(":")
    try:
        return int(uid), (int(gid) if sep else None)
    except ValueError:
        raise UsageError("--user must be UID[:GID] (numbers), not {text!r}", text=text) from None


def process_from_options(base: ProcessPlan | None, opts: ExecOptions) -> ProcessPlan:
    """The container's process with the command line's changes (runc's rules)."""
    plan: ProcessPlan = dict(base) if base is not None else _default_process()  # type: ignore[assignment]
    plan["args"] = list(opts.args)
    # Socket activation was the container's start-up, not this process's.
    plan["env"] = [e for e in plan["env"] if not e.startswith(("LISTEN_FDS=", "LISTEN_PID="))]
    for entry in opts.env:
        if "=" not in entry or entry.startswith("="):
            raise UsageError("--env must be KEY=VALUE, not {entry!r}", entry=entry)
        plan["env"].append(entry)
    if opts.cwd:
        plan["cwd"] = opts.cwd
    if opts.user:
        uid, gid = _user(opts.user)
        plan["uid"] = uid
        if gid is not None:
            plan["gid"] = gid
    if opts.additional_gids:
        plan["additional_gids"] = [*plan["additional_gids"], *opts.additional_gids]
    if opts.caps:
        old = plan["caps"]
        add = 0
        for name in opts.caps:
            add |= 1 << _cap_bit(name)
        # runc adds them to the bounding, effective and permitted sets.
        plan["caps"] = {
            "bounding": (old["bounding"] if old else 0) | add,
            "effective": (old["effective"] if old else 0) | add,
            "permitted": (old["permitted"] if old else 0) | add,
            "inheritable": old["inheritable"] if old else 0,
            "ambient": old["ambient"] if old else 0,
        }
    if opts.no_new_privs:
        plan["no_new_privileges"] = True
    if opts.apparmor:
        plan["apparmor"] = opts.apparmor
    if opts.process_label:
        plan["selinux"] = opts.process_label
    plan["terminal"] = opts.tty
    plan["console_size"] = None
    plan["preserve_fds"] = opts.preserve_fds
    if not plan["args"]:
        raise UsageError("fire exec: a command to run is required (or --process FILE)")
    if not plan["cwd"].startswith("/"):
        raise UsageError("--cwd must be an absolute path, not {cwd!r}", cwd=plan["cwd"])
    return plan


# ---------------------------------------------------------------------- what to join


def namespaces_to_join(pid: int) -> int:
    """CLONE_NEW* of each namespace of ``pid`` that is not also ours."""
    from fire.syscalls.ns import FLAGS, PROC_NAMES

    flags = 0
    for kind, name in PROC_NAMES.items():
        try:
            theirs = os.stat(f"/proc/{pid}/ns/{name}")
        except FileNotFoundError:
            continue  # a namespace type this kernel does not have
        mine = os.stat(f"/proc/self/ns/{name}")
        if (theirs.st_dev, theirs.st_ino) != (mine.st_dev, mine.st_ino):
            flags |= FLAGS[kind]
    return flags


def cgroup_dirs(state: State, requested: list[str]) -> list[str]:
    """The cgroup directories the process joins: the container's, or the
    sub-cgroups ``--cgroup [CONTROLLER[,CONTROLLER]:]PATH`` names (runc's form)."""
    import posixpath

    from fire.cgroup import driver as cgroup_driver
    from fire.errors import CgroupError

    mgr = cgroup_driver.from_state(state.cgroup)
    if mgr is None:
        if requested:
            raise CgroupError("--cgroup: container {id} has no cgroup of its own", id=state.id)
        return []
    everywhere: str | None = None
    per_controller: dict[str, str] = {}
    for item in requested:
        controllers, sep, path = item.rpartition(":")
        if not sep:
            everywhere = path
        else:
            for name in controllers.split(","):
                per_controller[name] = path
    out: list[str] = []
    for h in mgr.hierarchies:
        base = h.mountpoint.rstrip("/") + mgr.path
        names = [*h.controllers, h.name] + ([o[5:] for o in h.options.split(",")
                                             if o.startswith("name=")])
        sub = next((per_controller[n] for n in names if n in per_controller), everywhere)
        if sub is None:
            out.append(base)
            continue
        rel = posixpath.normpath("/" + sub).lstrip("/")
        target = posixpath.join(base, rel) if rel else base
        if not os.path.isdir(target):
            raise CgroupError("--cgroup: {path} does not exist", path=target)
        out.append(target)
    return out


def join_cgroups(dirs: list[str], pid: int) -> None:
    from fire.errors import CgroupError

    for d in dirs:
        try:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        except OSError as exc:
            raise CgroupError("cannot join cgroup {path}: {reason}", path=d,
                              reason=exc.strerror) from None


def open_target(state: State) -> int:
    """A pidfd of the container's process, checked to be the one that started."""
    try:
        fd = os.pidfd_open(state.pid)
    except (ProcessLookupError, ValueError):
        raise NotRunning() from None
    if start_time(state.pid) != state.pidStart:
        os.close(fd)
        raise NotRunning()
    return fd


# ---------------------------------------------------------------------- the driver


class Execution:
    def __init__(self, store: Store, cid: str, opts: ExecOptions) -> None:
        self.store = store
        self.id = cid
        self.opts = opts
        self.init: InitProcess | None = None
        self.child = 0
        self.child_fd = -1  # a pidfd: safe to signal even once the process is reaped
        self.child_chan = -1  # the child's own channel (fd), until it closes it
        self.master = -1

    def prepare(self) -> tuple[State, ProcessPlan]:
        from fire.container.status import load
        from fire.spec.state import CREATED, PAUSED, RUNNING

        opts = self.opts
        cdir, state, status = load(self.store, self.id)
        try:
            if status == PAUSED and not opts.ignore_paused:
                raise LifecycleError("cannot exec in a paused container "
                                     "(use --ignore-paused to override)")
            if status not in (CREATED, RUNNING, PAUSED):
                raise NotRunning(self.id)
            # Without the saved plan there is no compiled seccomp filter to apply:
            # refuse rather than run the process unconfined.
            base = load_plan(cdir)
            if opts.process_file:
                proc = process_from_file(opts.process_file, base, opts.preserve_fds)
            else:
                proc = process_from_options(base, opts)
        finally:
            cdir.close()
        self.check_terminal(proc)
        if proc["terminal"] and not opts.detach and os.isatty(0):
            from fire.syscalls.tty import get_winsize

            proc["console_size"] = get_winsize(0)  # before the program can ask
        return state, proc

    def check_terminal(self, proc: ProcessPlan) -> None:
        """runc's rules for a terminal and the console socket."""
        opts = self.opts
        if opts.detach and proc["terminal"] and not opts.console_socket:
            raise UsageError("cannot allocate tty if fire will detach without setting "
                             "console socket")
        if opts.console_socket and (not opts.detach or not proc["terminal"]):
            raise UsageError("cannot use console socket if fire will not detach or "
                             "allocate tty")

    def run(self) -> int:
        state, proc = self.prepare()
        channel = None
        if not self.opts.detach:
            from fire.container.foreground import SignalChannel
            from fire.syscalls import proc as p

            # Fire inherits the process when the join init exits, and must hear
            # signals meant for it from now on.
            p.prctl(p.PR_SET_CHILD_SUBREAPER, 1, what="prctl(PR_SET_CHILD_SUBREAPER)")
            channel = SignalChannel()
        try:
            self.start(state, proc)
            if self.opts.pid_file:
                from fire.container.handoff import write_pid_file

                write_pid_file(self.opts.pid_file, self.child)
            if channel is None:
                return 0
            return self.wait(channel)
        except BaseException:
            self.abandon()
            raise
        finally:
            if channel is not None:
                channel.close()
            if self.master >= 0:
                os.close(self.master)
                self.master = -1
            if self.child_fd >= 0:
                os.close(self.child_fd)
                self.child_fd = -1

    def start(self, state: State, proc: ProcessPlan) -> None:
        import _socket

        from fire.container.spawn import spawn
        from fire.container.start import serve
        from fire.init import messages as msg
        from fire.syscalls.ns import CLONE_NEWNS

        pidfd = open_target(state)
        report, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            try:
                flags = namespaces_to_join(state.pid)
                root = os.stat(f"/proc/{state.pid}/root")
                dirs = cgroup_dirs(state, self.opts.cgroups)
                fds = [pidfd, theirs.fileno()]
                if not flags & CLONE_NEWNS and not os.path.samestat(root, os.stat("/")):
                    # No mount namespace of its own: chrooted in the host's (see
                    # fire.container.hostmounts); the joiner chroots there too.
                    rootfd = os.open(f"/proc/{state.pid}/root",
                                     os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    fds.append(rootfd)
                self.init = spawn(self.opts.preserve_fds, entry="fire.init.join",
                                  null_stdio=proc["terminal"])
                join_cgroups(dirs, self.init.pid)
                plan = {"flags": flags, "root": (root.st_dev, root.st_ino), "process": proc}
                msg.put(self.init.chan, msg.PlanMessage(plan), fds=fds)
                if len(fds) > 2:
                    os.close(fds[2])
            finally:
                os.close(pidfd)
                theirs.close()
            self.converse()
            # The program's last steps (become) report here, as to `fire start`.
            serve(report, self.forward_listener(state))
        finally:
            report.close()
        # It runs: the join init may go, leaving it to our subreaper (or the caller's).
        self.verdict(True)
        self._reap_init()

    @staticmethod
    def forward_listener(state: State) -> Callable[[int], None]:
        def forward(fd: int) -> None:
            from fire.seccomp.notify import forward

            forward(state, fd)

        return forward

    def converse(self) -> None:
        """Serve the join init until its child is about to become the program
        (READY: the report socket tells the rest) or an error comes."""
        from fire.init.channel import Channel

        assert self.init is not None
        self.serve(self.init.chan, until_child=True)
        if self.child_chan < 0:
            raise InitError("exec: the process was not started (status {status})",
                            stage="exec", status=self._reap_init())
        chan = Channel(self.child_chan)
        try:
            self.serve(chan, until_child=False)
        finally:
            chan.close()
            self.child_chan = -1

    def serve(self, chan: Channel, until_child: bool) -> None:
        """One channel's messages: the join init's (until CHILD) or its child's
        (until READY); an ERROR is raised, EOF means the sender died."""
        from fire.init import messages as msg

        def handle(message: msg.Message, fds: list[int]) -> bool:
            if isinstance(message, msg.Child) and len(fds) >= 2:
                self.child = message.pid
                self.child_fd, self.child_chan = fds.pop(0), fds.pop(0)
                return until_child
            if isinstance(message, msg.Pty) and fds:
                self.take_pty(fds.pop(0))
                msg.put(chan, msg.Ok())
            elif isinstance(message, msg.Warn):
                log.info("{text}", text=message.text)
            elif isinstance(message, msg.Ready):
                return not until_child
            return False

        def closed() -> None:
            if not until_child:
                raise InitError("exec: the process died before it ran", stage="exec")

        msg.converse(chan, handle, closed)

    def take_pty(self, master: int) -> None:
        if self.opts.console_socket:
            from fire.container.handoff import send_console

            try:
                send_console(self.opts.console_socket, master)
            finally:
                os.close(master)
        else:
            self.master = master

    def _reap_init(self) -> int | None:
        """Wait for the join init (it exits once its child has exec'd): from then on
        the child belongs to our subreaper (us, or the caller's)."""
        assert self.init is not None
        try:
            _, status = os.waitpid(self.init.pid, 0)
        except ChildProcessError:
            return None
        return os.waitstatus_to_exitcode(status)

    def verdict(self, runs: bool) -> None:
        """Tell the join init how its child ended up (it waits for this): OK, it runs
        the program; ERROR, kill it."""
        from fire.init import messages as msg

        assert self.init is not None
        try:
            msg.put(self.init.chan, msg.Ok() if runs else msg.Error("exec"))
        except OSError:
            pass  # it is gone already

    def abandon(self) -> None:
        """A failed exec leaves no process behind: the join init kills and reaps its
        child on our word, so not even the caller's subreaper sees it."""
        import _signal

        if self.child_chan >= 0:
            os.close(self.child_chan)
            self.child_chan = -1
        if self.init is not None:
            self.verdict(False)
            if not self._wait_init(10.0):
                self.init.kill()  # stuck (a frozen cgroup): then by force
                if self.child_fd >= 0:
                    try:
                        _signal.pidfd_send_signal(self.child_fd, _signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            self._reap_init()
        if self.child and not self.opts.detach:
            try:
                os.waitpid(self.child, os.WNOHANG)  # re-parented to us if forced
            except ChildProcessError:
                pass

    def _wait_init(self, timeout: float) -> bool:
        """Has the join init exited within ``timeout`` seconds?"""
        import select

        assert self.init is not None
        try:
            fd = os.pidfd_open(self.init.pid)
        except ProcessLookupError:
            return True
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(int(timeout * 1000)))
        finally:
            os.close(fd)

    def wait(self, channel: object) -> int:
        """The foreground: run's loop (fire.container.foreground: signals forwarded,
        the terminal proxied)."""
        from fire.container.foreground import SignalChannel, Terminal, Waiter, reap

        assert isinstance(channel, SignalChannel)
        terminal = Terminal(self.master) if self.master >= 0 else None
        try:
            return Waiter(self.child, self.child_fd, channel, terminal).wait()
        finally:
            if terminal is not None:
                terminal.restore()
            reap()


def execute(store: Store, cid: str, opts: ExecOptions) -> int:
    """Run the process; its exit code (foreground) or 0 once it runs (detached)."""
    return Execution(store, cid, opts).run()
