"""The stages fire-supervise ran ahead of ``fire create`` (``FIRE_PREPARED_FD``).

Why: the stage graph (``fire.lifecycle.stages``) lets the supervisor run the
stages declared ``ahead`` itself, concurrently, before it runs ``fire create``:
the seccomp filter compiled to BPF, the cgroup made and limited.  It hands their
results to create in one record, read from an fd it passes (a memfd), and create
takes them over instead of running those stages (``fire.container.create``).  The
variable is internal: engines never set it, and the engine path only looks it up.

The record (``marshal``: bytes and nested builtins, no import cost)::

    {"seccomp": <fire.init.plan.SeccompPlan> | None,   (present: the stage ran)
     "cgroup": {"path": "/fire/x", "created": ["/sys/fs/cgroup/…", …]}}

A record that does not decode is an error, never "nothing prepared": the
supervisor made a cgroup that create must record, or it would be left behind.
"""

from __future__ import annotations

import marshal
import os
from typing import cast

from fire.delegate import PREPARED_FD_ENV
from fire.errors import FireError
from fire.i18n import N_

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import SeccompPlan

MAX_RECORD = 16 << 20
BAD = N_("{variable}: not a record of the stages fire-supervise prepared")


class Handover:
    """What the supervisor did: the stages' names, and their results."""

    __slots__ = ("cgroup_created", "cgroup_path", "seccomp", "stages")

    def __init__(self) -> None:
        self.stages: set[str] = set()
        self.seccomp: SeccompPlan | None = None
        self.cgroup_path = ""
        self.cgroup_created: list[str] = []

    def record(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if "seccomp" in self.stages:
            out["seccomp"] = self.seccomp
        if "cgroup" in self.stages:
            out["cgroup"] = {"path": self.cgroup_path, "created": list(self.cgroup_created)}
        return out


def to_fd(prepared: Handover) -> int:
    """A memfd (close-on-exec: the caller passes it) holding ``prepared``'s record."""
    fd = os.memfd_create("fire-prepared", os.MFD_CLOEXEC)
    try:
        data = memoryview(marshal.dumps(prepared.record()))
        while data:
            data = data[os.write(fd, data):]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def take() -> Handover | None:
    """The record the caller handed us, or None when it handed none (engines)."""
    value = os.environ.pop(PREPARED_FD_ENV, "")  # not for hooks, nor the init
    if not value:
        return None
    bad = FireError(BAD, variable=PREPARED_FD_ENV)
    if not value.isdigit():
        raise bad
    fd = int(value)
    chunks: list[bytes] = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_RECORD:
                raise bad
        os.close(fd)
        record = marshal.loads(b"".join(chunks))
    except (OSError, EOFError, ValueError, TypeError):
        raise bad from None
    if not isinstance(record, dict):
        raise bad
    out = Handover()
    if "seccomp" in record:
        seccomp = record["seccomp"]
        if seccomp is not None and not (isinstance(seccomp, dict)
                                        and isinstance(seccomp.get("bpf"), bytes)):
            raise bad
        out.stages.add("seccomp")
        out.seccomp = cast("SeccompPlan | None", seccomp)
    if "cgroup" in record:
        cgroup = record["cgroup"]
        if not (isinstance(cgroup, dict) and isinstance(cgroup.get("path"), str)
                and isinstance(cgroup.get("created"), list)
                and all(isinstance(d, str) for d in cgroup["created"])):
            raise bad
        out.stages.add("cgroup")
        out.cgroup_path = cgroup["path"]
        out.cgroup_created = list(cgroup["created"])
    return out
