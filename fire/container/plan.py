"""Compiling a validated ``Spec`` into the init's ``Plan``.

Every decision that can be made without the kernel is made here, in the runtime:
mount options become flags, capability names become bit masks, rlimit names become
numbers, relative paths become absolute.  The init then only applies numbers, which
keeps it small (it must fit in 12 MiB while it waits) and easy to audit.
"""

from __future__ import annotations

import os
import posixpath

from fire import jsonlite
from fire.errors import ConfigError
from fire.hooks.policy import attribute
from fire.i18n import message
from fire.rootless import in_user_namespace
from fire.security import attributes
from fire.security.lsm import mount_data
from fire.spec import mountopts
from fire.spec.names import CAPABILITIES, RLIMITS
from fire.syscalls.ns import FLAGS as NS_FLAGS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import (
        CapsPlan,
        CgroupMount,
        DevicePlan,
        HookPlan,
        IdmapPlan,
        MountPlan,
        Plan,
        ProcessPlan,
        SeccompPlan,
    )
    from fire.spec.config import Hook, Spec

def host_bounding_set() -> int:
    """The runtime's own capability bounding set (what it can possibly grant)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return (1 << 41) - 1


def rootfs_path(spec: Spec, bundle: str) -> str:
    assert spec.root is not None  # validated
    path = spec.root.path
    full = path if posixpath.isabs(path) else posixpath.join(bundle, path)
    full = posixpath.normpath(full)
    if not os.path.isdir(full):
        raise ConfigError("$.root.path", "rootfs {path} does not exist or is not a directory",
                          path=full)
    return full


def hook_plans(spec: Spec, phase: str) -> list[HookPlan]:
    hooks = spec.hooks
    items: list[Hook] = (getattr(hooks, attribute(phase)) or []) if hooks else []
    return [{"path": h.path, "args": list(h.args or []), "env": list(h.env or []),
             "timeout": float(h.timeout) if h.timeout else None} for h in items]


def caps_plan(spec: Spec, warnings: list[str]) -> CapsPlan | None:
    proc = spec.process
    if proc is None or proc.capabilities is None:
        return None
    caps = proc.capabilities
    bounding_host = host_bounding_set()

    def mask(set_name: str) -> int:
        out = 0
        for name in getattr(caps, set_name) or []:
            bit = CAPABILITIES.get(name)
            if bit is None:
                continue  # warned by validation
            if not bounding_host & (1 << bit):
                warnings.append(message(
                    "$.process.capabilities.{set}: {name} is not in the runtime's own "
                    "bounding set; skipped", set=set_name, name=name))
                continue
            out |= 1 << bit
        return out

    plan: CapsPlan = {
        "bounding": mask("bounding"),
        "effective": mask("effective"),
        "permitted": mask("permitted"),
        "inheritable": mask("inheritable"),
        "ambient": 0,
    }
    ambient = mask("ambient")
    allowed = plan["inheritable"] & plan["permitted"]
    for bit in range(64):
        if ambient & (1 << bit) and not allowed & (1 << bit):
            name = next((n for n, b in CAPABILITIES.items() if b == bit), str(bit))
            warnings.append(message(
                "$.process.capabilities.ambient: {name} is not in both the inheritable and "
                "permitted sets; the kernel refuses it, skipped", name=name))
            ambient &= ~(1 << bit)
    plan["ambient"] = ambient
    return plan


def process_plan(spec: Spec, warnings: list[str], extra_fds: int, listen_fds: int,
                 seccomp: SeccompPlan | None = None, exec_process: bool = False
                 ) -> ProcessPlan | None:
    """The process part of the plan: every attribute as the number the init needs.

    ``exec_process``: the plan is for ``fire exec`` (``execCPUAffinity`` applies to
    exec'd processes only: runtime-spec says it is not for the container's init).
    """
    proc = spec.process
    if proc is None:
        return None
    env = list(proc.env or [])
    if listen_fds:
        env += [f"LISTEN_FDS={listen_fds}", "LISTEN_PID=1"]
    linux = spec.linux
    personality = None
    if linux is not None and linux.personality is not None:
        personality = attributes.personality(linux.personality)
    memory_policy = None
    if linux is not None and linux.memory_policy is not None:
        memory_policy = attributes.memory_policy(linux.memory_policy)
    affinity: tuple[list[int] | None, list[int] | None] = (None, None)
    if exec_process and proc.exec_cpu_affinity is not None:
        where = "$.process.execCPUAffinity"
        initial, final = proc.exec_cpu_affinity.initial, proc.exec_cpu_affinity.final
        affinity = (attributes.id_list(initial, f"{where}.initial") if initial else None,
                    attributes.id_list(final, f"{where}.final") if final else None)
    return {
        "args": list(proc.args or []),
        "env": env,
        "cwd": proc.cwd,
        "uid": proc.user.uid,
        "gid": proc.user.gid,
        "additional_gids": list(proc.user.additional_gids or []),
        "umask": proc.user.umask,
        "terminal": proc.terminal,
        "console_size": (proc.console_size.height, proc.console_size.width)
        if proc.console_size else None,
        "rlimits": [(RLIMITS[r.type], r.soft, r.hard) for r in proc.rlimits or []],
        "no_new_privileges": proc.no_new_privileges,
        "caps": caps_plan(spec, warnings),
        "seccomp": seccomp,
        "apparmor": proc.apparmor_profile or "",
        "selinux": proc.selinux_label or "",
        "personality": personality,
        "oom_score_adj": proc.oom_score_adj,
        "scheduler": attributes.scheduler(proc.scheduler) if proc.scheduler else None,
        "io_priority": attributes.io_priority(proc.io_priority) if proc.io_priority else None,
        "cpu_affinity": affinity,
        "memory_policy": memory_policy,
        "preserve_fds": extra_fds,
    }


def mount_plans(spec: Spec, bundle: str, cgroups: list[CgroupMount], cgroupns: bool
                ) -> list[MountPlan]:
    out: list[MountPlan] = []
    label = (spec.linux.mount_label or "") if spec.linux else ""
    if label:
        from fire.security.lsm import mount_label

        label = mount_label(spec)  # none without SELinux (lsm.check warned)
    for i, mnt in enumerate(spec.mounts or []):
        opts = mountopts.parse(mnt.options, mnt.type)
        if opts.is_bind:
            kind = "bind"
            source = mnt.source or ""
            if not posixpath.isabs(source):
                source = posixpath.normpath(posixpath.join(bundle, source))
            flags = opts.flags & ~(mountopts.MS_REMOUNT)
        else:
            kind = "cgroup" if mnt.type == "cgroup" else "fs"
            source = mnt.source or mnt.type or ""
            flags = opts.flags & ~(mountopts.MS_BIND | mountopts.MS_REC | mountopts.MS_REMOUNT)
        idmap: IdmapPlan | None = None
        if opts.idmap or mnt.uid_mappings or mnt.gid_mappings:
            idmap = idmap_plan(spec, i, opts.recursive_idmap)
        top_set, top_clear = mountopts.mount_attrs(opts.flags, opts.cleared)
        plan: MountPlan = {
            "dest": posixpath.normpath(mnt.destination),
            "kind": kind,
            "fstype": mnt.type or "",
            "source": "cgroupns" if kind == "cgroup" and cgroupns else source,
            "flags": flags,
            "data": mount_data(",".join(opts.data), kind if kind == "bind" else mnt.type or "",
                               label),
            "propagation": opts.propagation,
            "attr_set": opts.attr_set,
            "attr_clear": opts.attr_clear,
            "top_set": top_set,
            "top_clear": top_clear,
            "tmpcopyup": opts.tmpcopyup,
            "idmap": idmap,
            "cgroups": cgroups if kind == "cgroup" else [],
            "tree": -1,
        }
        out.append(plan)
    return out


def idmap_plan(spec: Spec, i: int, recursive: bool) -> IdmapPlan:
    """The mappings of an idmapped mount: its own, or else the container's (runc's
    rule for ``idmap`` without ``uidMappings``); validated already."""
    mnt = (spec.mounts or [])[i]
    linux = spec.linux
    uids = mnt.uid_mappings or (linux.uid_mappings if linux else None) or []
    gids = mnt.gid_mappings or (linux.gid_mappings if linux else None) or []
    return {"uid": [(x.container_id, x.host_id, x.size) for x in uids],
            "gid": [(x.container_id, x.host_id, x.size) for x in gids],
            "recursive": recursive, "index": -1, "fd": -1}


def device_plans(spec: Spec) -> list[DevicePlan]:
    linux = spec.linux
    out: list[DevicePlan] = []
    for d in (linux.devices or []) if linux else []:
        out.append({
            "path": d.path,
            "type": d.type,
            "major": d.major or 0,
            "minor": d.minor or 0,
            "mode": d.file_mode if d.file_mode is not None else 0o666,
            "uid": d.uid or 0,
            "gid": d.gid or 0,
        })
    return out


def state_json(spec: Spec, cid: str, bundle: str) -> bytes:
    """The spec state for the init's hooks, with placeholders the init fills in."""
    state: dict[str, object] = {"ociVersion": spec.oci_version, "id": cid, "status": "@",
                                "pid": -1, "bundle": bundle}
    if spec.annotations:
        state["annotations"] = spec.annotations
    return jsonlite.dumps(state).encode()


def build(spec: Spec, *, cid: str, bundle: str, state_dir: str, rootfs: str,
          cgroups: list[CgroupMount], no_pivot: bool = False, new_keyring: bool = True,
          extra_fds: int = 0, listen_fds: int = 0, seccomp: SeccompPlan | None = None
          ) -> tuple[Plan, list[str]]:
    """The init's plan, and warnings to log."""
    warnings: list[str] = []
    linux = spec.linux
    assert linux is not None
    assert spec.root is not None
    namespaces: list[tuple[str, int, str | None]] = []
    new_flags = 0
    for ns in linux.namespaces or []:
        flag = NS_FLAGS[ns.type]
        namespaces.append((ns.type, flag, ns.path))
        if ns.path is None:
            new_flags |= flag
    kinds = {ns.type for ns in linux.namespaces or []}
    cgroupns = any(ns.type == "cgroup" and ns.path is None for ns in linux.namespaces or [])
    propagation = mountopts.MS_SLAVE | mountopts.MS_REC
    if linux.rootfs_propagation:
        propagation = mountopts.PROPAGATION[linux.rootfs_propagation]
    mounts = mount_plans(spec, bundle, cgroups, cgroupns)
    dev_bound = any(m["dest"] == "/dev" and m["kind"] == "bind" for m in mounts)
    plan: Plan = {
        "id": cid,
        "bundle": bundle,
        "rootfs": rootfs,
        "root_readonly": spec.root.readonly,
        "state_dir": state_dir,
        "namespaces": namespaces,
        "new_flags": new_flags,
        "time_offsets": [(clock, off.secs, off.nanosecs)
                         for clock, off in (linux.time_offsets or {}).items()],
        # Entering a pid or time namespace, new (unshare) or joined (setns), only
        # moves the caller's children: the init forks once after the namespace stage.
        "needs_fork": bool(kinds & {"pid", "time"}),
        "propagation": propagation,
        "mounts": mounts,
        "devices": device_plans(spec),
        "default_devices": not dev_bound,
        # mknod needs the initial user namespace: inside any other (the config's,
        # or the one rootless podman runs us in) the host's nodes are bound instead
        "bind_devices": "user" in kinds or in_user_namespace(),
        "masked_paths": list(linux.masked_paths or []),
        "readonly_paths": list(linux.readonly_paths or []),
        "sysctl": list((linux.sysctl or {}).items()),
        "hostname": spec.hostname,
        "domainname": spec.domainname,
        "no_pivot": no_pivot,
        "chroot": "mount" not in kinds,
        "new_keyring": new_keyring,
        "process": process_plan(spec, warnings, extra_fds, listen_fds, seccomp),
        # fire.net's bridge sets it too (fire.net.stage.complete_plan)
        "runtime_turn": bool(hook_plans(spec, "prestart") or hook_plans(spec, "createRuntime")
                             or linux.net_devices),
        "hooks_create_container": hook_plans(spec, "createContainer"),
        "hooks_start_container": hook_plans(spec, "startContainer"),
        "state_json": state_json(spec, cid, bundle),
        "overlay": None,  # fire.storage.stage.complete_plan
        "mountpoints": [],
    }
    return plan, warnings
