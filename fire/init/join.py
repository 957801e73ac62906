"""The init of an exec'd process: join a running container, then become the program.

    runtime  spawn a sealed interpreter ─ put it in the container's cgroup ─ PLAN + pidfd
    join     disable imports ─ setns(pidfd, every namespace that differs) ─ check "/" ─ fork
    middle   CHILD pid ─ exit
    child    setsid ─ terminal (PTY) ─ find the program ─ process.become() ─ execve

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
exits instead of waiting: conmon and containerd's shim expect the exec'd process to
be re-parented to them (they are child subreapers) and reap it themselves; in the
foreground ``fire exec`` is the subreaper that inherits it.

Imports are disabled *before* ``setns``: once we are in the container's mount
namespace, every path the import system could look at is the container's.
Everything used afterwards is imported at the top of this module.
"""

from __future__ import annotations

import os

from fire.errors import FireError, InitError
from fire.init import plan as msg
from fire.init.channel import Channel, ChannelClosed
from fire.init.main import lockdown_imports
from fire.init.paths import open_in_root
from fire.init.process import become, find_program
from fire.syscalls import KernelError
from fire.syscalls import ns as nsc
from fire.syscalls import proc as p
from fire.syscalls.tty import set_winsize, unlock_pt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypedDict

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


def describe(stage: str, exc: BaseException) -> str:
    if isinstance(exc, InitError):
        return str(exc.params.get("detail", exc))
    if isinstance(exc, (FireError, KernelError)):
        return f"{stage}: {exc}"
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"{stage}:{where} {exc.strerror or exc}"
    return f"{stage}: {type(exc).__name__}: {exc}"


class Join:
    def __init__(self, chan: Channel, plan: JoinPlan, pidfd: int) -> None:
        self.chan = chan
        self.plan = plan
        self.pidfd = pidfd
        self.stage = "join"

    def enter(self) -> None:
        """Every namespace of the container, then a check that "/" is its root."""
        flags = self.plan["flags"]
        if flags:
            nsc.setns(self.pidfd, flags)
        os.close(self.pidfd)
        os.chdir("/")  # never the runtime's working directory
        if flags & nsc.CLONE_NEWUSER:
            try:
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
            except OSError:
                pass  # root is not mapped: keep the namespace's full capabilities
        st = os.stat("/")
        if (st.st_dev, st.st_ino) != tuple(self.plan["root"]):
            raise InitError(None, stage="join",
                            detail="the root of the container's mount namespace is not "
                            "the container's root")

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
            self.chan.send(msg.PTY, fds=[master])
            os.close(master)
            reply, _ = self.chan.recv()
            if reply[0] != msg.OK:
                os._exit(1)  # the runtime could not pass the terminal on; it reports that
        self.stage = "exec"
        program = find_program(rootfd, proc)
        # Success closes the channel (close-on-exec): the runtime sees EOF.
        become(rootfd, proc, program, slave)

    def run(self) -> None:
        p.prctl(p.PR_SET_DUMPABLE, 0, what="prctl(PR_SET_DUMPABLE)")
        lockdown_imports()
        self.enter()
        self.stage = "fork"
        pid = os.fork()
        if pid == 0:
            try:
                self.child()
            except BaseException as exc:
                self.fail(exc)
            os._exit(1)
        self.chan.send(msg.CHILD, pid)

    def fail(self, exc: BaseException) -> None:
        err = exc.errno if isinstance(exc, OSError) and exc.errno else 0
        path = exc.filename if isinstance(exc, OSError) and exc.filename else ""
        try:
            self.chan.send(msg.ERROR, self.stage, err, str(path), describe(self.stage, exc))
        except OSError:
            pass  # the channel may be gone, or a seccomp filter may forbid sendmsg


def main(fd: int) -> None:
    """Entry point: ``python -I -S -c 'from fire.init.join import main; main(FD)'``."""
    chan = Channel(fd)
    try:
        first, fds = chan.recv()
    except (ChannelClosed, OSError):
        os._exit(1)
    if first[0] != msg.PLAN or len(fds) != 1:
        os._exit(2)
    join = Join(chan, first[1], fds[0])  # type: ignore[arg-type]
    try:
        join.run()
    except BaseException as exc:
        join.fail(exc)
        os._exit(1)
    os._exit(0)

