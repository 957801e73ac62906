"""Writing a new user namespace's id maps (the init asks: IDMAP; create answers).

Root writes ``/proc/PID/uid_map`` and ``gid_map`` itself.  An ordinary user may
write only one line there, mapping its own effective id (and, for gid_map, only
after writing ``deny`` to ``setgroups``: user_namespaces(7)); a map with more than
that (the ranges ``/etc/subuid`` and ``/etc/subgid`` grant) is written by the
setuid helpers ``newuidmap``/``newgidmap`` (Debian's ``uidmap`` package), which
check the ranges against those files — as runc and crun do.  A map the user is not
entitled to is the helper's refusal, reported with the field it came from.

uid 0 inside a user namespace (rootless podman runs its runtime so) writes the
maps itself: the kernel allows ids mapped in its own namespace.
"""

from __future__ import annotations

import os

from fire.errors import ConfigError, SyscallError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.spec.config import IDMapping, Spec

HELPERS = {"uid": "newuidmap", "gid": "newgidmap"}
HELPER_DIRS = ("/usr/bin", "/bin", "/usr/sbin", "/sbin")


def _lines(maps: list[IDMapping]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)


def _own_only(maps: list[IDMapping], own: int) -> bool:
    """One mapping, of the caller's own id: what the kernel lets a user write."""
    return len(maps) == 1 and maps[0].host_id == own and maps[0].size == 1


def _write(pid: int, name: str, text: str) -> None:
    try:
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(text)
    except OSError as exc:
        raise SyscallError("writing the user namespace's id maps", exc) from None


def helper(kind: str) -> str | None:
    """The absolute path of newuidmap/newgidmap (engines call us with no PATH)."""
    for d in HELPER_DIRS:
        path = os.path.join(d, HELPERS[kind])
        if os.access(path, os.X_OK):
            return path
    return None


def _run_helper(kind: str, pid: int, maps: list[IDMapping]) -> None:
    field = f"$.linux.{kind}Mappings"
    path = helper(kind)
    if path is None:
        raise ConfigError(field, "a map with more than the caller's own {kind} needs "
                          "{helper} (Debian's uidmap package), which is not installed",
                          kind=kind, helper=HELPERS[kind])
    import subprocess

    argv = [path, str(pid)]
    for m in maps:
        argv += [str(m.container_id), str(m.host_id), str(m.size)]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env={}, close_fds=True, check=False)
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(field, "the user may not map these ids ({helper}: {reason}); "
                          "its ranges are in /etc/sub{kind}", helper=HELPERS[kind],
                          reason=said[-1] if said else f"exit status {done.returncode}",
                          kind=kind)


def write(spec: Spec, pid: int) -> None:
    """Give the user namespace of ``pid`` the config's uid and gid maps."""
    linux = spec.linux
    assert linux is not None
    uids, gids = list(linux.uid_mappings or []), list(linux.gid_mappings or [])
    if os.geteuid() == 0:
        _write(pid, "uid_map", _lines(uids))
        _write(pid, "gid_map", _lines(gids))
        return
    if _own_only(uids, os.geteuid()):
        _write(pid, "uid_map", _lines(uids))
    else:
        _run_helper("uid", pid, uids)
    if _own_only(gids, os.getegid()):
        _write(pid, "setgroups", "deny")
        _write(pid, "gid_map", _lines(gids))
    else:
        _run_helper("gid", pid, gids)
