"""``start``: release the waiting init, then run the poststart hooks.

runtime.md steps 6-9: the init runs the startContainer hooks (step 7) and
``execve``s the program (step 8); then the runtime runs the poststart hooks (step
9).  A failure of either hook kind is an error: the container is stopped and
destroyed, poststop hooks included (steps 12-13; the lifecycle machine says so).
runc differs for poststart (a warning, and no poststop hook: runc #5182); Fire
follows the spec.
"""

from __future__ import annotations

import _socket
import os

from fire.container.destroy import destroy, run_hooks
from fire.container.status import load
from fire.errors import FireError, InitError, NotRunning
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
            log.info("{output}", output=text)
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
            destroy(cdir, state, machine.send(lm.START_FAILED))
            raise
        os.unlink(EXEC_SOCKET, dir_fd=cdir.fd)
        machine.send(lm.STARTED)  # -> SET_RUNNING, RUN_POSTSTART
        state.status = RUNNING
        cdir.write_state(state)
        try:
            run_hooks(state, "poststart")
        except (FireError, OSError):
            log.debug("a poststart hook failed: stopping and deleting the container")
            destroy(cdir, state, machine.send(lm.POSTSTART_FAILED))
            raise
    finally:
        cdir.close()
