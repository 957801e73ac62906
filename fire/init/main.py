"""The init's sequence, from the plan to ``execve``.

    namespaces ─ (fork, for a new pid/time namespace) ─ rootfs ─ mounts ─ devices
    ─ [runtime: prestart, createRuntime hooks] ─ createContainer hooks ─ pivot_root
    ─ masked/readonly paths, sysctls ─ terminal ─ find the program ─ READY
    ─ … wait for start on exec.sock … ─ startContainer hooks ─ process ─ execve

Each step is reported to the runtime as a stage (start/done), which the CLI logs
at debug level and the supervisor turns into events.  Any error is sent back as
(stage, errno, path, message) and the init exits; the runtime then tears down what
was made (the mount namespace dies with the init, so mounts need no undo).
"""

from __future__ import annotations

import _signal
import _socket
import errno
import marshal
import os
import sys

from fire.errors import FireError, HookError, InitError
from fire.hooks import runner
from fire.init import EXEC_SOCKET, devices, mounts, process, terminal
from fire.init import messages as msg
from fire.init.channel import Channel, ChannelClosed
from fire.init.paths import mkdir_all
from fire.syscalls import KernelError
from fire.syscalls import ns as nsc
from fire.syscalls import proc as p
from fire.syscalls.kernel import KERNEL, Kernel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.init.plan import HookPlan, Plan


# Signals whose default action is to ignore them: left alone in the waiting init.
# SIGPIPE stays ignored too (as Python set it): a hook that exits without reading
# its state would otherwise kill the init through the runner's write.
_IGNORED_BY_DEFAULT = {_signal.SIGCHLD, _signal.SIGCONT, _signal.SIGURG, _signal.SIGWINCH,
                       _signal.SIGPIPE}


class Stage:
    """Report a stage's start and end to the runtime."""

    def __init__(self, init: Init, name: str) -> None:
        self.init = init
        self.name = name

    def __enter__(self) -> None:
        self.init.stage = self.name
        msg.put(self.init.chan, msg.Stage(self.name, "start"))

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            msg.put(self.init.chan, msg.Stage(self.name, "done"))


class Init:
    """The init's setup; its kernel operations go through ``k`` (a recording double
    in tests/unit/fakekernel.py)."""

    def __init__(self, chan: Channel, plan: Plan, fds: list[int] | None = None,
                 k: Kernel = KERNEL) -> None:
        self.chan = chan
        self.plan = plan
        self.k = k
        self.stage = "start"
        fds = fds or [-1]
        self.listener = fds[0]  # exec.sock, bound by the runtime (see listen)
        for mp in plan["mounts"]:  # idmapped trees, made by the runtime
            if mp["idmap"] is not None:
                mp["idmap"]["fd"] = fds[mp["idmap"]["index"]]
            if mp["tree"] >= 0:  # fire.storage.detached: indices become fds
                mp["tree"] = fds[mp["tree"]]
        overlay = plan["overlay"]
        if overlay is not None and overlay["tree"] >= 0:
            overlay["tree"] = fds[overlay["tree"]]

    def expect_ok(self) -> None:
        reply, _ = msg.get(self.chan)
        if not isinstance(reply, msg.Ok):
            # The runtime failed something on our behalf (a hook): it reports it.
            os._exit(1)

    # ---------------------------------------------------------------- namespaces
    def namespaces(self) -> None:
        """The user namespace first (joined, or new); then the others with a path
        are joined (setns) in the config's order and the rest made in one unshare.

        Every namespace file is opened before any setns: a joined mount namespace
        would hide the host's /proc paths of the others."""
        plan = self.plan
        k = self.k
        joined: list[tuple[str, int, int, str]] = []
        try:
            for kind, flag, path in plan["namespaces"]:
                if path:
                    joined.append((kind, flag, k.open(path, os.O_RDONLY | os.O_CLOEXEC), path))
            self._enter(joined)
        finally:
            for _, _, fd, _ in joined:
                os.close(fd)

    def _enter(self, joined: list[tuple[str, int, int, str]]) -> None:
        plan = self.plan
        k = self.k
        for kind, flag, fd, path in joined:  # the user namespace first
            if kind == "user":
                k.setns(fd, flag, path)
        if plan["new_flags"] & nsc.CLONE_NEWUSER:
            k.unshare(nsc.CLONE_NEWUSER)
            # Dumpable while the runtime writes the maps, as runc's nsexec is: a
            # non-root runtime (or its newuidmap) may not open the /proc files of a
            # non-dumpable process (they belong to root).  Nothing of the container
            # has run yet; the init is not dumpable again before it does.
            k.prctl(p.PR_SET_DUMPABLE, 1, what="prctl(PR_SET_DUMPABLE)")
            msg.put(self.chan, msg.Idmap(os.getpid()))
            self.expect_ok()
            k.prctl(p.PR_SET_DUMPABLE, 0, what="prctl(PR_SET_DUMPABLE)")
        if plan["new_flags"] & nsc.CLONE_NEWUSER or any(j[0] == "user" for j in joined):
            try:
                k.setresgid(0, 0, 0)
                k.setresuid(0, 0, 0)
            except OSError:
                pass  # root is not mapped: keep the namespace's full capabilities
        for kind, flag, fd, path in joined:
            if kind != "user":
                k.setns(fd, flag, path)
        rest = plan["new_flags"] & ~nsc.CLONE_NEWUSER
        if rest:
            k.unshare(rest)
        if rest & nsc.CLONE_NEWNET:
            k.loopback_up()
        if plan["time_offsets"]:
            write_time_offsets(plan["time_offsets"], k)

    # ---------------------------------------------------------------- the sequence
    def run(self) -> None:
        plan = self.plan
        p.prctl(p.PR_SET_DUMPABLE, 0, what="prctl(PR_SET_DUMPABLE)")
        os.umask(0)
        process.early(plan["process"])
        with Stage(self, "namespaces"):
            self.namespaces()
        if plan["needs_fork"]:
            child = os.fork()
            if child:
                msg.put(self.chan, msg.Child(child))
                os._exit(0)
        os.setsid()
        _install_signal_handlers()
        if plan["new_keyring"]:
            try:
                p.join_session_keyring("_ses." + plan["id"])
            except KernelError as exc:
                if exc.errno not in (errno.ENOSYS, errno.EPERM, errno.EACCES):
                    raise
        rootfd = self.build_tree()
        self.runtime_turn()
        if plan["hooks_create_container"]:
            with Stage(self, "hooks:createContainer"):
                self.hooks("createContainer", plan["hooks_create_container"], b"created")
        listener = self.listen()
        prepared = process.prepare(plan["process"])  # the host's /proc, still
        lockdown_imports()
        rootfd = self.enter_tree(rootfd)
        slave = -1
        program = ""
        proc = plan["process"]
        if proc is not None:
            with Stage(self, "process"):
                if proc["terminal"]:
                    master, slave = terminal.open_pty(rootfd, proc["console_size"])
                    msg.put(self.chan, msg.Pty(), fds=[master])
                    os.close(master)
                    self.expect_ok()
                program = process.find_program(rootfd, proc)
                process.set_rlimits(proc)  # runc's moment: a refused limit fails create
        self.seal_tree()
        msg.put(self.chan, msg.Ready(os.getpid()))
        self.chan.close()
        self.stage = "start"
        conn = self.wait_for_start(listener)
        listener.close()
        try:
            if plan["hooks_start_container"]:
                self.hooks("startContainer", plan["hooks_start_container"], b"created",
                           lambda text: _send_line(conn, "L", text))
            if proc is None:
                raise InitError("cannot start: config.json has no process ($.process)",
                                stage="start")
            process.become(rootfd, proc, program, slave, conn, prepared)
        except BaseException as exc:
            if isinstance(exc, HookError):  # the runtime destroys (runtime.md step 7)
                _send_line(conn, "H", "startContainer")
            template, params = error_template(exc)
            if template:
                _send_line(conn, "T", marshal.dumps((template, params)).hex())
            _send_line(conn, "E", describe(self.stage, exc))
            os._exit(1)

    def runtime_turn(self) -> None:
        """The runtime's turn (network:attach, then prestart + createRuntime hooks):
        it reports those stages itself, when it reads this message, so the stage
        channel keeps the graph's order.  The init waits for the turn to end only
        when it has work (``runtime_turn``: hooks, network devices, Fire's network);
        otherwise the runtime sends no answer, and the round trip (≈0.2-0.3 ms of
        ``create``'s critical path) is skipped."""
        msg.put(self.chan, msg.Hooks())
        if self.plan["runtime_turn"]:
            self.expect_ok()

    # ---------------------------------------------------------------- the tree
    def build_tree(self) -> int:
        """The container's tree before pivot_root: the rootfs, the config's mounts
        in order, /dev, the cwd; then the names.  Returns an fd of the rootfs."""
        plan = self.plan
        k = self.k
        with Stage(self, "rootfs"):
            rootfd = mounts.prepare_root(plan, k)
        try:
            with Stage(self, "mounts"):
                mounts.mount_all(rootfd, plan, k)
            with Stage(self, "devices"):
                devices.setup_dev(rootfd, plan["devices"], plan["default_devices"],
                                  plan["bind_devices"], k)
                if plan["process"] is not None:
                    os.close(mkdir_all(rootfd, plan["process"]["cwd"], k=k))
            if plan["hostname"] is not None:
                k.sethostname(plan["hostname"])
            if plan["domainname"] is not None:
                k.setdomainname(plan["domainname"])
        except BaseException:
            os.close(rootfd)
            raise
        return rootfd

    def enter_tree(self, rootfd: int) -> int:
        """pivot_root (consumes ``rootfd``), then, inside, the sysctls, read-only
        and masked paths.  Returns an fd of the new "/"."""
        plan = self.plan
        k = self.k
        with Stage(self, "pivot_root"):
            try:
                mounts.pivot(rootfd, plan["no_pivot"], plan["propagation"], plan["chroot"], k)
            finally:
                os.close(rootfd)
            rootfd = k.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with Stage(self, "paths"):
                # runc's order: sysctls while /proc/sys is still writable, then the
                # read-only paths, then the masks.
                mounts.write_sysctls(rootfd, plan["sysctl"], k)
                mounts.readonly_paths(rootfd, plan["readonly_paths"], k)
                mounts.mask_paths(rootfd, plan["masked_paths"], k)
                mounts.reopen_null(rootfd, k)
        except BaseException:
            os.close(rootfd)
            raise
        return rootfd

    def seal_tree(self) -> None:
        """The last mounts, after the process's pty and program are found: a
        read-only "/" and an unbindable one."""
        if self.plan["root_readonly"]:
            mounts.readonly_root(self.k)
        mounts.finish_root(self.plan["propagation"], self.k)

    def hooks(self, phase: str, hooks: list[HookPlan], status: bytes,
              output: Callable[[str], None] | None = None) -> None:
        """createContainer / startContainer hooks, forked from here: inside the
        container's namespaces, so the pid they are shown is ours as seen from
        there (1 in a new pid namespace)."""
        state = self.plan["state_json"].replace(b'"status":"@"', b'"status":"' + status + b'"')
        state = state.replace(b'"pid":-1', b'"pid":%d' % os.getpid())
        if output is None:
            def output(text: str) -> None:
                msg.put(self.chan, msg.Warn(text))
        runner.run_all(hooks, state, phase, output)

    # ---------------------------------------------------------------- start
    def listen(self) -> _socket.socket:
        """The socket ``fire start`` connects to.

        The runtime binds it in the state directory and sends it with the plan: in
        a new user namespace the init may not even search ``--root`` (0700).  The
        fallback binds it here, before pivot_root.
        """
        if self.listener >= 0:
            return _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, self.listener)
        dirfd = os.open(self.plan["state_dir"], os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
            sock.bind(f"/proc/self/fd/{dirfd}/{EXEC_SOCKET}")
            sock.listen(4)
        finally:
            os.close(dirfd)
        return sock

    def wait_for_start(self, listener: _socket.socket) -> _socket.socket:
        while True:
            conn, _ = listener._accept()  # type: ignore[attr-defined]
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, conn)
            try:
                request = sock.recv(64)
            except OSError:
                request = b""
            if request.startswith(b"start"):
                os.set_inheritable(sock.fileno(), False)
                return sock
            sock.close()


def write_time_offsets(offsets: list[tuple[str, int, int]], k: Kernel = KERNEL) -> None:
    """Offsets of the new time namespace (for the children we fork next).

    A non-dumpable process's /proc files belong to the root of the user namespace
    it was exec'd in (the host's), so inside a new user namespace the init could
    not open its own ``timens_offsets``: it is dumpable for this one write, before
    any other process exists in the container.
    """
    text = "".join(f"{clock} {secs} {nanosecs}\n" for clock, secs, nanosecs in offsets)
    k.prctl(p.PR_SET_DUMPABLE, 1, what="prctl(PR_SET_DUMPABLE)")
    try:
        fd = k.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    finally:
        k.prctl(p.PR_SET_DUMPABLE, 0, what="prctl(PR_SET_DUMPABLE)")


def _send_line(conn: _socket.socket, kind: str, text: str) -> None:
    try:
        conn.sendall(f"{kind} {text}".replace("\n", " ").encode() + b"\n")
    except OSError:
        pass


def error_template(exc: BaseException) -> tuple[str, dict[str, object]]:
    """The English template and parameters of a FireError, for the runtime to
    render in the user's language (the init itself has no catalog)."""
    if not isinstance(exc, FireError):
        return "", {}
    params: dict[str, object] = {k: v if isinstance(v, (str, int)) else str(v)
                                 for k, v in exc.params.items()}
    return exc.template, params


def failure(stage: str, exc: BaseException) -> msg.Error:
    """The ERROR message the init sends for ``exc``, raised during ``stage``."""
    err = exc.errno if isinstance(exc, OSError) and exc.errno else 0
    path = exc.filename if isinstance(exc, OSError) and exc.filename else ""
    if isinstance(exc, HookError):
        stage = "hook"
    template, params = error_template(exc)
    return msg.Error(stage, err, str(path), describe(stage, exc), template, params)


def describe(stage: str, exc: BaseException) -> str:
    """The one line an init (this one, or an exec's: fire.init.join) reports for a
    failure at ``stage``."""
    if isinstance(exc, (InitError, HookError)):  # a hook error names its hook
        return str(exc)
    if isinstance(exc, (FireError, KernelError)):
        return f"{stage}: {exc}"
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"{stage}:{where} {exc.strerror or exc}"
    return f"{stage}: {type(exc).__name__}: {exc}"


def _on_signal(sig: int, frame: object) -> None:
    if os.getpid() == 1:
        # pid 1 of a namespace cannot die from its own default action; exit the way
        # a shell reports a signal death.
        os._exit(128 + sig)
    _signal.signal(sig, _signal.SIG_DFL)
    os.kill(os.getpid(), sig)


def _install_signal_handlers() -> None:
    for sig in range(1, _signal.NSIG):
        if sig in (_signal.SIGKILL, _signal.SIGSTOP) or sig in _IGNORED_BY_DEFAULT:
            continue
        try:
            _signal.signal(sig, _on_signal)
        except (OSError, ValueError, RuntimeError):
            pass  # signals the kernel reserves (32, 33 for the C library's threads)


def lockdown_imports() -> None:
    """After pivot_root the filesystem is the container's: no import may reach it.

    Only builtin and frozen modules (inside the interpreter binary) stay importable.
    """
    sys.path.clear()
    sys.path_hooks.clear()
    sys.path_importer_cache.clear()
    sys.meta_path[:] = [f for f in sys.meta_path
                        if getattr(f, "__name__", "") in ("BuiltinImporter", "FrozenImporter")]


def main(fd: int) -> None:
    """Entry point: ``python -I -S -c 'from fire.init.main import main; main(FD)'``."""
    chan = Channel(fd)
    init: Init | None = None
    try:
        first, fds = msg.get(chan)
        if not isinstance(first, msg.PlanMessage):
            os._exit(2)
        init = Init(chan, first.plan, fds)  # type: ignore[arg-type]
        if init.plan["process"] and init.plan["process"]["terminal"]:
            # Spawned before config.json was read (create's early start): only now
            # is it known that the pty, not the caller's pipes, will be its stdio.
            terminal.null_stdio()
        init.run()
    except ChannelClosed:
        os._exit(1)
    except BaseException as exc:
        try:
            msg.put(chan, failure(init.stage if init else "plan", exc))
        except OSError:
            pass
        os._exit(1)
    os._exit(0)
