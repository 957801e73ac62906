"""The host's cgroup hierarchies, read from /proc/self/mountinfo.

A v1 host has one hierarchy per controller set ("cpu,cpuacct", "memory"…); a v2
host one unified tree; a hybrid host (this project's CI machine) both: v1 for most
controllers plus a cgroup2 mount holding the rest.  Each controller is used where
it lives.
"""

from __future__ import annotations

import os


class Hierarchy:
    __slots__ = ("controllers", "fstype", "mountpoint", "name", "options", "root")

    def __init__(self, mountpoint: str, fstype: str, root: str, options: str) -> None:
        self.mountpoint = mountpoint
        self.fstype = fstype  # "cgroup" | "cgroup2"
        self.root = root  # the mount's root inside the hierarchy (usually "/")
        # v1: the super options name the controllers (and name=systemd for named ones)
        opts = [o for o in options.split(",") if o not in ("rw", "ro")]
        self.controllers = [o for o in opts if "=" not in o and o not in _NOT_CONTROLLERS]
        names = [o for o in opts if o.startswith("name=")]
        self.options = ",".join(self.controllers + names) if fstype == "cgroup" else ""
        self.name = mountpoint.rstrip("/").rsplit("/", 1)[-1]

    @property
    def is_v2(self) -> bool:
        return self.fstype == "cgroup2"

    def __repr__(self) -> str:
        return f"Hierarchy({self.mountpoint!r}, {self.fstype}, {self.controllers})"


_NOT_CONTROLLERS = {"noprefix", "clone_children", "xattr", "nsdelegate", "memory_recursiveprot",
                    "cpuset_v2_mode", "favordynmods", "memory_localevents",
                    "memory_hugetlb_accounting"}


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace(
        "\\134", "\\")


def parse_mountinfo(text: str) -> list[Hierarchy]:
    """Every cgroup/cgroup2 mount, first mount of each hierarchy only."""
    found: list[Hierarchy] = []
    seen: set[str] = set()
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        fstype = fields[sep + 1]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        root, mountpoint = _unescape(fields[3]), _unescape(fields[4])
        super_opts = fields[sep + 3] if len(fields) > sep + 3 else ""
        h = Hierarchy(mountpoint, fstype, root, super_opts)
        key = h.options if fstype == "cgroup" else "cgroup2"
        if key in seen:
            continue
        seen.add(key)
        if fstype == "cgroup2":
            try:
                with open(mountpoint.rstrip("/") + "/cgroup.controllers") as f:
                    h.controllers = f.read().split()
            except OSError:
                h.controllers = []
        found.append(h)
    return found


def host_hierarchies() -> list[Hierarchy]:
    with open("/proc/self/mountinfo") as f:
        return parse_mountinfo(f.read())


def mode(hierarchies: list[Hierarchy]) -> str:
    """"v1", "v2" or "hybrid"."""
    v1 = any(not h.is_v2 for h in hierarchies)
    v2 = any(h.is_v2 for h in hierarchies)
    if v1 and v2:
        return "hybrid"
    return "v2" if v2 else "v1"


def delegated_hierarchies(delegated: str) -> list[Hierarchy]:
    """The hierarchies a rootless Manager sees (fire.cgroup.rootless): the delegated
    subtree as the root of a cgroup2 tree, or none at all ("": no cgroup)."""
    if not delegated:
        return []
    h = Hierarchy(delegated, "cgroup2", "/", "")
    try:
        with open(os.path.join(delegated, "cgroup.controllers")) as f:
            h.controllers = f.read().split()
    except OSError:
        h.controllers = []
    return [h]
