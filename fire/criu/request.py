"""What CRIU is told about a container: pure, so that it is tested without CRIU.

runc's options are the model (libcontainer's ``Checkpoint``/``Restore``), and the
command-line flags keep runc's meaning and defaults:

* **Mounts CRIU cannot dump** are the ones whose source lies outside the container:
  bind mounts (and, without a cgroup namespace, the bind of the container's cgroup
  directory; in a user namespace, the bound device nodes).  They are declared as
  external (``ext_mnt``): at dump keyed by their destination, at restore mapped to
  the host path they come from now, which lets a container restore elsewhere.
  Fire masks files with a bind of the container's *own* /dev/null (a node on its
  /dev tmpfs), so masked paths are internal binds CRIU dumps itself, unlike runc's
  binds of the host's /dev/null.
* **Namespaces** given by path (joined, not made) are not the container's to dump:
  network and pid ones become CRIU "external" entries (``net[INODE]:extRootNetNS``)
  and, on restore, an inherited fd under the same key; the others are joined again
  (``join_ns``); a joined cgroup namespace cannot be restored (CRIU has no way).
* The network namespace is always dumped empty (``empty_ns``), as runc does: its
  devices and addresses are the engine's to recreate.
* The container's stdio, when they were pipes, are handed to the restored tasks
  from the restoring command's own fds 0-2 (``inherit_fd``); ``descriptors.json`` in
  the image directory records what they were, in runc's format.
"""

from __future__ import annotations

import posixpath

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import DevicePlan, MountPlan

CLONE_NEWNET = 0x40000000
DESCRIPTORS = "descriptors.json"
# runc's name for the CRIU configuration file a container may override with the
# org.criu.config annotation (engines that tune CRIU write it; Fire reads the same).
CONFIG_FILE = "/etc/criu/runc.conf"
CONFIG_ANNOTATION = "org.criu.config"
CGROUP_MODES = ("soft", "full", "strict", "ignore")
EMPTY_NS = {"network": CLONE_NEWNET}
EXTERNAL_NS = {"network": "net", "pid": "pid"}


class Flags:
    """The command-line flags checkpoint and restore share (runc's defaults)."""

    def __init__(self, image_path: str = "", work_path: str = "", parent_path: str = "",
                 leave_running: bool = False, tcp_established: bool = False,
                 ext_unix_sk: bool = False, shell_job: bool = False, file_locks: bool = False,
                 pre_dump: bool = False, manage_cgroups_mode: str = "",
                 empty_ns: list[str] | None = None, auto_dedup: bool = False,
                 lazy_pages: bool = False) -> None:
        self.image_path = image_path
        self.work_path = work_path
        self.parent_path = parent_path
        self.leave_running = leave_running
        self.tcp_established = tcp_established
        self.ext_unix_sk = ext_unix_sk
        self.shell_job = shell_job
        self.file_locks = file_locks
        self.pre_dump = pre_dump
        self.manage_cgroups_mode = manage_cgroups_mode
        self.empty_ns = empty_ns or []
        self.auto_dedup = auto_dedup
        self.lazy_pages = lazy_pages


def empty_ns_mask(names: list[str]) -> int:
    """``--empty-ns``: only the network namespace, which is always empty anyway."""
    mask = CLONE_NEWNET
    for name in names:
        if name not in EMPTY_NS:
            raise ValueError(name)
        mask |= EMPTY_NS[name]
    return mask


def common_options(flags: Flags, annotations: dict[str, str] | None) -> dict[str, object]:
    opts: dict[str, object] = {
        "log_level": 4,
        "manage_cgroups": True,
        "notify_scripts": True,
        "shell_job": flags.shell_job,
        "tcp_established": flags.tcp_established,
        "ext_unix_sk": flags.ext_unix_sk,
        "file_locks": flags.file_locks,
        "empty_ns": empty_ns_mask(flags.empty_ns),
        "orphan_pts_master": True,
        "auto_dedup": flags.auto_dedup,
        "lazy_pages": flags.lazy_pages,
    }
    annotations = annotations or {}
    if CONFIG_ANNOTATION in annotations:  # "" means: no configuration file at all
        if annotations[CONFIG_ANNOTATION]:
            opts["config_file"] = annotations[CONFIG_ANNOTATION]
    else:
        opts["config_file"] = CONFIG_FILE
    return opts


def dump_options(flags: Flags, *, pid: int, root: str, freeze_cgroup: str | None,
                 annotations: dict[str, str] | None) -> dict[str, object]:
    opts = common_options(flags, annotations)
    opts.update({"log_file": "dump.log", "root": root, "pid": pid,
                 "leave_running": flags.leave_running})
    if freeze_cgroup:
        opts["freeze_cgroup"] = freeze_cgroup
    if flags.parent_path:
        opts["parent_img"] = flags.parent_path
        opts["track_mem"] = True
    return opts


def restore_options(flags: Flags, *, root: str, annotations: dict[str, str] | None
                    ) -> dict[str, object]:
    opts = common_options(flags, annotations)
    opts.update({"log_file": "restore.log", "root": root, "rst_sibling": True,
                 "evasive_devices": True})
    return opts


def external_mounts(mounts: list[MountPlan], devices: list[DevicePlan], bind_devices: bool,
                    restoring: bool) -> list[dict[str, str]]:
    """``ext_mnt`` entries: at dump ``dest -> dest``, at restore ``dest -> host source``."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()

    def add(dest: str, source: str) -> None:
        dest = "/" + posixpath.normpath(dest).lstrip("/")  # normpath keeps a leading "//"
        if dest not in seen:
            seen.add(dest)
            out.append({"key": dest, "val": source if restoring else dest})

    for mp in mounts:
        if mp["kind"] == "bind":
            add(mp["dest"], mp["source"])
        elif mp["kind"] == "cgroup" and mp["source"] != "cgroupns":
            cgroups = mp["cgroups"]
            if len(cgroups) == 1 and cgroups[0]["name"] == "":
                add(mp["dest"], cgroups[0]["host_path"])
            else:  # v1: a tmpfs CRIU dumps, holding one bind per hierarchy
                for cg in cgroups:
                    add(posixpath.join(mp["dest"], cg["name"]), cg["host_path"])
    if bind_devices:
        for dev in devices:
            add(dev["path"], dev["path"])
    return out


def dump_namespaces(namespaces: dict[str, str | None], inode_of: dict[str, int]
                    ) -> list[str]:
    """``external`` entries for the joined network and pid namespaces."""
    out: list[str] = []
    for kind, name in EXTERNAL_NS.items():
        if namespaces.get(kind) and kind in inode_of:
            out.append(f"{name}[{inode_of[kind]}]:{ns_key(kind)}")
    return out


def ns_key(kind: str) -> str:
    """runc's key for an external namespace (``extRootNetNS``, ``extRootPidNS``)."""
    return "extRoot" + EXTERNAL_NS[kind].capitalize() + "NS"


def restore_namespaces(namespaces: dict[str, str | None], fd_of: dict[str, int]
                       ) -> tuple[list[dict[str, object]], list[dict[str, str]]]:
    """(inherit_fd, join_ns) for the namespaces given by path.

    ``fd_of`` holds an open fd of each external (network, pid) namespace's file, which
    the restoring command passes to CRIU.  A joined cgroup namespace raises
    ``ValueError``: CRIU cannot join one.
    """
    inherit: list[dict[str, object]] = []
    join: list[dict[str, str]] = []
    for kind, path in namespaces.items():
        if not path:
            continue
        if kind in EXTERNAL_NS:
            inherit.append({"key": ns_key(kind), "fd": fd_of[kind]})
        elif kind == "cgroup":
            raise ValueError(kind)
        else:
            join.append({"ns": NS_NAMES.get(kind, kind), "ns_file": path})
    return inherit, join


NS_NAMES = {"network": "net", "mount": "mnt"}


def stdio_inherit(descriptors: list[str]) -> list[dict[str, object]]:
    """Pipes among the container's fds 0-2 become the restoring command's own (runc)."""
    return [{"key": text, "fd": i} for i, text in enumerate(descriptors[:3])
            if "pipe:" in text]


def mountpoints(mounts: list[MountPlan]) -> list[MountPlan]:
    """The mounts whose mountpoint must exist in the rootfs before CRIU restores: all
    but those inside a tmpfs of the container (CRIU restores a tmpfs's content)."""
    tmpfs = [mp["dest"] for mp in mounts if mp["fstype"] == "tmpfs"]
    return [mp for mp in mounts
            if not any(mp["dest"].startswith(t.rstrip("/") + "/") for t in tmpfs)]
