"""Freezing a container's cgroup (pause/resume) and reading whether it is frozen."""

from __future__ import annotations

import os

from fire.cgroup.hierarchy import host_hierarchies


def _freezer_dirs(path: str) -> tuple[str | None, str | None]:
    """(v1 freezer dir, v2 dir) of the container's cgroup, where they exist."""
    v1 = v2 = None
    for h in host_hierarchies():
        if h.is_v2:
            if os.path.exists(h.mountpoint.rstrip("/") + path + "/cgroup.freeze"):
                v2 = h.mountpoint.rstrip("/") + path
        elif "freezer" in h.controllers:
            v1 = h.mountpoint.rstrip("/") + path
    return v1, v2


def is_frozen(cg: dict[str, object]) -> bool:
    path = cg.get("path")
    if not isinstance(path, str):
        return False
    v1, v2 = _freezer_dirs(path)
    try:
        if v1 is not None:
            with open(v1 + "/freezer.state") as f:
                return f.read().strip() == "FROZEN"
        if v2 is not None:
            with open(v2 + "/cgroup.freeze") as f:
                return f.read().strip() == "1"
    except OSError:
        return False
    return False


def _write(cg: dict[str, object] | None, frozen: bool) -> None:
    if not cg or not isinstance(cg.get("path"), str):
        return
    v1, v2 = _freezer_dirs(str(cg["path"]))
    if v1 is not None:
        with open(v1 + "/freezer.state", "w") as f:
            f.write("FROZEN" if frozen else "THAWED")
    elif v2 is not None:
        with open(v2 + "/cgroup.freeze", "w") as f:
            f.write("1" if frozen else "0")


def freeze(cg: dict[str, object] | None) -> None:
    _write(cg, True)


def thaw(cg: dict[str, object] | None) -> None:
    _write(cg, False)
