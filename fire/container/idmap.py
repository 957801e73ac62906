"""Idmapped bind mounts (``idmap``/``ridmap``, ``mounts[].uidMappings``): made by the
runtime, attached by the init.

Why here and not in the init: ``mount_setattr(MOUNT_ATTR_IDMAP)`` needs
CAP_SYS_ADMIN in the user namespace of the *source* filesystem (the host's), which
the init no longer has once it is inside a new user namespace — and such an init
may not even be able to look the source path up.  So the runtime, as host root,
clones the source (``open_tree``), idmaps the detached tree and sends its fd with
the plan; the init only ``move_mount``\\ s it into place (runc does the same).

The mapping itself is a user namespace.  The runtime makes one per distinct
mapping with a short-lived helper child that unshares a user namespace and waits
while the runtime writes its maps and opens ``/proc/<pid>/ns/user``; the maps are
written literally (``containerID hostID size``), as for the container's own user
namespace: a file owned by ``containerID`` on the source shows as ``hostID``.
"""

from __future__ import annotations

import os

from fire.errors import SyscallError
from fire.syscalls import KernelError
from fire.syscalls import mount as m
from fire.syscalls import ns as nsc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import MountPlan

Maps = list[tuple[int, int, int]]


def _map_text(maps: Maps) -> str:
    return "".join(f"{inside} {outside} {size}\n" for inside, outside, size in maps)


def userns_fd(uid_maps: Maps, gid_maps: Maps) -> int:
    """An fd of a new user namespace with these maps (no process left in it)."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the helper: unshare, say so, wait for the runtime to finish
        code = 1
        try:
            os.close(ready_r)
            os.close(done_w)
            nsc.unshare(nsc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise SyscallError("creating a user namespace for an idmapped mount",
                               OSError(1, os.strerror(1)))
        try:
            with open(f"/proc/{pid}/uid_map", "w") as f:
                f.write(_map_text(uid_maps))
            with open(f"/proc/{pid}/gid_map", "w") as f:
                f.write(_map_text(gid_maps))
            return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise SyscallError("writing the id maps of an idmapped mount", exc) from None
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def idmapped_tree(source: str, rbind: bool, recursive: bool, userns: int, shown: str) -> int:
    """A detached clone of ``source`` whose ids are mapped through ``userns``."""
    try:
        tree = m.open_tree(-100, source, m.OPEN_TREE_CLONE | m.OPEN_TREE_CLOEXEC
                           | (m.AT_RECURSIVE if rbind else 0))
    except KernelError as exc:
        raise SyscallError("bind source", exc, source) from None
    try:
        m.mount_setattr(tree, "", m.AT_EMPTY_PATH | (m.AT_RECURSIVE if recursive else 0),
                        m.MOUNT_ATTR_IDMAP, userns_fd=userns, shown=shown)
    except KernelError as exc:
        os.close(tree)
        raise SyscallError("idmapping a bind mount", exc, f"{source} -> {shown}") from None
    return tree


def prepare(mounts: list[MountPlan], first_index: int) -> list[int]:
    """Make the idmapped trees of ``mounts``; each plan learns the index of its fd in
    the list sent with the plan (``first_index`` is where they start)."""
    namespaces: dict[tuple[tuple[tuple[int, int, int], ...], ...], int] = {}
    trees: list[int] = []
    try:
        for mp in mounts:
            idmap = mp["idmap"]
            if idmap is None:
                continue
            key = (tuple(idmap["uid"]), tuple(idmap["gid"]))
            if key not in namespaces:
                namespaces[key] = userns_fd(idmap["uid"], idmap["gid"])
            rbind = bool(mp["flags"] & m.MS_REC)
            trees.append(idmapped_tree(mp["source"], rbind, idmap["recursive"],
                                       namespaces[key], mp["dest"]))
            idmap["index"] = first_index + len(trees) - 1
    except BaseException:
        for fd in trees:
            os.close(fd)
        raise
    finally:
        for fd in namespaces.values():
            os.close(fd)
    return trees
