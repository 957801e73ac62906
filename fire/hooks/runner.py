"""Running one hook synchronously: fork, exec, feed the state, wait with a deadline.

Used by the engine-path commands and by the container's init (so: only builtin
modules).  Waiting is ``poll`` on a pidfd and on the hook's output pipe, with the
deadline as poll's timeout; no threads, no signals.  On timeout the hook's whole
process tree is killed: its process group, plus every descendant found through
/proc (a hook that backgrounds a child in a new session is killed too).
"""

from __future__ import annotations

import _signal
import errno
import os
import select
import time

from fire.errors import HookError
from fire.procfs import children

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.init.plan import HookPlan

MAX_OUTPUT = 64 * 1024


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        for child in children(current):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, its process group and every descendant."""
    victims = _descendants(pid)
    try:
        os.killpg(pid, _signal.SIGKILL)
    except OSError:
        pass
    for victim in [pid, *victims]:
        try:
            os.kill(victim, _signal.SIGKILL)
        except OSError:
            pass
    # Their own descendants, created between the listing and the kill, are orphans
    # now: a second pass finds any that were re-parented below a victim.
    for victim in victims:
        for late in _descendants(victim):
            try:
                os.kill(late, _signal.SIGKILL)
            except OSError:
                pass


def run(hook: HookPlan, state: bytes, phase: str, index: int,
        output: Callable[[str], None] | None = None) -> None:
    """Run ``hook``; raise ``HookError`` if it cannot start, fails or times out."""
    name = f"{phase} hook #{index} ({hook['path']})"
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()  # exec failure report (close-on-exec)
    pid = os.fork()
    if pid == 0:  # the hook
        try:
            os.setpgid(0, 0)
            os.dup2(stdin_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            for sig in (_signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGINT):
                _signal.signal(sig, _signal.SIG_DFL)
            _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
            argv = hook["args"] or [hook["path"]]
            os.execve(hook["path"], argv, _env(hook["env"]))
        except OSError as exc:
            os.write(err_w, str(exc.errno or 0).encode())
        finally:
            os._exit(127)
    os.close(stdin_r)
    os.close(out_w)
    os.close(err_w)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = -1
    try:
        failure = _exec_failure(err_r)
        if failure:
            os.waitpid(pid, 0)
            raise HookError("{name}: {reason}", name=name, reason=os.strerror(failure))
        _feed(stdin_w, state)
        status, text = _wait(pid, pidfd, out_r, hook["timeout"])
    finally:
        for fd in (stdin_w, out_r, err_r, pidfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
    if output is not None and text.strip():
        output(f"{name}: {text.strip()}")
    if status is None:
        raise HookError("{name} ran past its timeout of {timeout}s", name=name,
                        timeout=_seconds(hook["timeout"]))
    if status != 0:
        reason = _describe_status(status)
        tail = text.strip().splitlines()[-1] if text.strip() else ""
        raise HookError("{name} failed: {reason}{tail}", name=name, reason=reason,
                        tail=f": {tail}" if tail else "")


def _seconds(timeout: float | None) -> str:
    if timeout is None:
        return "?"
    return str(int(timeout)) if float(timeout).is_integer() else str(timeout)


def _env(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in env:
        key, _, value = entry.partition("=")
        out[key] = value
    return out


def _exec_failure(err_r: int) -> int:
    data = os.read(err_r, 32)
    return int(data) if data else 0


def _feed(fd: int, state: bytes) -> None:
    """Give the hook its state on stdin; a hook that never reads it is fine."""
    os.set_blocking(fd, False)
    try:
        os.write(fd, state)
    except (BlockingIOError, BrokenPipeError):
        pass
    finally:
        os.close(fd)


def _wait(pid: int, pidfd: int, out_r: int, timeout: float | None) -> tuple[int | None, str]:
    """Wait for the hook; return (exit status or None on timeout, its output)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    poller = select.poll()
    if pidfd >= 0:
        poller.register(pidfd, select.POLLIN)
    poller.register(out_r, select.POLLIN)
    chunks: list[bytes] = []
    size = 0
    out_open = True
    while True:
        if pidfd < 0:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            kill_tree(pid)
            os.waitpid(pid, 0)
            return None, b"".join(chunks).decode(errors="replace")
        wait_ms = -1 if remaining is None else int(remaining * 1000) + 1
        if pidfd < 0:
            wait_ms = 50 if wait_ms < 0 else min(wait_ms, 50)
        try:
            events = poller.poll(wait_ms)
        except InterruptedError:
            continue
        for fd, _ in events:
            if fd == out_r and out_open:
                data = os.read(out_r, 65536)
                if not data:
                    poller.unregister(out_r)
                    out_open = False
                elif size < MAX_OUTPUT:
                    chunks.append(data)
                    size += len(data)
            elif fd == pidfd:
                _, status = os.waitpid(pid, 0)
                # Drain what the hook wrote before it exited.
                if out_open:
                    os.set_blocking(out_r, False)
                    try:
                        while size < MAX_OUTPUT and (data := os.read(out_r, 65536)):
                            chunks.append(data)
                            size += len(data)
                    except BlockingIOError:
                        pass
                return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def _describe_status(code: int) -> str:
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit status {code}"


def poll_retry(func: Callable[[], int]) -> int:
    while True:
        try:
            return func()
        except OSError as exc:
            if exc.errno != errno.EINTR:
                raise
