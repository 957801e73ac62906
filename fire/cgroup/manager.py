"""One container's cgroup, across the commands that create, use and remove it.

The directories Fire made (and only those) are recorded in the container's state
*before* they are made, so a crash between ``mkdir`` and the record cannot leave one
behind that ``delete --force`` would not know about; ``destroy`` removes only those,
deepest first, after killing whatever is still inside.

One interface for the three host layouts (v1, v2, hybrid): every hierarchy the
host mounts gets a directory, and each write of a ``Translation`` goes to the
directory of the hierarchy its controller lives in (``fire.cgroup.translate.locate``);
pure v1 and pure v2 are the cases where that is always the same kind.  The file
writing is here, apart from the pure translation, so it can be tested against a
temporary directory.
"""

from __future__ import annotations

import errno
import os
import time

from fire.cgroup.hierarchy import Hierarchy, delegated_hierarchies, host_hierarchies, mode
from fire.errors import CgroupError
from fire.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.translate import Translation, Write
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
        raise CgroupError("$.linux.cgroupsPath: {path}: this is the systemd driver's "
                          "slice:prefix:name form; give --systemd-cgroup", path=cgroups_path)
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


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    """One ``write(2)`` of the whole value (cgroup files parse one write at a time;
    O_TRUNC is what a shell's ``>`` does, and lets tests use plain files)."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


class Manager:
    driver = "cgroupfs"  # fire.cgroup.systemd.SystemdManager: "systemd"

    def __init__(self, path: str, hierarchies: list[Hierarchy] | None = None) -> None:
        self.path = path
        self.hierarchies = host_hierarchies() if hierarchies is None else hierarchies
        self.created: list[str] = []  # directories Fire made, parents first
        # linux.resources as last applied (JSON builtins): ``update`` merges into it
        self.resources: dict[str, object] | None = None
        self._where: dict[str, str] | None = None
        # Rootless (fire.cgroup.rootless): the delegated v2 directory the hierarchies
        # stand for, "" for no cgroup at all; None for the host's hierarchies.
        self.delegated: str | None = None

    # ------------------------------------------------------------------ state
    def to_state(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "created": list(self.created)}
        if self.resources:
            out["resources"] = self.resources
        if self.delegated is not None:
            out["rootless"] = self.delegated
        return out

    @classmethod
    def load(cls, data: dict[str, object],
             hierarchies: list[Hierarchy] | None = None) -> Manager | None:
        """The cgroupfs driver's manager from the state (``fire.cgroup.driver.from_state``
        picks the driver)."""
        delegated = data.get("rootless")
        if delegated == "":
            return None  # rootless without a cgroup (fire.cgroup.rootless)
        if isinstance(delegated, str) and hierarchies is None:
            hierarchies = delegated_hierarchies(delegated)
        mgr = cls(str(data["path"]), hierarchies)
        mgr.delegated = delegated if isinstance(delegated, str) else None
        created = data.get("created")
        mgr.created = [c for c in created if isinstance(c, str)] if isinstance(created, list) else []
        resources = data.get("resources")
        mgr.resources = resources if isinstance(resources, dict) else None
        return mgr

    # ------------------------------------------------------------------ paths
    @property
    def mode(self) -> str:
        """"v1", "v2" or "hybrid"."""
        return mode(self.hierarchies)

    @property
    def where(self) -> dict[str, str]:
        """Where each controller lives (``fire.cgroup.translate.locate``)."""
        if self._where is None:
            from fire.cgroup.translate import locate

            self._where = locate(self.hierarchies)
        return self._where

    def dirs(self) -> list[str]:
        return [h.mountpoint.rstrip("/") + self.path for h in self.hierarchies]

    def v2_dir(self) -> str | None:
        """The container's directory in the cgroup2 tree, if the host has one."""
        for h in self.hierarchies:
            if h.is_v2:
                return h.mountpoint.rstrip("/") + self.path
        return None

    def dir_for(self, controller: str, version: str | None = None) -> str | None:
        """The container's directory for ``controller`` ("" = the v2 tree's core files)."""
        version = version or self.where.get(controller)
        if version == "v2":
            return self.v2_dir()
        if version == "v1":
            for h in self.hierarchies:
                if not h.is_v2 and controller in h.controllers:
                    return h.mountpoint.rstrip("/") + self.path
        return None

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

    # ------------------------------------------------------------------ resources
    def enable_v2(self, controllers: set[str]) -> None:
        """Enable ``controllers`` in ``cgroup.subtree_control`` of every ancestor of
        the container's v2 directory, so that its files exist there.

        On a pure v2 host every available controller is enabled (statistics need
        memory, cpu, io and pids even without a limit), as runc does; on a hybrid
        host only those a limit needs, since the root's subtree_control there is
        shared by the whole machine.
        """
        mine = self.v2_dir()
        if mine is None:
            return
        root = mine[: len(mine) - len(self.path)]
        try:
            available = set(_read(root + "/cgroup.controllers").split())
        except OSError:
            return
        wanted = available if self.mode == "v2" else controllers & available
        if not wanted:
            return
        parts = [p for p in self.path.split("/") if p][:-1]
        current = root
        for part in [None, *parts]:
            if part is not None:
                current = current + "/" + part
            try:
                enabled = set(_read(current + "/cgroup.subtree_control").split())
            except OSError as exc:
                raise CgroupError("cannot read {path}: {reason}",
                                  path=current + "/cgroup.subtree_control",
                                  reason=exc.strerror) from None
            todo = sorted(wanted - enabled)
            if not todo:
                continue
            try:
                _write(current + "/cgroup.subtree_control", " ".join("+" + c for c in todo))
            except OSError as exc:
                raise CgroupError("cannot enable the {controllers} controller(s) in {path}: "
                                  "{reason}", controllers=",".join(todo),
                                  path=current + "/cgroup.subtree_control",
                                  reason=exc.strerror) from None

    def apply(self, translation: Translation, updating: bool = False) -> None:
        """Write ``translation`` into the container's directories.

        A write that fails with EINVAL is retried once after the other writes of its
        controller: v1's memory limit must stay below ``memsw`` and a cfs period
        must fit the current quota, so the right order depends on the old values.
        """
        self.enable_v2(translation.v2_controllers())
        by_controller: dict[str, list[Write]] = {}
        for w in translation.writes:
            by_controller.setdefault(w.controller, []).append(w)
        for writes in by_controller.values():
            retry: list[tuple[Write, str, str]] = []
            for w in writes:
                target = self._target(w)
                if target is None:
                    continue
                path, value = target
                if w.check_usage and updating:
                    self._check_usage(w, path, value)
                try:
                    _write(path, value)
                except OSError as exc:
                    if exc.errno == errno.EINVAL:
                        retry.append((w, path, value))
                    else:
                        self._failed(w, path, value, exc)
            for w, path, value in retry:
                try:
                    _write(path, value)
                except OSError as exc:
                    self._failed(w, path, value, exc)
        if translation.devices is not None:
            self._apply_devices(translation, updating)

    def _target(self, w: Write) -> tuple[str, str] | None:
        """(file path, value) of the first choice whose file exists, or None when the
        write is skipped (a warning says so where the field asks for one)."""
        d = self.dir_for(w.controller, w.version)
        if d is None:
            raise CgroupError("{field}: the {controller} controller is not available on "
                              "this host", field=w.field, controller=w.controller or "v2")
        for file, value in w.choices:
            if os.path.exists(os.path.join(d, file)):
                return os.path.join(d, file), value
        if w.missing == "skip":
            return None
        names = " or ".join(f for f, _ in w.choices)
        if w.missing == "warn":
            log.warning("{field}: this kernel has no {file}; ignored", field=w.field, file=names)
            return None
        raise CgroupError("{field}: not supported on this host ({file} does not exist in "
                          "{dir})", field=w.field, file=names, dir=d)

    def _check_usage(self, w: Write, path: str, value: str) -> None:
        """``memory.checkBeforeUpdate``: refuse a limit below the current usage."""
        usage_file = "memory.usage_in_bytes" if w.version == "v1" else "memory.current"
        try:
            usage = int(_read(os.path.join(os.path.dirname(path), usage_file)))
        except (OSError, ValueError):
            return
        if value.isdigit() and int(value) < usage:
            raise CgroupError("{field}: the new limit {limit} is below the current memory "
                              "usage {usage} (checkBeforeUpdate)", field=w.field,
                              limit=int(value), usage=usage)

    @staticmethod
    def _failed(w: Write, path: str, value: str, exc: OSError) -> None:
        if w.missing == "warn" and exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            log.warning("{field}: the kernel refused {file}; ignored", field=w.field,
                        file=os.path.basename(path))
            return
        raise CgroupError("{field}: cannot write {value!r} to {path}: {reason}",
                          field=w.field, value=value, path=path,
                          reason=exc.strerror or str(exc)) from None

    def _apply_devices(self, translation: Translation, updating: bool) -> None:
        state = translation.devices
        assert state is not None
        d = self.dir_for("devices", translation.devices_version)
        if d is None:
            return
        if translation.devices_version == "v1":
            # Reset to the default, then the exceptions to the opposite file.
            default, other = (("devices.allow", "devices.deny") if state.default_allow
                              else ("devices.deny", "devices.allow"))
            lines = [(default, "a")] + [(other, r.v1()) for r in state.rules()]
            for file, line in lines:
                try:
                    _write(os.path.join(d, file), line)
                except OSError as exc:
                    raise CgroupError("$.linux.resources.devices: cannot write {line!r} to "
                                      "{path}: {reason}", line=line, path=os.path.join(d, file),
                                      reason=exc.strerror) from None
            return
        from fire.cgroup.devfilter import program
        from fire.syscalls.bpf import install_device_program

        try:
            install_device_program(d, program(state))
        except OSError as exc:
            raise CgroupError("$.linux.resources.devices: cannot install the device filter "
                              "on {path}: {reason}", path=d,
                              reason=str(exc)) from None

    # ------------------------------------------------------------------ processes
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
        """Signal every process; with SIGKILL on v2, ``cgroup.kill`` does it in one
        write (no fork can escape it)."""
        v2 = self.v2_dir()
        if sig == 9 and v2 is not None and self.mode == "v2":
            try:
                _write(v2 + "/cgroup.kill", "1")
            except OSError:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def destroy(self, killed: bool = False) -> None:
        """Remove the directories Fire made (deepest first), killing what is left
        (``killed``: the caller just did; what escaped is killed on ``EBUSY``)."""
        if not self.created:
            return
        deadline = time.monotonic() + 5
        if not killed:
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
