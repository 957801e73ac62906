"""A fork server for the engine commands the supervisor runs (``fire create``, …).

Starting 1,000 containers is 2,000 ``python -m fire`` processes; each pays for an
interpreter's start and the imports of its command (~60 % of a ``create``'s CPU,
docs/performance.md), the same work every time.  The fork server is a process the
supervisor forks *before* trio runs (so: one thread, no trio), which imports the
engine commands once and then, for each request, forks a child that runs
``fire.cli.main`` like ``python -m fire`` would:

* the same argv, environment and working directory (the request's);
* fds 0, 1 and 2 and the ``pass_fds`` at the numbers the supervisor gave them
  (``FIRE_STAGE_FD`` and ``FIRE_DELEGATE_FD`` name them), every other fd closed;
* a new session, the signal dispositions and mask of a new interpreter;
* its exit status: ``leave(main())``, 1 with a traceback for an uncaught
  exception.

The child is the supervisor's child, not the server's: the server forks twice
and the middle process exits at once, so the child is re-parented to the
supervisor (a child subreaper, ``fire.supervisor.reaper``), which waits for it by
pidfd as for any process it started.  The server answers with the child's pid
only once the middle process is gone.

Requests come on a ``SOCK_SEQPACKET`` socket, one at a time: a JSON message with
the fds (``SCM_RIGHTS``); the answer is the pid, or an error.  The server ends
when the supervisor's end of the socket closes (its exit, even a ``kill -9``).
When the server cannot be used (it failed to start, or died), the supervisor
starts ``python -m fire`` processes as before (``fire.supervisor.engine``).

Engines never see any of this: ``fire`` run by podman or containerd is the plain
command.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import NoReturn

    import trio

# What the server imports once: the commands the supervisor runs, and what they
# import on their way (the rest is imported by the child that needs it).
PRELOAD = ("fire.cli", "fire.cli.create", "fire.cli.start", "fire.cli.delete", "fire.cli.kill",
           "fire.cli.state", "fire.cli.exec", "fire.container.create", "fire.spec.load",
           "fire.store", "fire.cgroup.translate", "fire.cgroup.devices", "fire.security.setup")
# Signals a new interpreter does not leave at their default.
PYTHON_IGNORES = (signal.SIGPIPE, signal.SIGXFSZ)
MESSAGE = 1 << 20  # bytes of a request, at most (the environment is in it)
MAX_FDS = 16


class ForkServer:
    """The supervisor's end: ``start()`` before trio runs, ``spawn()`` inside it."""

    def __init__(self) -> None:
        self.pid = -1
        self.sock: socket.socket | None = None
        self._trio_sock: trio.socket.SocketType | None = None
        self._lock: trio.Lock | None = None

    def start(self, env: dict[str, str]) -> bool:
        """Fork the server (the caller has one thread); whether it runs."""
        try:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError:
            return False
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return False
        if pid == 0:  # the server
            ours.close()
            _serve(theirs, env)
        theirs.close()
        self.pid, self.sock = pid, ours
        return True

    @property
    def usable(self) -> bool:
        return self.sock is not None

    async def spawn(self, argv: list[str], env: dict[str, str], fds: dict[int, int]) -> int:
        """The pid of a new child running ``fire`` with ``argv`` (what follows
        ``python -m fire``), ``env``, and ``fds`` (its fd number → ours).  OSError
        when the server cannot do it (then it is not used again)."""
        import trio

        if self.sock is None:
            raise OSError("the fork server is not running")
        if self._trio_sock is None:
            self._trio_sock = trio.socket.from_stdlib_socket(self.sock)
            self._lock = trio.Lock()
        assert self._lock is not None
        request = json.dumps({"argv": argv, "env": env, "cwd": os.getcwd(),
                              "targets": list(fds)}).encode()
        # Shielded: a request cut between its message and its answer would leave the
        # answer to the next request (and a child nobody knows about).
        with trio.CancelScope(shield=True):
            async with self._lock:
                try:
                    await self._trio_sock.sendmsg(
                        [request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                     array.array("i", list(fds.values())))])
                    answer = await self._trio_sock.recv(4096)
                except OSError:
                    self.close()
                    raise
        if not answer:
            self.close()
            raise OSError("the fork server exited")
        reply = json.loads(answer)
        if "error" in reply:
            raise OSError(int(reply.get("errno", 0)), str(reply["error"]))
        return int(reply["pid"])

    def stop(self) -> None:
        """The supervisor's end (after trio): close our end, wait for the server."""
        if self.sock is not None:
            self.sock.close()  # the trio socket's own: it is the same descriptor
        self.sock = self._trio_sock = None
        if self.pid > 0:
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass  # it died earlier, and the orphan reaper took it
            self.pid = -1

    def close(self) -> None:
        """Stop using the server (it exits once our end is closed)."""
        if self._trio_sock is not None:
            self._trio_sock.close()
        elif self.sock is not None:
            self.sock.close()
        self.sock = self._trio_sock = None


# ---------------------------------------------------------------------- the server
def _serve(sock: socket.socket, env: dict[str, str]) -> NoReturn:
    """The server's loop (never returns): one request at a time, until EOF."""
    code = 0
    try:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                       signal.SIGUSR1, signal.SIGUSR2, signal.SIGTSTP, signal.SIGTTIN,
                       signal.SIGTTOU):
            signal.signal(signum, signal.SIG_IGN)  # the supervisor's to handle, not ours
        os.environ.clear()
        os.environ.update(env)  # the commands' environment, for what reads it on import
        import gc

        for name in PRELOAD:
            __import__(name)
        gc.collect()
        gc.freeze()  # the children share these pages instead of copying them
        while True:
            message, fds, _flags, _addr = socket.recv_fds(sock, MESSAGE, MAX_FDS)
            if not message:
                break
            reply: dict[str, object]
            try:
                reply = {"pid": _fork(sock, json.loads(message), fds)}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                reply = {"error": str(exc), "errno": getattr(exc, "errno", 0) or 0}
            finally:
                for fd in fds:
                    os.close(fd)
            sock.send(json.dumps(reply).encode())
    except BaseException:  # the server must never run the supervisor's code
        code = 1
    os._exit(code)


def _fork(sock: socket.socket, request: dict[str, object], fds: list[int]) -> int:
    """Fork twice: the grandchild runs the command, the middle process tells its
    pid and exits (its exit re-parents the grandchild to the supervisor)."""
    targets = [int(t) for t in request["targets"]]  # type: ignore[attr-defined]
    if len(targets) != len(fds):
        raise ValueError("the request's fds do not match its targets")
    read_pid, write_pid = os.pipe2(os.O_CLOEXEC)
    try:
        middle = os.fork()
        if middle == 0:
            status = 0
            try:
                os.close(read_pid)
                child = os.fork()
                if child == 0:
                    os.close(write_pid)
                    sock.close()
                    _child(request, fds, targets)
                os.write(write_pid, str(child).encode())
            except BaseException:  # any: the middle process only exits
                status = 1
            os._exit(status)
        os.close(write_pid)
        write_pid = -1
        pid = os.read(read_pid, 32)
        os.waitpid(middle, 0)
    finally:
        os.close(read_pid)
        if write_pid >= 0:
            os.close(write_pid)
    if not pid:
        raise OSError("fork failed")
    return int(pid)


def _child(request: dict[str, object], fds: list[int], targets: list[int]) -> NoReturn:
    """Become ``python -m fire ARGV``: fds, session, signals, environment, argv."""
    code = 1
    try:
        os.setsid()
        base = max([*targets, *fds, 2]) + 1
        high = [_dup_above(fd, base) for fd in fds]  # out of the targets' way
        for fd, target in zip(high, targets, strict=True):
            os.dup2(fd, target, inheritable=True)
        keep = set(targets)
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        for signum in range(1, signal.NSIG):
            if signum in (signal.SIGKILL, signal.SIGSTOP):
                continue
            try:
                if signum == signal.SIGINT:
                    signal.signal(signum, signal.default_int_handler)
                elif signum in PYTHON_IGNORES:
                    signal.signal(signum, signal.SIG_IGN)
                elif signal.getsignal(signum) is not signal.SIG_DFL:
                    signal.signal(signum, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})  # type: ignore[attr-defined]
        argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
        import fire

        sys.argv = [os.path.join(os.path.dirname(fire.__file__), "__main__.py"), *argv]
        from fire.cli import leave, main

        leave(main(argv))
    except SystemExit as exc:  # as the interpreter says it
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            sys.stderr.write(f"{exc.code}\n")
    except BaseException:  # as the interpreter would: a traceback, 1
        import traceback

        traceback.print_exc()
    from fire.cli import leave

    leave(code)  # flush Python's stdout and stderr, then _exit, as every command does


def _dup_above(fd: int, base: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, base)
