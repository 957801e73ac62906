"""The engine path, called as subprocesses: ``python -m fire --root R <verb> …``.

The supervisor never forks or unshares itself once trio runs (trio has threads:
``unshare(CLONE_NEWUSER)`` fails in a threaded process and a fork there copies locks
held by other threads); its one fork is the fork server's, before trio starts
(``fire.supervisor.forkserver``).  Everything that makes or tears down a container
runs in a single-threaded ``fire`` process instead — the same code an engine runs,
forked by that server with the commands already imported, or a new interpreter when
there is no server — and the supervisor only watches: the create process's stage
channel (``FIRE_STAGE_FD``, see ``fire.container.create``), its exit code, and
the container's process, which becomes the supervisor's child once ``create``
exits (see ``fire.supervisor.reaper``).  What the commands delegate back (their
runtime-side hooks, the netlink work of ``network:attach``) is done here, on
``FIRE_DELEGATE_FD`` (``fire.supervisor.delegation``).

Every process started here is registered with the reaper while it lives, so
that orphan reaping never takes its exit status from trio.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import trio

import fire
from fire.delegate import DELEGATE_FD_ENV, PREPARED_FD_ENV, STAGE_FD_ENV

if TYPE_CHECKING:
    from fire.supervisor.delegation import Delegation
    from fire.supervisor.forkserver import ForkServer
    from fire.supervisor.reaper import Reaper

# The directory holding the `fire` package: the subprocesses import the same code.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fire.__file__)))


class Completed:
    __slots__ = ("code", "error", "stderr")

    def __init__(self, code: int, stderr: str) -> None:
        self.code = code
        self.stderr = stderr
        self.error = last_error(stderr) or (f"exited with status {code}" if code else "")


def last_error(stderr: str) -> str:
    """The one-line error a failing ``fire`` command printed (``fire: …``)."""
    for line in reversed(stderr.strip().splitlines()):
        if line.startswith("fire: "):
            return line[len("fire: "):]
    return ""


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + path if path else "")
    env.pop(STAGE_FD_ENV, None)
    env.pop(DELEGATE_FD_ENV, None)
    env.pop(PREPARED_FD_ENV, None)
    for name in ("LANG", "LC_ALL", "LC_MESSAGES"):  # errors are parsed: keep them English
        env.pop(name, None)
    env.update(extra or {})
    return env


class Forked:
    """A ``fire`` process the fork server started (``fire.supervisor.forkserver``),
    as much of ``trio.Process`` as the supervisor uses: our child, waited for by
    pidfd."""

    def __init__(self, pid: int, stdout: trio.lowlevel.FdStream | None,
                 stderr: trio.lowlevel.FdStream | None) -> None:
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None

    async def wait(self) -> int:
        """Its exit code (-N: killed by signal N, as ``trio.Process`` says it)."""
        if self.returncode is None:
            try:
                await trio.lowlevel.wait_readable(self.pidfd)
                info = os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED)  # noqa: ASYNC222
            except ChildProcessError:  # reaped already (kill_tree does)
                self.returncode = -9
            else:
                assert info is not None
                self.returncode = (info.si_status if info.si_code == os.CLD_EXITED
                                   else -info.si_status)
            os.close(self.pidfd)
            self.pidfd = -1
        return self.returncode


Started = trio.Process | Forked


class Engine:
    def __init__(self, root: str, reaper: Reaper, python: str | None = None,
                 forkserver: ForkServer | None = None) -> None:
        self.root = root
        self.reaper = reaper
        self.python = python or sys.executable
        self.forkserver = forkserver  # when usable: children forked, not interpreters

    def argv(self, *args: str) -> list[str]:
        return [self.python, "-m", "fire", "--root", self.root, *args]

    async def open(self, args: list[str], *, stdout: int | None = None,
                   stderr: int | None = None, pass_fds: tuple[int, ...] = (),
                   env: dict[str, str] | None = None,
                   delegation: Delegation | None = None) -> Started:
        """Start a fire process (stdin is /dev/null); it is registered as ours.
        With a ``delegation``, it gets the delegation channel (fire.delegate).
        Forked by the fork server when there is one, else a new interpreter."""
        env = dict(env or {})
        if delegation is not None:
            fd, names = delegation.open()
            pass_fds = (*pass_fds, fd)
            env.update(names)
        try:
            with self.reaper.hold():
                proc: Started | None = None
                if self.forkserver is not None and self.forkserver.usable:
                    proc = await self._fork(
                        list(args), subprocess.DEVNULL if stdout is None else stdout,
                        subprocess.PIPE if stderr is None else stderr, pass_fds, env)
                if proc is None:
                    proc = await trio.lowlevel.open_process(
                        self.argv(*args), stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL if stdout is None else stdout,
                        stderr=subprocess.PIPE if stderr is None else stderr,
                        pass_fds=pass_fds, env=environment(env), start_new_session=True)
                self.reaper.owned.add(proc.pid)
        except BaseException:
            if delegation is not None:
                delegation.close()
            raise
        finally:
            if delegation is not None:
                delegation.started()
        return proc

    async def _fork(self, args: list[str], stdout: int, stderr: int,
                    pass_fds: tuple[int, ...], env: dict[str, str]) -> Forked | None:
        """``open`` through the fork server: the same fds as ``open_process`` would
        give (``subprocess.PIPE``/``STDOUT``/``DEVNULL`` included); None when the
        server cannot (the caller starts an interpreter instead)."""
        assert self.forkserver is not None
        ours: list[int] = []  # our ends and copies, closed once sent
        streams: dict[str, trio.lowlevel.FdStream] = {}
        try:
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            ours.append(null)
            fds = {0: null}
            for target, given in ((1, stdout), (2, stderr)):
                if given == subprocess.STDOUT:
                    fds[target] = fds[1]
                elif given == subprocess.PIPE:
                    read, write = os.pipe2(os.O_CLOEXEC)
                    streams[str(target)] = trio.lowlevel.FdStream(read)
                    ours.append(write)
                    fds[target] = write
                elif given == subprocess.DEVNULL:
                    fds[target] = null
                else:
                    fds[target] = given
            fds.update({fd: fd for fd in pass_fds})
            pid = await self.forkserver.spawn(["--root", self.root, *args],
                                              environment(env), fds)
        except OSError:
            for stream in streams.values():
                await stream.aclose()
            return None
        finally:
            for fd in ours:
                os.close(fd)
        return Forked(pid, streams.get("1"), streams.get("2"))

    async def wait(self, proc: Started, delegation: Delegation | None = None) -> Completed:
        """Wait for ``proc`` and collect its stderr (when it is a pipe of ours),
        answering its ``delegation`` requests meanwhile.

        The output is read while the process runs (a full pipe would stall it),
        and given a moment after its exit: a child it left behind may hold the
        pipe open, and must not keep us waiting for an EOF.
        """
        chunks: list[bytes] = []
        output = proc.stderr if proc.stderr is not None else proc.stdout  # merged: stdout
        try:
            async with trio.open_nursery() as nursery:
                eof = trio.Event()
                if output is not None:
                    nursery.start_soon(_collect, output, chunks, eof)
                else:
                    eof.set()
                if delegation is not None:
                    nursery.start_soon(delegation.serve)
                code = await proc.wait()
                with trio.move_on_after(1.0):
                    await eof.wait()
                nursery.cancel_scope.cancel()
        except BaseException:
            with trio.CancelScope(shield=True):
                _kill(proc)
                await proc.wait()
            raise
        finally:
            if delegation is not None:
                delegation.close()
            self.reaper.owned.discard(proc.pid)
            if output is not None:
                with trio.CancelScope(shield=True):
                    await output.aclose()
        return Completed(code, b"".join(chunks).decode(errors="replace"))

    async def run(self, *args: str, limit: float | None = None, stdout: int | None = None,
                  delegation: Delegation | None = None, merged: bool = False) -> Completed:
        """Run ``fire <args>`` to the end; past ``limit`` seconds (or when
        cancelled) it is killed (and a hook it delegated to us, with its tree).
        ``merged``: its stdout too goes into ``Completed.stderr`` (a health check's
        output, 2>&1)."""
        if merged:
            proc = await self.open(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   delegation=delegation)
        else:
            proc = await self.open(list(args), stdout=stdout, delegation=delegation)
        with trio.move_on_after(math.inf if limit is None else limit):
            return await self.wait(proc, delegation)
        return Completed(124, f"fire: timed out after {limit:g} s\n")


async def _collect(stream: trio.abc.ReceiveStream, chunks: list[bytes], eof: trio.Event) -> None:
    kept = 0
    while chunk := await stream.receive_some(65536):
        chunks.append(bytes(chunk))
        kept += len(chunk)
        while kept > 65536 and len(chunks) > 1:  # the tail holds the error line
            kept -= len(chunks.pop(0))
    eof.set()


def _kill(proc: Started) -> None:
    """SIGKILL the process and everything it started (a ``fire create`` cut short
    leaves a hook or the container's init; a health check, the command it runs in
    the container).  What the container left is ``fire delete --force``'s."""
    from fire.hooks.runner import kill_tree

    kill_tree(proc.pid)
