"""Helpers of the core runtime's integration tests (issue #2): run a container and
read what it printed, parse ``/proc/self/mountinfo``, a rootfs that a container's
root in a user namespace can reach.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Bundle, Fire

HOST_NS = ("pid", "net", "mnt", "ipc", "uts", "user", "cgroup", "time")


def run_in(fire: Fire, bundle: Bundle, *argv: str, extra: tuple[str, ...] = ()) -> str:
    """Run ``argv`` in a container made from ``bundle``; its stdout (exit 0 asserted)."""
    bundle.args(*argv).write()
    r = fire("run", *extra, "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    return r.out


def sh(fire: Fire, bundle: Bundle, script: str, extra: tuple[str, ...] = ()) -> str:
    return run_in(fire, bundle, "sh", "-c", script, extra=extra)


class MountLine:
    """One line of /proc/PID/mountinfo."""

    def __init__(self, line: str) -> None:
        left, _, right = line.partition(" - ")
        f = left.split()
        self.id, self.parent = f[0], f[1]
        self.devno = f[2]
        self.root = _unescape(f[3])
        self.point = _unescape(f[4])
        self.options = set(f[5].split(","))
        self.optional = f[6:]
        r = right.split()
        self.fstype = r[0]
        self.source = _unescape(r[1])
        self.super = set(r[2].split(",")) if len(r) > 2 else set()

    def __repr__(self) -> str:
        return f"MountLine({self.point} {self.fstype} {sorted(self.options)} root={self.root})"


def _unescape(text: str) -> str:
    return (text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def mountinfo(text: str) -> dict[str, MountLine]:
    """Mount point -> its last (topmost) mount."""
    out: dict[str, MountLine] = {}
    for line in text.splitlines():
        if " - " in line:
            m = MountLine(line)
            out[m.point] = m
    return out


def host_ns(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


@pytest.fixture(scope="session")
def open_rootfs(rootfs: Path) -> Iterator[str]:
    """A copy of the busybox rootfs under a directory anyone may search.

    The session rootfs lives below pytest's 0700 directory; the root of a new
    user namespace (an unmapped host uid) cannot reach it — runc has the same
    rule: the rootfs must be reachable by the container's root.
    """
    base = tempfile.mkdtemp(prefix="fire-core-rootfs-")
    os.chmod(base, 0o755)
    dest = os.path.join(base, "rootfs")
    shutil.copytree(rootfs, dest, symlinks=True)
    yield dest
    shutil.rmtree(base, ignore_errors=True)


def userns(bundle: Bundle, rootfs: str, host_id: int = 100000, size: int = 65536) -> None:
    """Give ``bundle`` a new user namespace mapping 0..size to host_id.."""
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": host_id, "size": size}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": host_id, "size": size}]
    bundle.config["root"] = {"path": rootfs, "readonly": True}
