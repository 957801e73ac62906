"""Rules of runtime-spec 1.3 that relate several fields of config.json.

Pure: no I/O.  ``validate`` raises ``ConfigError`` naming the JSON path of the first
violation, and returns the warnings (things the spec says SHOULD NOT fail, such as an
unknown capability name) for the caller to log.
"""

from __future__ import annotations

import posixpath

from fire.errors import ConfigError
from fire.i18n import N_, message
from fire.spec.names import CAPABILITIES, RLIMITS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.spec.config import Linux, Spec

ABSOLUTE = N_("must be an absolute path, got {path!r}")

SUPPORTED_MINOR = (0, 1, 2, 3)

# Sysctls that are namespaced, and the namespace each needs (runc's list,
# libcontainer/configs/validate).  Anything else would change the host: refused.
_IPC_SYSCTLS = {
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
}
_UTS_SYSCTLS = {"kernel.hostname", "kernel.domainname"}


def parse_version(text: str) -> tuple[int, int, int] | None:
    core = text.split("-", 1)[0].split("+", 1)[0]
    parts = core.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def sysctl_namespace(key: str) -> str | None:
    """The namespace a sysctl belongs to, or None when it is not namespaced."""
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        return "ipc"
    if key.startswith("net."):
        return "network"
    if key in _UTS_SYSCTLS:
        return "uts"
    return None


def joined_sysctl_namespaces(spec: Spec) -> list[tuple[str, str, str]]:
    """(sysctl, namespace type, path) for each sysctl whose namespace the container
    joins by path rather than makes."""
    linux = spec.linux
    if linux is None or not linux.sysctl:
        return []
    joined: dict[str, str] = {ns.type: ns.path for ns in linux.namespaces or []
                              if ns.path is not None}
    out: list[tuple[str, str, str]] = []
    for key in linux.sysctl:
        kind = sysctl_namespace(key)
        if kind is not None and kind in joined:
            out.append((key, kind, joined[kind]))
    return out


def validate(spec: Spec) -> list[str]:
    """Check the cross-field rules; return warnings.  Raises ``ConfigError``."""
    warnings: list[str] = []
    version = parse_version(spec.oci_version)
    if version is None or version[0] != 1 or version[1] not in SUPPORTED_MINOR:
        raise ConfigError("$.ociVersion",
                          "unsupported version {version!r} (Fire supports 1.0.0 to 1.3.x)",
                          version=spec.oci_version)
    if spec.root is None:
        raise ConfigError("$.root", "required field is missing")
    if not spec.root.path:
        raise ConfigError("$.root.path", "must not be empty")

    linux = spec.linux
    namespaces = linux.namespaces or [] if linux else []
    new_ns: set[str] = set()
    seen: set[str] = set()
    for i, ns in enumerate(namespaces):
        if ns.type in seen:
            raise ConfigError(f"$.linux.namespaces[{i}].type",
                              "namespace {type!r} is listed twice", type=ns.type)
        seen.add(ns.type)
        if ns.path is None:
            new_ns.add(ns.type)
        elif not posixpath.isabs(ns.path):
            raise ConfigError(f"$.linux.namespaces[{i}].path", ABSOLUTE, path=ns.path)

    _validate_process(spec, warnings)
    _validate_mounts(spec)
    _validate_hooks(spec)
    if linux is not None:
        if "user" in new_ns:
            if not linux.uid_mappings or not linux.gid_mappings:
                raise ConfigError("$.linux.uidMappings",
                                  "a new user namespace needs uidMappings and gidMappings")
        elif (linux.uid_mappings or linux.gid_mappings) and "user" not in seen:
            raise ConfigError("$.linux.uidMappings", "id mappings need a user namespace")
        if linux.time_offsets:
            if "time" not in new_ns:
                raise ConfigError("$.linux.timeOffsets", "time offsets need a new time namespace")
            for clock in linux.time_offsets:
                if clock not in ("monotonic", "boottime"):
                    raise ConfigError(f"$.linux.timeOffsets.{clock}",
                                      "expected 'monotonic' or 'boottime'")
        for key in linux.sysctl or {}:
            needs = sysctl_namespace(key)
            if needs is None:
                raise ConfigError(f"$.linux.sysctl.{key}",
                                  "not a namespaced sysctl: it would change the host")
            # New, or joined by path (a pod's sandbox joins the network namespace
            # the CNI made): create checks that a joined one is not its own
            # (fire.container.sysctl_ns), which needs I/O.
            if needs not in seen:
                raise ConfigError(f"$.linux.sysctl.{key}", "needs a {kind} namespace",
                                  kind=needs)
        for field_name, paths in (("maskedPaths", linux.masked_paths),
                                  ("readonlyPaths", linux.readonly_paths)):
            for i, path in enumerate(paths or []):
                if not posixpath.isabs(path):
                    raise ConfigError(f"$.linux.{field_name}[{i}]", ABSOLUTE, path=path)
        for i, dev in enumerate(linux.devices or []):
            if not posixpath.isabs(dev.path) or posixpath.normpath(dev.path) == "/":
                raise ConfigError(f"$.linux.devices[{i}].path", ABSOLUTE, path=dev.path)
            if dev.type != "p" and (dev.major is None or dev.minor is None):
                raise ConfigError(f"$.linux.devices[{i}]", "major and minor are required")
        if linux.rootfs_propagation not in (None, "", "shared", "slave", "private", "unbindable",
                                            "rshared", "rslave", "rprivate", "runbindable"):
            raise ConfigError("$.linux.rootfsPropagation", "unknown propagation {value!r}",
                              value=linux.rootfs_propagation)
    if linux is not None:
        _validate_unified(linux)
    # A uts namespace of the container's own, new or joined by path: as runc, which
    # sets the names in a joined one (the runtime-tools suite's linux_ns_path does).
    # Without one the names would be the host's.
    if spec.hostname and "uts" not in seen:
        raise ConfigError("$.hostname", "setting the hostname needs a uts namespace")
    if spec.domainname and "uts" not in seen:
        raise ConfigError("$.domainname", "setting the domainname needs a uts namespace")
    return warnings


def _validate_process(spec: Spec, warnings: list[str]) -> None:
    proc = spec.process
    if proc is None:
        return
    if not proc.args:
        raise ConfigError("$.process.args", "must name the program to run")
    if not posixpath.isabs(proc.cwd):
        raise ConfigError("$.process.cwd", ABSOLUTE, path=proc.cwd)
    for i, entry in enumerate(proc.env or []):
        if "=" not in entry or entry.startswith("="):
            raise ConfigError(f"$.process.env[{i}]", "expected KEY=VALUE, got {entry!r}",
                              entry=entry)
    seen: set[str] = set()
    for i, rl in enumerate(proc.rlimits or []):
        if rl.type not in RLIMITS:
            raise ConfigError(f"$.process.rlimits[{i}].type", "unknown rlimit {type!r}",
                              type=rl.type)
        if rl.type in seen:
            raise ConfigError(f"$.process.rlimits[{i}].type", "{type} is listed twice",
                              type=rl.type)
        seen.add(rl.type)
        if rl.soft > rl.hard:
            raise ConfigError(f"$.process.rlimits[{i}]", "soft limit is above the hard limit")
    caps = proc.capabilities
    if caps is not None:
        for set_name in ("bounding", "effective", "inheritable", "permitted", "ambient"):
            for name in getattr(caps, set_name) or []:
                if name not in CAPABILITIES:
                    warnings.append(message(
                        "$.process.capabilities.{set}: unknown capability {name}, skipped",
                        set=set_name, name=name))


def _validate_mounts(spec: Spec) -> None:
    for i, m in enumerate(spec.mounts or []):
        if not posixpath.isabs(m.destination):
            raise ConfigError(f"$.mounts[{i}].destination", ABSOLUTE, path=m.destination)
        options = m.options or []
        is_bind = m.type == "bind" or "bind" in options or "rbind" in options
        if is_bind and not m.source:
            raise ConfigError(f"$.mounts[{i}].source", "a bind mount needs a source")
        if not is_bind and not m.type:
            raise ConfigError(f"$.mounts[{i}].type", "required for a mount that is not a bind")
        idmap = "idmap" in options or "ridmap" in options
        if idmap or m.uid_mappings or m.gid_mappings:
            _validate_idmap(spec, i, is_bind)


def _validate_idmap(spec: Spec, i: int, is_bind: bool) -> None:
    """An idmapped mount: a bind, with both maps (its own or the container's)."""
    m = (spec.mounts or [])[i]
    if not is_bind:
        raise ConfigError(f"$.mounts[{i}].options",
                          "idmapped mounts are supported for bind mounts only")
    if bool(m.uid_mappings) != bool(m.gid_mappings):
        missing = "gidMappings" if m.uid_mappings else "uidMappings"
        raise ConfigError(f"$.mounts[{i}].{missing}",
                          "an idmapped mount needs both uidMappings and gidMappings")
    linux = spec.linux
    if not m.uid_mappings and not (linux and linux.uid_mappings and linux.gid_mappings):
        raise ConfigError(f"$.mounts[{i}].uidMappings",
                          "idmap needs uidMappings and gidMappings, on the mount or in "
                          "$.linux (the container's user namespace)")
    for field_name, maps in (("uidMappings", m.uid_mappings), ("gidMappings", m.gid_mappings)):
        if maps and len(maps) > 340:
            raise ConfigError(f"$.mounts[{i}].{field_name}", "at most 340 ranges")


def _validate_hooks(spec: Spec) -> None:
    hooks = spec.hooks
    if hooks is None:
        return
    for phase, name in (("prestart", "prestart"), ("create_runtime", "createRuntime"),
                        ("create_container", "createContainer"),
                        ("start_container", "startContainer"), ("poststart", "poststart"),
                        ("poststop", "poststop")):
        for i, hook in enumerate(getattr(hooks, phase) or []):
            if not posixpath.isabs(hook.path):
                raise ConfigError(f"$.hooks.{name}[{i}].path", ABSOLUTE, path=hook.path)
            if hook.timeout is not None and hook.timeout <= 0:
                raise ConfigError(f"$.hooks.{name}[{i}].timeout",
                                  "must be greater than zero, got {value}", value=hook.timeout)


def _validate_unified(linux: Linux) -> None:
    """``resources.unified`` keys name files of the container's own cgroup: a key
    that is a path (``../x``, ``a/b``) would write elsewhere."""
    resources = linux.resources
    for key in (resources.unified or {}) if resources else {}:
        if not key or "/" in key or "\0" in key or key in (".", ".."):
            raise ConfigError("$.linux.resources.unified",
                              "{key!r} is not a cgroup file name (no path allowed)", key=key)
