"""Fire's own mounts made by the runtime, detached, when a user namespace is configured.

Why: the overlay's upper layer, the named volumes and the bridge's hosts files
live under ``--root``, which is mode 0700.  In a user namespace the init is the
container's root mapped to an unprivileged host uid: it cannot look those paths
up, so it can neither ``fsconfig upperdir=…`` nor ``open_tree`` a volume.  The
runtime, still host root and before the init has read its plan, builds these
mounts *detached* and sends their fds with the plan (SCM_RIGHTS, after exec.sock
and the idmapped trees: the pattern of ``fire.container.idmap``); the init only
``move_mount``\\ s them onto targets it resolves inside the rootfs, as before.

* the overlay: ``fsopen("overlay")``/``fsconfig``/``fsmount`` with host root's
  credentials, so overlayfs keeps its whiteouts in ``trusted.*`` xattrs (no
  ``userxattr`` needed).  A detached mount is in no mount namespace the host can
  see: the host never sees it, and it is freed when the last fd goes (the init
  dying before attaching it leaves nothing).
* binds whose source is under ``--root`` (named volumes, ``/etc/hosts``,
  ``/etc/resolv.conf``): ``open_tree(OPEN_TREE_CLONE)`` of the source.

Only with a user namespace: without one the init is host root and makes the same
mounts itself, the path every other test exercises; keeping it avoids changing
what works.  Only sources under ``--root``: those are Fire's own files, made by
the runtime and known to be the host's; a config.json bind source is resolved by
the init (in a joined mount namespace it may not even be the host's path), so
such a source must be reachable by the container's root (as for runc's rootfs).
"""

from __future__ import annotations

import os

from fire.errors import InitError
from fire.syscalls import KernelError
from fire.syscalls import mount as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import Plan


def has_user_namespace(plan: Plan) -> bool:
    """A new or joined user namespace: the init will not be host root."""
    return any(kind == "user" for kind, _, _ in plan["namespaces"])


def _under(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root + "/")


def prepare(plan: Plan, root: str, first_index: int) -> list[int]:
    """Make the detached mounts of ``plan`` (nothing without a user namespace); each
    one's plan learns the index of its fd among those sent with the plan
    (``first_index`` is where this list starts).  The caller closes the fds once
    they are sent."""
    if not has_user_namespace(plan):
        return []
    from fire.storage.inside import overlay_mount

    trees: list[int] = []
    try:
        overlay = plan["overlay"]
        if overlay is not None:
            rootfs = plan["rootfs"]
            try:
                # Host root's mount: trusted.* xattrs are in reach, no userxattr.
                trees.append(overlay_mount(rootfs, overlay["upper"], overlay["work"], False))
            except KernelError as exc:
                raise InitError("{stage}: overlay on {path}: {error}", stage="rootfs",
                                path=rootfs, error=str(exc)) from None
            overlay["tree"] = first_index + len(trees) - 1
        for mp in plan["mounts"]:
            if mp["kind"] != "bind" or mp["idmap"] is not None or not _under(mp["source"], root):
                continue
            flags = m.OPEN_TREE_CLONE | m.OPEN_TREE_CLOEXEC
            if mp["flags"] & m.MS_REC:
                flags |= m.AT_RECURSIVE
            try:
                trees.append(m.open_tree(-100, mp["source"], flags))
            except KernelError as exc:
                raise InitError("mount {dest}: {error}", stage="mounts", dest=mp["dest"],
                                error=str(exc)) from None
            mp["tree"] = first_index + len(trees) - 1
    except BaseException:
        for fd in trees:
            os.close(fd)
        raise
    return trees
