"""``checkpoint``: dump a running container's processes with CRIU (runc's checkpoint).

No hook runs while CRIU dumps (the runtime spec defines no checkpoint hooks; runc
runs none).  After a final dump, unless ``--leave-running``, the container is
destroyed as runc destroys it (its processes are gone already; the cgroup and the
state directory are removed, and the poststop hooks run as in ``delete``): the
image is now the container, and ``fire restore`` makes it again.  A pre-dump
(``--pre-dump``) only copies memory and leaves the container running.

The container's configuration comes from its bundle (``config.json``), as at create:
its mounts tell which ones are external to the dump (fire.criu.request).
"""

from __future__ import annotations

import os

from fire.container.status import load
from fire.criu import images, request, rpc
from fire.errors import ContainerError, UsageError
from fire.spec.state import PAUSED, RUNNING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.criu.request import Flags
    from fire.spec.state import State
    from fire.store import Store


def checkpoint(store: Store, cid: str, flags: Flags, criu_binary: str | None = None) -> None:
    check_flags(flags)
    cdir, state, status = load(store, cid, lock=True)
    try:
        if status not in (RUNNING, PAUSED):
            raise ContainerError("container cannot be checkpointed in {status} state",
                                 status=status)
        check_supported(state)
        criu = rpc.criu_path(criu_binary)
        rpc.check_version(criu)
        path = images.image_path(flags)
        images_fd = images.open_dir(path, "image directory", create=True, writable=True)
        fds = [images_fd]
        try:
            images.check_parent(path, flags.parent_path)
            work = path
            if flags.work_path:
                work = os.path.abspath(flags.work_path)
                fds.append(images.open_dir(work, "work directory", create=True, writable=True))
            opts = dump_request(state, flags)
            opts["images_dir_fd"] = images_fd
            if len(fds) > 1:
                opts["work_dir_fd"] = fds[1]
            if not flags.pre_dump:
                images.write_descriptors(images_fd, state.pid)
            pb = rpc.messages()
            kind = pb.PRE_DUMP if flags.pre_dump else pb.DUMP
            session = rpc.Session(criu, pass_fds=tuple(fds),
                                  log_path=os.path.join(work, "dump.log"))
            try:
                session.call(pb.criu_req(type=kind, opts=pb.criu_opts(**opts)))
            finally:
                session.finish()
        finally:
            for fd in fds:
                os.close(fd)
        if not (flags.leave_running or flags.pre_dump):
            from fire.container.destroy import destroy

            destroy(cdir, state)
    finally:
        cdir.close()


def check_flags(flags: Flags) -> None:
    if flags.manage_cgroups_mode and flags.manage_cgroups_mode not in request.CGROUP_MODES:
        raise UsageError("invalid --manage-cgroups-mode {mode!r}: soft, full, strict or ignore",
                         mode=flags.manage_cgroups_mode)
    for name in flags.empty_ns:
        if name not in request.EMPTY_NS:
            raise UsageError("namespace {name!r} is not supported by --empty-ns", name=name)
    if flags.lazy_pages:
        raise UsageError("--lazy-pages is not supported (it needs CRIU's page server and "
                         "userfaultfd in the engine)")


def check_supported(state: State) -> None:
    extra = state.extra or {}
    for key, what in (("net", "Fire's own network (run.fire.network)"),
                      ("storage", "Fire's own storage (run.fire.overlay, run.fire.volumes)")):
        if key in extra:
            raise ContainerError("checkpoint and restore do not support {what}", what=what)


def dump_request(state: State, flags: Flags) -> dict[str, object]:
    """CRIU's options for dumping this container (fire.criu.request)."""
    from fire.cgroup import driver as cgroup_driver
    from fire.container import plan as planner
    from fire.spec.load import read_config

    spec = read_config(os.path.join(state.bundle, "config.json"))
    assert spec.linux is not None
    cg = cgroup_driver.from_state(state.cgroup)
    freeze = None
    if cg is not None:
        freeze = cg.v2_dir() or cg.dir_for("freezer")
    opts = request.dump_options(flags, pid=state.pid, root=state.rootfs, freeze_cgroup=freeze,
                                annotations=state.annotations)
    mode = cgroup_mode(flags)
    if mode is not None:
        opts["manage_cgroups_mode"] = mode
    if flags.pre_dump:
        return opts  # memory only: no mounts, no descriptors (runc)
    namespaces = state.namespaces or {}
    cgroupns = "cgroup" in namespaces and not namespaces["cgroup"]
    mounts = planner.mount_plans(spec, state.bundle, cg.mounts() if cg else [], cgroupns)
    ext = request.external_mounts(mounts, planner.device_plans(spec), "user" in namespaces,
                                  restoring=False)
    if ext:
        opts["ext_mnt"] = ext
    inodes = {kind: os.stat(path).st_ino for kind, path in namespaces.items()
              if path and kind in request.EXTERNAL_NS}
    external = request.dump_namespaces(namespaces, inodes)
    if external:
        opts["external"] = external
    return opts


def cgroup_mode(flags: Flags) -> int | None:
    if not flags.manage_cgroups_mode:
        return None
    pb = rpc.messages()
    return int(getattr(pb, flags.manage_cgroups_mode.upper()))
