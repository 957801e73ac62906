"""``kill``: signal the container's process through a pidfd checked against the
stored start time (a reused pid is never signalled), or every process of its
cgroup with ``--all``."""

from __future__ import annotations

import _signal
import errno
import os

from fire.cgroup.manager import Manager
from fire.container.status import load
from fire.errors import ContainerError, NotRunning
from fire.lifecycle import machine as lm
from fire.procfs import start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.store import Store


def signal_process(pid: int, started: int, sig: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise NotRunning() from None
    try:
        # The pidfd pins the process: if it is still the one that started at
        # `started`, the signal cannot reach anyone else.
        if start_time(pid) != started:
            raise NotRunning()
        _signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        raise ContainerError("no such process") from None
    finally:
        os.close(fd)


def kill(store: Store, cid: str, sig: int, all_processes: bool = False) -> None:
    cdir, state, status = load(store, cid)
    try:
        lm.Machine(cid, status).send(lm.KILL)
        if not all_processes:
            signal_process(state.pid, state.pidStart, sig)
            return
        cg = Manager.from_state(state.cgroup)
        pids = cg.pids() if cg is not None else [state.pid]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError as exc:
                if exc.errno != errno.ESRCH:
                    raise
    finally:
        cdir.close()
