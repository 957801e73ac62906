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
    at a time, each naming the hook."""
    name = policy.hook_name(phase, index, hook["path"])
    argv = hook_argv(hook)
    env = hook_env(hook["env"])
    import fire.syscalls.proc  # noqa: F401  (become_hook's, imported once, before the fork)

    stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)  # execve's errno; EOF = it ran
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
    pidfd = -1
    try:
        failure = _read_errno(err_r)
        if failure:
            _waitpid(pid)
            raise policy.not_started(name, os.strerror(failure))
        pidfd = os.pidfd_open(pid)
        _feed(stdin_w, state)
        stdin_w = -1
        code, text = _wait(pid, pidfd, out_r, hook["timeout"])
    finally:
        for fd in (stdin_w, out_r, err_r, pidfd):
            if fd >= 0:
                os.close(fd)
    if output is not None:
        for line in policy.output_lines(name, text):
            output(line)
    if code is None:
        raise policy.timed_out(name, hook["timeout"])
    if code != 0:
        raise policy.failed(name, code, text)


def _read_errno(err_r: int) -> int:
    while True:
        try:
            data = os.read(err_r, 32)
            break
        except InterruptedError:
            continue
    return int(data) if data else 0


def _feed(fd: int, state: bytes) -> None:
    """Give the hook its state on stdin; a hook that never reads it is fine.

    The state (well under the pipe's 64 KiB) fits in one non-blocking write.
    """
    os.set_blocking(fd, False)
    try:
        os.write(fd, state)
    except (BlockingIOError, BrokenPipeError):
        pass
    finally:
        os.close(fd)


def _wait(pid: int, pidfd: int, out_r: int, timeout: float | None) -> tuple[int | None, str]:
    """Wait for the hook; return (exit code, or None after a timeout; its output).

    The wait ends when the *hook* exits, not when its output pipe closes: a child it
    left running in the background may hold the pipe open for ever.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(out_r, select.POLLIN)
    chunks: list[bytes] = []
    size = 0
    out_open = True

    def collect(data: bytes) -> None:
        nonlocal size
        if size < MAX_OUTPUT:
            chunks.append(data[:MAX_OUTPUT - size])
            size += len(data)

    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            kill_tree(pid)
            return None, b"".join(chunks).decode(errors="replace")
        try:
            events = poller.poll(-1 if remaining is None else int(remaining * 1000) + 1)
        except InterruptedError:
            continue
        for fd, _ in events:
            if fd == out_r and out_open:
                data = os.read(out_r, 65536)
                if data:
                    collect(data)
                else:
                    poller.unregister(out_r)
                    out_open = False
            elif fd == pidfd:
                status = _waitpid(pid)
                if out_open:  # what the hook wrote just before it exited
                    os.set_blocking(out_r, False)
                    try:
                        while data := os.read(out_r, 65536):
                            collect(data)
                    except BlockingIOError:
                        pass
                return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


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
