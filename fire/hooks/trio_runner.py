"""Running one hook under trio (the supervisor): same policy, same messages.

The shape is trio's ``run_process``: start the process, wait for it inside a cancel
scope (``trio.fail_after`` for the hook's timeout), and on any cancellation —
the timeout or the supervisor's own shutdown — a *shielded* ``deliver_cancel``
that kills the hook and every process it started (``runner.signal_tree``: the
hook is a child subreaper, stopped, its tree killed through pidfds, then the hook)
and always awaits the exit before the exception goes on.  A timeout becomes the
same ``HookError`` the sync runner raises.

The hook is started through ``fire.hooks.trampoline`` (why: see there), so its pid,
process group and subreaper flag are the sync runner's.
"""

from __future__ import annotations

import math
import os
import subprocess

import trio

from fire.hooks import policy, runner, trampoline

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.init.plan import HookPlan


async def run(hook: HookPlan, state: bytes, phase: str, index: int,
              output: Callable[[str], None] | None = None, cwd: str | None = None) -> None:
    """Run ``hook`` with ``state`` on its stdin; raise ``HookError`` if it cannot
    start, fails or runs past its timeout (the sync runner's contract).  ``cwd``:
    the directory it runs in (the sync runner's is its caller's: ``create``'s is
    the bundle)."""
    name = policy.hook_name(phase, index, hook["path"])
    timeout = hook["timeout"]
    err_r, err_w = os.pipe()
    try:
        proc = await trio.lowlevel.open_process(
            trampoline.command(hook, err_w), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, pass_fds=(err_w,), env={}, cwd=cwd)
    except BaseException:
        os.close(err_r)
        raise
    finally:
        os.close(err_w)
    chunks: list[bytes] = []
    failure = 0
    try:
        with trio.fail_after(math.inf if timeout is None else timeout):
            failure = await _watch(proc, err_r, state, chunks)
    except trio.TooSlowError:
        _log(output, name, chunks)
        raise policy.timed_out(name, timeout) from None
    _log(output, name, chunks)
    if failure:
        raise policy.not_started(name, os.strerror(failure))
    code = proc.returncode
    assert code is not None
    if code != 0:
        raise policy.failed(name, code, b"".join(chunks).decode(errors="replace"))


async def _watch(proc: trio.Process, err_r: int, state: bytes, chunks: list[bytes]) -> int:
    """Feed, collect, wait; on cancellation kill the tree (shielded) and re-raise.

    Returns execve's errno when the hook could not be started, else 0.
    """
    assert proc.stdin is not None
    assert proc.stdout is not None
    errors = trio.lowlevel.FdStream(err_r)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_feed, proc.stdin, state)
            nursery.start_soon(_collect, proc.stdout, chunks)
            data = b""
            while chunk := await errors.receive_some(32):
                data += chunk
            await proc.wait()
            # The hook has exited; a child it left in the background may hold the
            # output pipe open for ever: take what is there, stop reading.
            if isinstance(proc.stdout, trio.lowlevel.FdStream):
                _drain(proc.stdout.fileno(), chunks)
            nursery.cancel_scope.cancel()
        return int(data) if data else 0
    except BaseException:
        with trio.CancelScope(shield=True):
            await deliver_cancel(proc)
        raise
    finally:
        with trio.CancelScope(shield=True):
            await errors.aclose()
            await proc.stdin.aclose()
            await proc.stdout.aclose()


async def deliver_cancel(proc: trio.Process) -> None:
    """Kill the hook and everything it started; await the hook's exit and theirs."""
    if proc.returncode is not None:
        return
    victims = runner.signal_tree(proc.pid)
    runner.kill_root(proc.pid)
    await proc.wait()
    try:
        with trio.move_on_after(runner.GONE_TIMEOUT):
            for fd in victims:
                await trio.lowlevel.wait_readable(fd)
    finally:
        for fd in victims:
            os.close(fd)


async def _feed(stdin: trio.abc.SendStream, state: bytes) -> None:
    """The state on stdin; a hook that never reads it is fine."""
    try:
        await stdin.send_all(state)
        await stdin.aclose()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def _collect(stdout: trio.abc.ReceiveStream, chunks: list[bytes]) -> None:
    size = 0
    try:
        while data := await stdout.receive_some(65536):
            if size < runner.MAX_OUTPUT:
                chunks.append(bytes(data[:runner.MAX_OUTPUT - size]))
            size += len(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


def _drain(fd: int, chunks: list[bytes]) -> None:
    try:
        while data := os.read(fd, 65536):
            chunks.append(data)
    except (BlockingIOError, OSError):
        pass


def _log(output: Callable[[str], None] | None, name: str, chunks: list[bytes]) -> None:
    if output is not None:
        for line in policy.output_lines(name, b"".join(chunks).decode(errors="replace")):
            output(line)


async def run_all(hooks: list[HookPlan], state: bytes, phase: str,
                  output: Callable[[str], None] | None = None,
                  warn: Callable[[str], None] | None = None, cwd: str | None = None,
                  report: Callable[[int, HookPlan, float, Exception | None], None] | None = None
                  ) -> None:
    """A phase's hooks in order: the sync ``runner.run_all`` rules.  ``report`` is
    told of each hook's end: (index, hook, seconds it ran, its error or None)."""
    from fire.errors import HookError

    for i, hook in enumerate(hooks):
        began = trio.current_time()
        try:
            await run(hook, state, phase, i, output, cwd)
        except (HookError, OSError) as exc:
            if report is not None:
                report(i, hook, trio.current_time() - began, exc)
            if policy.is_fatal(phase):
                raise
            if warn is not None:
                warn(str(exc))
            continue
        if report is not None:
            report(i, hook, trio.current_time() - began, None)
