"""``start``: release the waiting init, then run the poststart hooks.

runtime.md steps 6-9: the init runs the startContainer hooks (step 7) and
``execve``s the program (step 8); then the runtime runs the poststart hooks (step
9).  A failure of either hook kind is an error: the container is stopped and
destroyed, poststop hooks included (steps 12-13; the lifecycle machine says so).
Any other failure of start (no ``process``, a program that cannot be run) is an
error that stops the container and keeps it, ``stopped``, for ``delete``: the
spec asks for the error only, and runc and crun keep it too (docs/conformance.md).
runc differs for poststart (it stops the container but runs no poststop hook: runc
#5182); Fire follows the spec.
"""

from __future__ import annotations

import _socket
import os
import sys

from fire.container.status import load
from fire.errors import FireError, InitError, NotRunning
from fire.i18n import message
from fire.init import EXEC_SOCKET
from fire.lifecycle import machine as lm
from fire.log import log
from fire.spec.state import RUNNING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.spec.state import State
    from fire.store import Store



def release(cdir_fd: int, on_listener: Callable[[int], None] | None = None) -> None:
    """Tell the init to start; wait until it has exec'd the program (EOF) or failed.

    The init runs the startContainer hooks and sets up the process after this
    message, then reports on the connection (``serve``).
    """
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(f"/proc/self/fd/{cdir_fd}/{EXEC_SOCKET}")
        except (FileNotFoundError, ConnectionRefusedError):
            raise NotRunning() from None
        sock.sendall(b"start")
        serve(sock, on_listener)
    finally:
        sock.close()


def serve(sock: _socket.socket, on_listener: Callable[[int], None] | None = None) -> None:
    """Read what an init reports while it becomes the program, until EOF.

    Hook output comes as ``L <text>`` lines and a failure as one ``E <error>`` line
    (after a ``T`` line with its template); on success the init's end closes at
    ``execve`` (close-on-exec).  An ``N`` line carries a seccomp notify listener
    (SCM_RIGHTS): ``on_listener`` hands it on, then the init hears ``ok`` and execs
    (fire.seccomp.notify).  ``fire exec`` reads its process's report the same way.
    """
    error = None
    hook_failed = False
    translatable: tuple[str, dict[str, object]] | None = None
    buffer = b""
    fds: list[int] = []
    try:
        while error is None:
            chunk, ancdata, _, _ = sock.recvmsg(65536, _socket.CMSG_SPACE(4 * 4))
            fds += _received_fds(ancdata)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer and error is None:
                raw, buffer = buffer.split(b"\n", 1)
                kind, _, text = raw.decode(errors="replace").partition(" ")
                if kind == "L":
                    log.info("{output}", output=text)
                elif kind == "H":  # the error that follows is a startContainer hook's
                    hook_failed = True
                elif kind == "T":  # the error's template and parameters (marshal, hex)
                    translatable = _template(text)
                elif kind == "E":
                    error = text
                elif kind == "N" and fds:
                    error = _hand_over(fds.pop(0), on_listener)
                    if error is None:
                        try:
                            sock.sendall(b"ok\n")
                        except OSError as exc:
                            error = message("the container's init went away: {reason}",
                                            reason=exc.strerror or "")
    finally:
        for fd in fds:
            os.close(fd)
    if error is not None:
        failure = (InitError(translatable[0], **translatable[1]) if translatable is not None
                   else InitError("{detail}", stage="start", detail=error))
        failure.hook_failed = hook_failed
        raise failure


def _hand_over(fd: int, on_listener: Callable[[int], None] | None) -> str | None:
    """Pass a seccomp listener on; an error message, or None."""
    try:
        if on_listener is None:
            return message("the init sent a seccomp listener nobody expects")
        on_listener(fd)
    except FireError as exc:
        return str(exc)
    finally:
        os.close(fd)
    return None


def _received_fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    out: list[int] = []
    for level, kind, payload in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            out += [int.from_bytes(payload[i:i + 4], sys.byteorder, signed=True)
                    for i in range(0, len(payload) - 3, 4)]
    return out


def _forward_listener(state: State) -> Callable[[int], None]:
    def forward(fd: int) -> None:
        from fire.seccomp.notify import forward

        forward(state, fd)

    return forward


def _template(hexdata: str) -> tuple[str, dict[str, object]] | None:
    import marshal

    try:
        template, params = marshal.loads(bytes.fromhex(hexdata))
    except (ValueError, EOFError, TypeError):
        return None
    if not isinstance(template, str) or not isinstance(params, dict):
        return None
    return template, {str(k): v for k, v in params.items()}


def start(store: Store, cid: str) -> None:
    cdir, state, status = load(store, cid, lock=True)
    try:
        machine = lm.Machine(cid, status)
        machine.send(lm.START)
        try:
            release(cdir.fd, _forward_listener(state))
        except InitError as exc:
            from fire.container.destroy import destroy

            event = lm.START_FAILED if exc.hook_failed else lm.PROGRAM_FAILED
            destroy(cdir, state, machine.send(event))
            raise
        os.unlink(EXEC_SOCKET, dir_fd=cdir.fd)
        machine.send(lm.STARTED)  # -> SET_RUNNING, RUN_POSTSTART
        state.status = RUNNING
        cdir.write_state(state)
        if not (state.hooks or {}).get("poststart"):
            return  # (the hook runner and destroy are imported only when needed: ~2 ms)
        from fire.container.destroy import destroy, run_hooks

        try:
            run_hooks(state, "poststart")
        except (FireError, OSError):
            log.debug("a poststart hook failed: stopping and deleting the container")
            destroy(cdir, state, machine.send(lm.POSTSTART_FAILED))
            raise
    finally:
        cdir.close()
