"""The mounts a container without a mount namespace leaves in the host's.

A config that lists no mount namespace inherits the runtime's (runtime-spec
config-linux.md: an omitted namespace is the runtime's), so the init builds the
container's tree in the host's mount namespace and chroots into it
(``fire.init.mounts.prepare_root``).  runc does the same and never takes those
mounts away: every such container leaves its rootfs bind, /proc, /dev, … mounted
on the host.  Fire puts all of them under one bind of the rootfs onto itself, and
detaches that bind at delete (``MNT_DETACH`` takes every mount below it along).

Which bind is the container's is told by mount ids, read from the host's
mountinfo at the rootfs path: the ids there before the plan is sent are recorded
first (a crash in create then still knows what is not ours), and, once the init
is ready, the ids that appeared — ours.  Anything stacked on ours later (by the
container itself, which shares the host's mount namespace) goes with it.
"""

from __future__ import annotations

import os

from fire.syscalls import KernelError
from fire.syscalls import mount as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.spec.state import State

KEY = "hostMounts"  # in state.extra: {"path": str, "before": [ids]} or {"path", "ids"}
_MAX_DETACH = 64  # mounts stacked at one path, at most, that a release takes away


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
        .replace("\\134", "\\")


def ids_at(path: str) -> list[int]:
    """The ids of the mounts whose mount point is ``path`` (oldest first)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split(" ", 5)
            if len(fields) > 4 and _unescape(fields[4]) == path:
                out.append(int(fields[0]))
    return out


def record_before(state: State) -> None:
    """Before the plan is sent: what is mounted at the rootfs is not ours."""
    path = os.path.realpath(state.rootfs)
    state.extra = {**(state.extra or {}), KEY: {"path": path, "before": ids_at(path)}}


def record_ours(state: State) -> None:
    """Once the init is ready: the ids that appeared at the rootfs are ours."""
    held = (state.extra or {}).get(KEY)
    if not isinstance(held, dict):
        return
    path = str(held["path"])
    before = set(held.get("before") or [])
    held.pop("before", None)
    held["ids"] = [i for i in ids_at(path) if i not in before]


def release(state: State) -> None:
    """Detach the container's bind at the rootfs (and what is stacked on it)."""
    held = (state.extra or {}).get(KEY)
    if not isinstance(held, dict):
        return
    path = str(held["path"])
    for _ in range(_MAX_DETACH):
        here = ids_at(path)
        if "ids" in held:
            ours = set(held["ids"])
            if not ours & set(here):
                return
        else:  # create did not finish: whatever is newer than its record
            before = set(held.get("before") or [])
            if not [i for i in here if i not in before]:
                return
            if here and here[-1] in before:
                return  # the newest is not ours: leave the stack alone
        try:
            m.umount2(path, m.MNT_DETACH | m.UMOUNT_NOFOLLOW)
        except KernelError:
            return
