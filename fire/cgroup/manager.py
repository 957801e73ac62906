"""One container's cgroup, across the commands that create, use and remove it.

The directories Fire made (and only those) are recorded in the container's state
*before* they are made, so a crash between ``mkdir`` and the record cannot leave one
behind that ``delete --force`` would not know about; ``destroy`` removes only those,
deepest first, after killing whatever is still inside.
"""

from __future__ import annotations

import errno
import os
import time

from fire.cgroup.hierarchy import Hierarchy, host_hierarchies
from fire.errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import CgroupMount

# runc's v1 combined-controller links inside a container's /sys/fs/cgroup.
_LINKS = {"cpu,cpuacct": ["cpu", "cpuacct"], "net_cls,net_prio": ["net_cls", "net_prio"]}


def resolve_path(cgroups_path: str | None, cid: str) -> str:
    """The container's cgroup path inside each hierarchy.

    Absolute paths are used as given; a relative one is placed under the root of
    each hierarchy (runc's interpretation of the spec's "runtime-determined
    location"); the default is ``/<id>``.
    """
    if not cgroups_path:
        return "/" + cid
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        raise CgroupError("$.linux.cgroupsPath: {path}: the systemd cgroup driver is not "
                          "available on this host", path=cgroups_path)
    # One leading slash: normpath keeps a leading "//" (POSIX), and podman's
    # cgroupsPath is absolute ("/libpod_parent/libpod-ID").
    path = os.path.normpath("/" + cgroups_path.lstrip("/"))
    if path == "/":
        raise CgroupError("$.linux.cgroupsPath: the root cgroup cannot be a container's")
    return path


def _inherit_cpuset(path: str) -> None:
    """A new v1 cpuset starts empty (no task may join it): copy the parent's."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        mine = os.path.join(path, name)
        try:
            with open(mine) as f:
                if f.read().strip():
                    continue
            with open(os.path.join(os.path.dirname(path), name)) as f:
                value = f.read().strip()
            with open(mine, "w") as f:
                f.write(value)
        except FileNotFoundError:
            return  # not a v1 cpuset directory
        except OSError as exc:
            raise CgroupError("cannot set up cpuset {path}: {reason}", path=mine,
                              reason=exc.strerror) from None


class Manager:
    def __init__(self, path: str, hierarchies: list[Hierarchy] | None = None) -> None:
        self.path = path
        self.hierarchies = host_hierarchies() if hierarchies is None else hierarchies
        self.created: list[str] = []  # directories Fire made, parents first

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict[str, object]:
        return {"path": self.path, "created": list(self.created)}

    @classmethod
    def from_state(cls, data: dict[str, object] | None) -> Manager | None:
        if not data or not isinstance(data.get("path"), str):
            return None
        mgr = cls(str(data["path"]))
        created = data.get("created")
        mgr.created = [c for c in created if isinstance(c, str)] if isinstance(created, list) else []
        return mgr

    # ------------------------------------------------------------------ paths
    def dirs(self) -> list[str]:
        return [h.mountpoint.rstrip("/") + self.path for h in self.hierarchies]

    def planned(self) -> list[str]:
        """The directories ``create`` will make (those missing now, parents first)."""
        todo: list[str] = []
        for d in self.dirs():
            missing: list[str] = []
            cur = d
            while not os.path.isdir(cur):
                missing.append(cur)
                cur = os.path.dirname(cur)
            todo.extend(reversed(missing))
        return todo

    def create(self) -> None:
        for d in self.created:
            try:
                os.mkdir(d, 0o755)
            except FileExistsError:
                pass
            except OSError as exc:
                raise CgroupError("cannot create cgroup {path}: {reason}", path=d,
                                  reason=exc.strerror) from None
        for d in self.dirs():
            if not os.path.isdir(d):
                raise CgroupError("cannot create cgroup {path}", path=d)
        for d in self.created:
            _inherit_cpuset(d)

    def add(self, pid: int) -> None:
        for d in self.dirs():
            try:
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
            except OSError as exc:
                raise CgroupError("cannot join cgroup {path}: {reason}", path=d,
                                  reason=exc.strerror) from None

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs():
            for root, _dirs, files in os.walk(d):
                if "cgroup.procs" in files:
                    try:
                        with open(os.path.join(root, "cgroup.procs")) as f:
                            found.update(int(x) for x in f.read().split())
                    except OSError:
                        continue
        return sorted(found)

    def kill_all(self, sig: int = 9) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def destroy(self) -> None:
        """Remove the directories Fire made (deepest first), killing what is left."""
        if not self.created:
            return
        deadline = time.monotonic() + 5
        self.kill_all()
        own = set(self.dirs())
        for d in reversed(self.created):
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if d not in own and exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
                        # A parent this container made that others now use (podman's
                        # /libpod_parent): it stays, as runc leaves every parent.
                        break
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise CgroupError("cannot remove cgroup {path}: {reason}", path=d,
                                          reason=exc.strerror) from None
                    self.kill_all()
                    time.sleep(0.005)

    def mounts(self) -> list[CgroupMount]:
        """How the container's /sys/fs/cgroup should look (for the init)."""
        out: list[CgroupMount] = []
        only_v2 = all(h.is_v2 for h in self.hierarchies)
        for h in self.hierarchies:
            out.append({
                "name": "" if only_v2 else h.name,
                "fstype": h.fstype,
                "options": h.options,
                "host_path": h.mountpoint.rstrip("/") + self.path,
                "links": [] if only_v2 else _LINKS.get(h.name, []),
            })
        return out
