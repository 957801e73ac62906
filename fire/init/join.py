"""The init of an exec'd process: join a running container, then become the program.

    runtime  spawn a sealed interpreter ─ put it in the container's cgroup
             ─ PLAN + (pidfd, report socket)
    join     open the host's /proc ─ disable imports ─ setns(pidfd, every namespace that
             differs) ─ (chroot, for a container without a mount namespace of its
             own) ─ check "/" ─ fork
    middle   CHILD pid + (pidfd, the child's channel) ─ wait for the runtime's verdict
             (OK: exit; otherwise kill and reap the child) ─ exit
    child    setsid ─ terminal (PTY) ─ find the program ─ LSM label files ─ READY,
             close its channel ─ process.become() ─ execve

The child reports on its own channel (PTY, errors up to finding the program; READY
when it closes it), then on the report socket that
``process.become()`` writes to as it would to ``fire start``'s connection (``E``/``T``
lines for an error, ``N`` to hand a seccomp notify listener over); the runtime reads
it with ``fire.container.start.serve``.

Why the same sealed interpreter as ``create`` (fire/container/spawn.py): until
``execve`` this process is the host's Python *inside* the container, exactly like
the container's init, so the CVE-2019-5736 argument is the same.

Why ``setns`` with the container process's pidfd (kernel 5.8): one call moves us
into every namespace at once, the user namespace first by the kernel's own rule,
and the pidfd pins the process, so a reused pid cannot send us elsewhere.  Only the
namespaces that differ from ours are asked for: re-entering one's own user
namespace is refused (EINVAL), and a container may share the host's network or
pid namespace.

Why a fork: a new pid (or time) namespace applies to children only.  Why the middle
exits once the program runs instead of waiting for it: conmon and containerd's shim
expect the exec'd process to be re-parented to them (they are child subreapers) and
reap it themselves; in the foreground ``fire exec`` is the subreaper that inherits
it.  A child that fails before ``execve`` is reaped by the middle, on the runtime's
word: no engine sees a process that never ran.

Imports are disabled *before* ``setns``: once we are in the container's mount
namespace, every path the import system could look at is the container's.
Everything used afterwards is imported at the top of this module.  For the same
reason the LSM exec-label files are opened through an fd of the *host's* /proc
taken before ``setns`` (the container's /proc could be shadowed: CVE-2019-16884);
that fd is closed before ``become``, and the process is non-dumpable meanwhile.

Not applied to an exec'd process: ``oomScoreAdj`` (runc 1.1 neither; it keeps the
caller's, which conmon and the shim choose).
"""

from __future__ import annotations

import _socket
import marshal
import os

from fire.errors import InitError
from fire.init import messages as msg
from fire.init.channel import Channel, ChannelClosed
from fire.init.main import describe, error_template, lockdown_imports
from fire.init.paths import open_in_root
from fire.init.process import Prepared, become, find_program
from fire.security import lsm
from fire.syscalls import ns as nsc
from fire.syscalls import proc as p
from fire.syscalls.tty import set_winsize, unlock_pt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn, TypedDict

    from fire.init.plan import ProcessPlan

    class JoinPlan(TypedDict):
        flags: int  # CLONE_NEW* of the namespaces to join (those that differ from ours)
        root: tuple[int, int]  # (st_dev, st_ino) of the container's "/" seen from the host
        process: ProcessPlan


def open_pty(rootfd: int, size: tuple[int, int] | None) -> tuple[int, int]:
    """(master, slave) from the container's own devpts (no /dev/console: that is
    the container's init's)."""
    master = open_in_root(rootfd, "/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
    try:
        n = unlock_pt(master)
        slave = open_in_root(rootfd, f"/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY, no_symlinks=True)
        if size:
            set_winsize(master, size[0], size[1])
    except BaseException:
        os.close(master)
        raise
    return master, slave


def prepare_labels(proc: ProcessPlan, procfd: int) -> Prepared:
    """``process.prepare``, through an fd of the host's /proc: this process is in the
    container's mount namespace already.  ``thread-self`` on the host's procfs is
    this thread (it names it by its host tid)."""
    out = Prepared()
    for name, label in ((lsm.APPARMOR, proc["apparmor"]), (lsm.SELINUX, proc["selinux"])):
        if not label:
            continue
        last: OSError | None = None
        for rel in lsm.EXEC_ATTR[name]:
            try:
                fd = os.open(rel, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=procfd)
                break
            except OSError as exc:
                last = exc
        else:
            out.close()
            reason = last.strerror if last is not None else "not found"
            raise InitError("{lsm}: cannot open the exec label file: {reason}", stage=name,
                            lsm=name, reason=reason)
        out.labels.append((name, fd, label))
    return out


def send_line(conn: _socket.socket, kind: str, text: str) -> None:
    try:
        conn.sendall(f"{kind} {text}".replace("\n", " ").encode() + b"\n")
    except OSError:
        pass


class Join:
    def __init__(self, chan: Channel, plan: JoinPlan, pidfd: int, report: int,
                 rootfd: int = -1) -> None:
        self.chan = chan
        self.plan = plan
        self.pidfd = pidfd
        self.rootfd = rootfd  # a container chrooted in our mount namespace: its root
        self.report = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, report)
        self.procfd = -1
        self.stage = "join"

    def enter(self) -> None:
        """Every namespace of the container, then a check that "/" is its root."""
        flags = self.plan["flags"]
        if flags:
            nsc.setns(self.pidfd, flags)
        os.close(self.pidfd)
        if self.rootfd >= 0:
            os.fchdir(self.rootfd)
            os.chroot(".")
            os.close(self.rootfd)
        os.chdir("/")  # never the runtime's working directory
        if flags & nsc.CLONE_NEWUSER:
            try:
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
            except OSError:
                pass  # root is not mapped: keep the namespace's full capabilities
        st = os.stat("/")
        if (st.st_dev, st.st_ino) != tuple(self.plan["root"]):
            raise InitError("join: the root of the container's mount namespace is not the "
                            "container's root", stage="join")

    def child(self) -> None:
        """In the container's pid namespace: set up and become the program."""
        proc = self.plan["process"]
        self.stage = "process"
        os.setsid()
        rootfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        slave = -1
        if proc["terminal"]:
            self.stage = "terminal"
            master, slave = open_pty(rootfd, proc["console_size"])
            msg.put(self.chan, msg.Pty(), fds=[master])
            os.close(master)
            reply, _ = msg.get(self.chan)
            if not isinstance(reply, msg.Ok):
                self.give_up()  # the runtime could not pass the terminal on; it reports that
        self.stage = "exec"
        program = find_program(rootfd, proc)
        prepared = prepare_labels(proc, self.procfd)
        os.close(self.procfd)
        msg.put(self.chan, msg.Ready(os.getpid()))  # the rest goes to the report socket
        self.chan.close()
        try:
            # Success closes the report socket (close-on-exec): the runtime sees EOF.
            become(rootfd, proc, program, slave, self.report, prepared)
        except BaseException as exc:
            template, params = error_template(exc)
            if template:
                send_line(self.report, "T", marshal.dumps((template, params)).hex())
            send_line(self.report, "E", describe(self.stage, exc))
            self.give_up()

    def give_up(self) -> NoReturn:
        """The child failed before ``execve`` (it said so): the middle reaps it."""
        os._exit(1)

    def run(self) -> None:
        p.prctl(p.PR_SET_DUMPABLE, 0, what="prctl(PR_SET_DUMPABLE)")
        self.procfd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        lockdown_imports()
        self.enter()
        self.stage = "fork"
        # The child talks to the runtime on a channel of its own: replies meant for
        # it (the terminal's OK) must not reach the middle, which waits on this one.
        child_chan, theirs = Channel.pair()
        pid = os.fork()
        if pid == 0:
            self.chan.close()
            self.chan = child_chan
            os.close(theirs)
            try:
                self.child()
            except BaseException as exc:
                self.fail(exc)
            self.give_up()
        child_chan.close()
        # The child's alone: the runtime sees EOF on the report socket at its execve.
        self.report.close()
        os.close(self.procfd)
        # With a pidfd the runtime can signal the child safely even after we reap it.
        child_fd = os.pidfd_open(pid)
        msg.put(self.chan, msg.Child(pid), fds=[child_fd, theirs])
        os.close(child_fd)
        os.close(theirs)
        self.verdict(pid)

    def verdict(self, pid: int) -> None:
        """Stay until the runtime knows how the child ended up: OK (it runs the
        program: leave it to the subreaper, which owns its exit status) or anything
        else (it failed, or the runtime is gone: make sure it is dead and reap it,
        so that no engine sees a process that never ran)."""
        try:
            reply, _ = msg.get(self.chan)
        except (ChannelClosed, OSError, msg.ProtocolError):
            reply = msg.Error()
        if isinstance(reply, msg.Ok):
            return
        try:
            os.kill(pid, 9)  # still our child (unreaped): the pid is its own
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)

    def fail(self, exc: BaseException) -> None:
        err = exc.errno if isinstance(exc, OSError) and exc.errno else 0
        path = exc.filename if isinstance(exc, OSError) and exc.filename else ""
        try:
            msg.put(self.chan, msg.Error(self.stage, err, str(path), describe(self.stage, exc)))
        except OSError:
            pass  # the channel is gone


def main(fd: int) -> None:
    """Entry point: ``python -I -S -c 'from fire.init.join import main; main(FD)'``."""
    chan = Channel(fd)
    try:
        first, fds = msg.get(chan)
    except (ChannelClosed, OSError, msg.ProtocolError):
        os._exit(1)
    if not isinstance(first, msg.PlanMessage) or len(fds) not in (2, 3):
        os._exit(2)
    join = Join(chan, first.plan, *fds)  # type: ignore[arg-type]
    try:
        join.run()
    except BaseException as exc:
        join.fail(exc)
        os._exit(1)
    os._exit(0)

