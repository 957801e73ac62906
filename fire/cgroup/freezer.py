"""Freezing a container's cgroup (pause/resume) and reading whether it is frozen.

v1: ``freezer.state`` (write FROZEN/THAWED; it reads FREEZING until every task has
stopped).  v2: ``cgroup.freeze`` (write 1/0; ``cgroup.events`` says ``frozen 1``
once done).  Each controller is used where it lives, so a hybrid host with a v1
freezer uses v1.  Freezing waits until the kernel reports it done: ``pause``
returning while a process still runs would be a lie to the caller.
"""

from __future__ import annotations

import os
import time

from fire.cgroup.hierarchy import Hierarchy, delegated_hierarchies, host_hierarchies
from fire.errors import CgroupError

_TIMEOUT = 10.0


def _hierarchies(cg: dict[str, object]) -> list[Hierarchy]:
    """The host's hierarchies, or a rootless container's delegated subtree."""
    delegated = cg.get("rootless")
    if isinstance(delegated, str):
        return delegated_hierarchies(delegated)
    return host_hierarchies()


def _freezer_dirs(cg: dict[str, object], path: str) -> tuple[str | None, str | None]:
    """(v1 freezer dir, v2 dir) of the container's cgroup, where they exist."""
    v1 = v2 = None
    for h in _hierarchies(cg):
        if h.is_v2:
            if os.path.exists(h.mountpoint.rstrip("/") + path + "/cgroup.freeze"):
                v2 = h.mountpoint.rstrip("/") + path
        elif "freezer" in h.controllers:
            v1 = h.mountpoint.rstrip("/") + path
    return v1, v2


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _put(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _v2_frozen(d: str) -> bool:
    for line in _read(d + "/cgroup.events").splitlines():
        key, _, value = line.partition(" ")
        if key == "frozen":
            return value.strip() == "1"
    return False


def is_frozen(cg: dict[str, object]) -> bool:
    path = cg.get("path")
    if not isinstance(path, str):
        return False
    v1, v2 = _freezer_dirs(cg, path)
    try:
        if v1 is not None:
            return _read(v1 + "/freezer.state").strip() == "FROZEN"
        if v2 is not None:
            return _read(v2 + "/cgroup.freeze").strip() == "1"
    except OSError:
        return False
    return False


def _set(cg: dict[str, object] | None, frozen: bool) -> None:
    if not cg or not isinstance(cg.get("path"), str):
        return
    v1, v2 = _freezer_dirs(cg, str(cg["path"]))
    if v1 is None and v2 is None:
        if not frozen:
            return  # nothing can be frozen here
        raise CgroupError("cannot {verb} the container: this host has no cgroup freezer",
                          verb="pause" if frozen else "resume")
    deadline = time.monotonic() + _TIMEOUT
    delay = 0.001
    try:
        if v1 is not None:
            want = "FROZEN" if frozen else "THAWED"
            while True:
                # Rewriting FROZEN while FREEZING is what moves a stuck freeze on
                # (runc does the same); THAWED takes effect at once.
                _put(v1 + "/freezer.state", want)
                if _read(v1 + "/freezer.state").strip() == want:
                    return
                if time.monotonic() > deadline:
                    if frozen:
                        _put(v1 + "/freezer.state", "THAWED")
                    raise CgroupError("the container's processes did not stop within "
                                      "{seconds:.0f} s", seconds=_TIMEOUT)
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        assert v2 is not None
        _put(v2 + "/cgroup.freeze", "1" if frozen else "0")
        while _v2_frozen(v2) != frozen:
            if time.monotonic() > deadline:
                if frozen:
                    _put(v2 + "/cgroup.freeze", "0")
                raise CgroupError("the container's processes did not stop within "
                                  "{seconds:.0f} s", seconds=_TIMEOUT)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    except FileNotFoundError:
        if frozen:
            raise CgroupError("cannot pause the container: its cgroup is gone") from None
    except OSError as exc:
        raise CgroupError("cannot {verb} the container: {path}: {reason}",
                          verb="pause" if frozen else "resume", path=exc.filename or "",
                          reason=exc.strerror) from None


def freeze(cg: dict[str, object] | None) -> None:
    _set(cg, True)


def thaw(cg: dict[str, object] | None) -> None:
    _set(cg, False)
