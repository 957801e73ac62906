"""Which cgroup a rootless container gets: a delegated v2 subtree, or none.

An ordinary user can write no cgroup of a v1 host (this CI machine's controllers)
and, on a v2 host, only the subtree systemd delegates to its user manager
(``user.slice/user-UID.slice/user@UID.service``, owned by the user).  The decision
is made once, at ``create``, and recorded in the cgroup's state
(``Manager.delegated``), so every later command uses the same:

* **a delegated v2 subtree** — the topmost directory of the caller's own cgroup
  (``/proc/self/cgroup``) that the caller owns (``user@UID.service`` when Fire runs
  under the user's systemd): the container's cgroup is made below it
  (``<subtree>/<id>``, or the relative ``cgroupsPath`` there) and the limits are
  applied, as root's are, except the device filter (``skip_devices``).  The
  subtree is the root the Manager sees, so it enables controllers only inside it.
* **none** — no writable cgroup and no ``cgroupsPath``: the container runs in the
  caller's cgroup, as runc 1.1.5 runs it in rootless mode.  Checked as an ordinary
  user on this host: runc ignores ``linux.resources.devices`` silently and fails
  every other limit ("cannot set memory limit: container could not join or create
  cgroup").  Fire does the same, but says so: the device rules are skipped with a
  warning naming ``$.linux.resources.devices``, any other limit is an error
  naming its fields.  pause, update, and the cgroup's statistics need a cgroup and
  say so; ``kill --all`` and ``ps`` fall back to the container's processes as the
  process table shows them (docs/rootless.md).

A ``cgroupsPath`` the user cannot create is runc's error, not a fallback: the
config asked for that cgroup.
"""

from __future__ import annotations

import os

from fire.cgroup.hierarchy import delegated_hierarchies, host_hierarchies, mode
from fire.cgroup.manager import Manager, resolve_path
from fire.errors import CgroupError
from fire.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.translate import Translation
    from fire.spec.config import Spec

V2_ROOT = "/sys/fs/cgroup"
NONE = ""  # Manager.delegated when the container has no cgroup


def own_cgroup() -> str | None:
    """The caller's cgroup in the v2 tree (``0::/path`` of /proc/self/cgroup)."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


def _owned(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_uid == os.geteuid() and os.access(path, os.W_OK)
            and os.access(os.path.join(path, "cgroup.subtree_control"), os.W_OK))


def delegated_subtree(mountpoint: str = V2_ROOT) -> str | None:
    """The topmost directory above (or at) the caller's own cgroup that the caller
    owns, or None.

    Only a subtree the caller is already in will do: cgroup v2 lets a process be
    moved only by a writer of the ``cgroup.procs`` of the common ancestor of where
    it is and where it goes.  A user's login shell sits in a session scope that
    root owns; ``systemd-run --user --scope fire …`` (or a service of the user's
    manager) starts Fire inside ``user@UID.service``, which systemd delegates.
    """
    own = own_cgroup()
    best: str | None = None
    if own is not None:
        cur = os.path.normpath(mountpoint + "/" + own.lstrip("/"))
        while cur != mountpoint and _owned(cur):
            best = cur
            cur = os.path.dirname(cur)
    return best


def _writable(manager: Manager) -> bool:
    """Whether every directory the container's cgroup needs can be made (or exists)."""
    for d in manager.dirs():
        cur = d
        while not os.path.isdir(cur):
            cur = os.path.dirname(cur)
        if not os.access(cur, os.W_OK):
            return False
    return True


def manager(cgroups_path: str | None, cid: str) -> Manager:
    """The Manager of a rootless container's cgroup (see the module's docstring)."""
    path = resolve_path(cgroups_path, cid)
    host = host_hierarchies()
    plain = Manager(path, host)
    if _writable(plain):
        return plain  # e.g. uid 0 in a user namespace that owns the cgroups
    if mode(host) == "v2":
        subtree = delegated_subtree(next(h.mountpoint for h in host if h.is_v2).rstrip("/"))
        if subtree is not None and not (cgroups_path or "").startswith("/"):
            delegated = Manager(path, delegated_hierarchies(subtree))
            delegated.delegated = subtree
            return delegated
    if cgroups_path:
        return plain  # asked for: create fails with runc's permission error
    none = Manager(path, [])
    none.delegated = NONE
    return none


def skip_devices(translation: Translation, spec: Spec) -> None:
    """A delegated subtree takes every limit but the device filter: attaching an
    eBPF program to a cgroup needs CAP_SYS_ADMIN in the host's user namespace (runc
    ignores the devices controller's errors in rootless mode)."""
    if translation.devices is None:
        return
    translation.devices = None
    res = spec.linux.resources if spec.linux is not None else None
    if res is not None and res.devices:
        log.warning("$.linux.resources.devices: not applied: a device filter needs "
                    "privileges the user does not have (rootless); the user namespace still "
                    "keeps the container from creating device nodes")


def has_none(cgroup_state: dict[str, object] | None) -> bool:
    """Whether a container's recorded cgroup is "none" (rootless, nothing writable)."""
    return bool(cgroup_state) and cgroup_state.get("rootless") == NONE  # type: ignore[union-attr]


def no_cgroup_error(cid: str, verb: str) -> CgroupError:
    """What pause, update and events say about a container without a cgroup."""
    if verb == "pause":
        return CgroupError("cannot pause container {id}: it has no cgroup (rootless: the "
                           "user has no writable cgroup on this host)", id=cid)
    if verb == "update":
        return CgroupError("cannot update container {id}: it has no cgroup (rootless: the "
                           "user has no writable cgroup on this host)", id=cid)
    return CgroupError("no statistics for container {id}: it has no cgroup (rootless: the "
                       "user has no writable cgroup on this host)", id=cid)


def without_cgroup(spec: Spec) -> Spec:
    """The spec a container without a cgroup can run: its device rules dropped with
    a warning; any other limit is an error naming the fields (runc fails them)."""
    import msgspec

    linux = spec.linux
    res = linux.resources if linux is not None else None
    if linux is None or res is None:
        return spec
    given = {k: v for k, v in msgspec.to_builtins(res).items() if v not in (None, [], {})}
    devices = given.pop("devices", None)
    if given:
        raise CgroupError("{fields}: cannot apply these limits: the user has no writable "
                          "cgroup on this host (rootless); remove them, or run where a "
                          "cgroup v2 subtree is delegated to the user",
                          fields=", ".join(f"$.linux.resources.{k}" for k in sorted(given)))
    if devices:
        log.warning("$.linux.resources.devices: not applied: the user has no writable cgroup "
                    "on this host (rootless); the user namespace still keeps the container "
                    "from creating device nodes")
    return msgspec.structs.replace(spec, linux=msgspec.structs.replace(linux, resources=None))
