"""``start``: release the waiting init, then run the poststart hooks."""

from __future__ import annotations

import _socket
import os

from fire.container.destroy import destroy, run_hooks
from fire.container.status import load
from fire.errors import FireError, HookError, InitError, NotRunning
from fire.lifecycle import machine as lm
from fire.log import log
from fire.spec.state import RUNNING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.store import Store

EXEC_SOCKET = "exec.sock"


def release(cdir_fd: int) -> None:
    """Tell the init to start; wait until it has exec'd the program (EOF) or failed.

    The init runs the startContainer hooks and sets up the process after this
    message, reporting hook output as ``L <text>`` lines and a failure as one
    ``E <error>`` line; on success its end closes at ``execve`` (close-on-exec).
    """
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(f"/proc/self/fd/{cdir_fd}/{EXEC_SOCKET}")
        except (FileNotFoundError, ConnectionRefusedError):
            raise NotRunning() from None
        sock.sendall(b"start")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    finally:
        sock.close()
    error = None
    for line in data.decode(errors="replace").splitlines():
        kind, _, text = line.partition(" ")
        if kind == "L":
            log.info("{t}", t=text)
        elif kind == "E":
            error = text
    if error is not None:
        raise InitError("{detail}", stage="start", detail=error)


def start(store: Store, cid: str) -> None:
    cdir, state, status = load(store, cid, lock=True)
    try:
        machine = lm.Machine(cid, status)
        machine.send(lm.START)
        try:
            release(cdir.fd)
        except InitError:
            machine.send(lm.START_FAILED)
            destroy(cdir, state)
            raise
        os.unlink(EXEC_SOCKET, dir_fd=cdir.fd)
        machine.send(lm.STARTED)
        state.status = RUNNING
        cdir.write_state(state)
        try:
            run_hooks(state, "poststart", "running")
        except (HookError, FireError) as exc:
            log.debug("poststart failed; stopping and deleting the container")
            machine = lm.Machine(cid, RUNNING)
            machine.send(lm.POSTSTART_FAILED)
            destroy(cdir, state)
            raise exc from None
    finally:
        cdir.close()
