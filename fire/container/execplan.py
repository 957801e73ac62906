"""The container's compiled process, kept for ``exec`` (``exec.plan`` in the state
directory).

``create`` saves the plan its init received (capability masks, rlimits and the
seccomp BPF included, marshal-encoded); ``exec`` loads it, so that an exec needs
no config.json, no msgspec and no seccomp compiler, and applies the container's
filter even if the bundle changed since (fire/container/exec.py says why).  Both
verbs use this module; it sits below them.
"""

from __future__ import annotations

import marshal
import os

from fire.errors import ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import ProcessPlan
    from fire.store import ContainerDir

EXEC_PLAN = "exec.plan"


def save_plan(cdir: ContainerDir, process: ProcessPlan | None) -> None:
    """At create time: keep the container's compiled process for later execs."""
    fd = os.open(EXEC_PLAN, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600,
                 dir_fd=cdir.fd)
    try:
        os.write(fd, marshal.dumps(process))  # type: ignore[arg-type]  # checked by marshal
    finally:
        os.close(fd)


def load_plan(cdir: ContainerDir) -> ProcessPlan | None:
    try:
        fd = os.open(EXEC_PLAN, os.O_RDONLY | os.O_CLOEXEC, dir_fd=cdir.fd)
    except FileNotFoundError:
        raise ContainerError("container {id} has no saved process plan ({name}): it was "
                             "created by an older Fire; recreate it to exec into it",
                             id=cdir.id, name=EXEC_PLAN) from None
    try:
        data = b""
        while chunk := os.read(fd, 1 << 20):
            data += chunk
    finally:
        os.close(fd)
    try:
        plan = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        raise ContainerError("container {id}: {name} is unreadable", id=cdir.id,
                             name=EXEC_PLAN) from None
    return plan if isinstance(plan, dict) else None  # type: ignore[return-value]
