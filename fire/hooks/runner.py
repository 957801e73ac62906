"""Running one hook synchronously: fork, exec, feed the state, wait with a deadline.

Used by the engine-path commands and by the container's init, so it imports only
what the init has already imported before ``pivot_root`` (builtin modules, ``select``
and fire's own small modules).  Waiting is ``poll`` on a pidfd and on the hook's
output pipe, with the deadline as poll's timeout: no threads, no signal handlers,
no ``SIGALRM``.

Killing "the hook and every process it started" on a timeout is the hard part.  A
process group is not enough (a child can ``setsid``), and walking /proc from the
hook down is not enough either (a child that double-forks leaves an orphan that the
kernel re-parents away from the hook, out of the walk's reach).  So the hook is made
a *child subreaper* before it ``exec``s (``PR_SET_CHILD_SUBREAPER`` survives
``execve``): while the hook lives, every orphan of its descendants is re-parented to
the hook itself, and the whole tree stays below it.  On a timeout the hook is
stopped (it cannot fork while stopped), then every descendant is killed through a
pidfd (a reused pid is never signalled), round after round until a walk finds
nobody new, and only then the hook.  ``kill_tree`` and ``signal_tree`` are shared
with the trio runner.

One case /proc cannot see: a createContainer hook runs inside the container's pid
namespace while the init still sees the host's /proc (before ``pivot_root``).  There
the walk is skipped and the hook's process group is killed; whatever escaped it is
killed with the namespace, whose pid 1 (the init) exits right after the failure.
"""

from __future__ import annotations

import _signal
import os
import select
import time

from fire.hooks import policy
from fire.procfs import parents, stat_fields

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fire.init.plan import HookPlan

MAX_OUTPUT = 64 * 1024  # what is kept of a hook's output for the log
KILL_ROUNDS = 100
GONE_TIMEOUT = 5.0  # seconds to wait for killed processes to exit


# --------------------------------------------------------------------------- the hook's side


def hook_argv(hook: HookPlan) -> list[str]:
    """``args`` as execv's argv (``args[0]`` is argv0 and may differ from ``path``);
    no args: the path alone, as Go's exec (runc) does."""
    return list(hook["args"]) or [hook["path"]]


def hook_env(env: list[str]) -> dict[str, str]:
    """``env`` exactly: nothing of the runtime's own environment is added."""
    out: dict[str, str] = {}
    for entry in env:
        key, _, value = entry.partition("=")
        out[key] = value
    return out


def become_hook(path: str, argv: list[str], env: dict[str, str], err_fd: int) -> None:
    """In the hook's own process, just before ``execve`` (also the trio trampoline's).

    Returns only if ``execve`` failed, after writing its errno to ``err_fd``.
    """
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    try:
        from fire.syscalls import proc  # imported by every caller already

        proc.prctl(proc.PR_SET_CHILD_SUBREAPER, 1, what="prctl(PR_SET_CHILD_SUBREAPER)")
    except OSError:
        pass  # the /proc walk still finds every child that stays attached
    for sig in range(1, _signal.NSIG):
        try:
            if _signal.getsignal(sig) == _signal.SIG_IGN:
                _signal.signal(sig, _signal.SIG_DFL)  # Python ignores SIGPIPE, SIGXFSZ
        except (OSError, ValueError, RuntimeError):
            pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
    try:
        os.execve(path, argv, env)
    except OSError as exc:
        os.write(err_fd, str(exc.errno or 0).encode())


# --------------------------------------------------------------------------- killing a tree


def proc_shows_us() -> bool:
    """Does /proc number processes as our pid namespace does?"""
    try:
        return os.readlink("/proc/self") == str(os.getpid())
    except OSError:
        return False


def _tree(root: int) -> Iterator[tuple[int, int]]:
    """(pid, parent) below ``root``, each parent before its children (one /proc scan)."""
    below: dict[int, list[int]] = {}
    for pid, parent in parents().items():
        below.setdefault(parent, []).append(pid)
    todo = [root]
    while todo:
        parent = todo.pop()
        for child in below.get(parent, ()):
            yield child, parent
            todo.append(child)


def _wait_stopped(pid: int, timeout: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = stat_fields(pid)
        if fields is None or fields[0] in ("T", "t", "Z", "X"):
            return
        time.sleep(0.001)


def signal_tree(root: int) -> list[int]:
    """SIGKILL every descendant of ``root``; return pidfds of those killed.

    ``root`` is the hook: alive, not yet reaped (so its pid and process group are
    still its own), a child subreaper.  It is stopped first and killed by the
    caller afterwards, so nothing below it can leave the tree or grow it behind the
    walk.  Each victim is signalled through a pidfd opened *and then* checked to
    still have a parent in the tree: a pid reused by a stranger is never hit.
    """
    try:
        os.kill(root, _signal.SIGSTOP)
    except OSError:
        return []
    if not proc_shows_us():
        return []
    _wait_stopped(root)
    killed: dict[int, int] = {}
    try:
        for _ in range(KILL_ROUNDS):
            tree = {root}
            fresh = False
            for pid, parent in _tree(root):
                if parent not in tree:
                    continue
                tree.add(pid)
                if pid in killed:
                    continue
                try:
                    fd = os.pidfd_open(pid)
                except OSError:
                    continue
                fields = stat_fields(pid)
                if fields is None or int(fields[1]) not in tree:
                    os.close(fd)  # gone, or a reused pid: not ours
                    continue
                try:
                    _signal.pidfd_send_signal(fd, _signal.SIGKILL)
                except OSError:
                    pass
                killed[pid] = fd
                fresh = True
            if not fresh:
                break
    except BaseException:
        for fd in killed.values():
            os.close(fd)
        raise
    return list(killed.values())


def kill_root(root: int) -> None:
    """SIGKILL the hook and its process group (after ``signal_tree``)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(root, _signal.SIGKILL)
        except OSError:
            pass


def wait_gone(pidfds: list[int], timeout: float = GONE_TIMEOUT) -> None:
    """Wait until every process behind ``pidfds`` has exited; close the fds."""
    deadline = time.monotonic() + timeout
    try:
        poller = select.poll()
        for fd in pidfds:
            poller.register(fd, select.POLLIN)
        left = set(pidfds)
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                events = poller.poll(int(remaining * 1000) + 1)
            except InterruptedError:
                continue
            for fd, _ in events:
                left.discard(fd)
                poller.unregister(fd)
    finally:
        for fd in pidfds:
            os.close(fd)


def kill_tree(root: int) -> None:
    """Kill the hook ``root`` (our unreaped child) and everything it started; reap it."""
    victims = signal_tree(root)
    kill_root(root)
    _waitpid(root)
    wait_gone(victims)


def _waitpid(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


# --------------------------------------------------------------------------- running one hook


def run(hook: HookPlan, state: bytes, phase: str, index: int,
        output: Callable[[str], None] | None = None) -> None:
    """Run ``hook`` with ``state`` on its stdin; raise ``HookError`` if it cannot
    start, fails or runs past its timeout.  Its output goes to ``output``, a line
    at a time, each naming the hook.

    SIGPIPE is blocked while the hook runs (and one it raised is taken back before
    it is unblocked): a hook that exits without reading its state makes our write
    raise it, and the processes that run hooks do not all ignore it — the init has a
    handler that exits (it stands in for the program's default actions) and
    ``fire run`` forwards every signal to the container.
    """
    name = policy.hook_name(phase, index, hook["path"])
    argv = hook_argv(hook)
    env = hook_env(hook["env"])
    import fire.syscalls.proc  # noqa: F401  (become_hook's, imported once, before the fork)

    previous = _signal.pthread_sigmask(_signal.SIG_BLOCK, [_signal.SIGPIPE])
    fds: list[int] = []
    try:
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)  # execve's errno; EOF = it ran
        fds = [stdin_r, stdin_w, out_r, out_w, err_r, err_w]
        deadline = None if hook["timeout"] is None else time.monotonic() + hook["timeout"]
        pid = os.fork()
        if pid == 0:  # the hook
            try:
                try:
                    _signal.set_wakeup_fd(-1)  # `fire run`'s signal channel is not the hook's
                except (ValueError, OSError):
                    pass
                os.dup2(stdin_r, 0)
                os.dup2(out_w, 1)
                os.dup2(out_w, 2)
                become_hook(hook["path"], argv, env, err_w)
            finally:
                os._exit(127)
        for fd in (stdin_r, out_w, err_w):
            os.close(fd)
        fds = []
        watch = _Watch(pid, stdin_w, out_r, err_r, state)
        try:
            code, text, failure = watch.wait(deadline)
        finally:
            watch.close()
    finally:
        for fd in fds:
            os.close(fd)
        while _signal.SIGPIPE in _signal.sigpending():
            _signal.sigtimedwait([_signal.SIGPIPE], 0)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, previous)
    if failure:
        raise policy.not_started(name, os.strerror(failure))
    if output is not None:
        for line in policy.output_lines(name, text):
            output(line)
    if code is None:
        raise policy.timed_out(name, hook["timeout"])
    if code != 0:
        raise policy.failed(name, code, text)


class _Watch:
    """One poll loop over the hook: its exec report, its stdin, its output, its exit.

    The wait ends when the *hook* exits (its pidfd), not when its output pipe
    closes: a child it left running in the background may hold the pipe open for
    ever.  The state is written as the pipe takes it (any size); a hook that does
    not read it is fine.
    """

    def __init__(self, pid: int, stdin_w: int, out_r: int, err_r: int, state: bytes) -> None:
        self.pid = pid
        self.stdin_w = stdin_w  # -1 once closed (the hook sees EOF)
        self.out_r = out_r
        self.err_r = err_r
        self.pending = memoryview(state)
        self.chunks: list[bytes] = []
        self.size = 0
        self.errno = b""
        self.poller = select.poll()
        for fd in (stdin_w, out_r, err_r):
            os.set_blocking(fd, False)

    def wait(self, deadline: float | None) -> tuple[int | None, str, int]:
        """(exit code, or None after a timeout; its output; execve's errno or 0)."""
        pidfd = os.pidfd_open(self.pid)
        try:
            self.poller.register(pidfd, select.POLLIN)
            self.poller.register(self.out_r, select.POLLIN)
            self.poller.register(self.err_r, select.POLLIN)
            self.poller.register(self.stdin_w, select.POLLOUT)
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    kill_tree(self.pid)
                    return None, self.text(), 0
                try:
                    events = self.poller.poll(-1 if remaining is None
                                              else int(remaining * 1000) + 1)
                except InterruptedError:
                    continue
                for fd, _ in events:
                    if fd == pidfd:
                        status = _waitpid(self.pid)
                        self.read(self.out_r)  # what it wrote just before it exited
                        self.read(self.err_r)
                        return os.waitstatus_to_exitcode(status), self.text(), self.exec_errno()
                    if fd == self.stdin_w >= 0:
                        self.feed()
                    elif fd in (self.out_r, self.err_r):
                        self.read(fd)
        finally:
            os.close(pidfd)

    def feed(self) -> None:
        try:
            n = os.write(self.stdin_w, self.pending[:65536])
            self.pending = self.pending[n:]
        except BlockingIOError:
            return
        except OSError:  # EPIPE: the hook closed its stdin or exited; it is fine
            self.pending = self.pending[:0]
        if not self.pending:
            self.poller.unregister(self.stdin_w)
            os.close(self.stdin_w)
            self.stdin_w = -1

    def close(self) -> None:
        for fd in (self.stdin_w, self.out_r, self.err_r):
            if fd >= 0:
                os.close(fd)

    def read(self, fd: int) -> None:
        """Take what ``fd`` has now (non-blocking); unregister it at EOF."""
        while True:
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                try:
                    self.poller.unregister(fd)
                except KeyError:
                    pass
                return
            if fd == self.err_r:
                self.errno += data
            elif self.size < MAX_OUTPUT:
                self.chunks.append(data[:MAX_OUTPUT - self.size])
                self.size += len(data)

    def exec_errno(self) -> int:
        return int(self.errno) if self.errno.isdigit() else 0

    def text(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")


def run_all(hooks: list[HookPlan], state: bytes, phase: str,
            output: Callable[[str], None] | None = None,
            warn: Callable[[str], None] | None = None) -> None:
    """Run a phase's hooks in order.

    A fatal phase stops at the first failure (raised); a non-fatal one (poststop)
    reports each failure to ``warn`` and goes on with the next hook, "as if the hook
    had succeeded" (runtime.md step 13).
    """
    from fire.errors import HookError

    for i, hook in enumerate(hooks):
        if policy.is_fatal(phase):
            run(hook, state, phase, i, output)
            continue
        try:
            run(hook, state, phase, i, output)
        except (HookError, OSError) as exc:
            if warn is not None:
                warn(str(exc))
