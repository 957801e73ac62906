"""``restore``: make a container again from a CRIU checkpoint (runc's restore).

Restore is another driver of create's stages (docs/ARCHITECTURE.md): it is a
``Creation`` whose runtime-side stages are create's own — validate the bundle,
claim the id, make and limit the cgroup, compile seccomp and save ``exec.plan`` —
and whose init side is CRIU: instead of spawning Fire's init and serving its
requests, it hands the images to ``criu swrk`` with the rootfs as root, the
external mounts mapped to their sources, and CRIU's own process already in the
container's cgroup (so every restored task lands there).  The undo stack is
create's: a failure leaves no process, cgroup, mount or state directory.

Hooks, as runc: prestart and createRuntime run when CRIU reaches its
``setup-namespaces`` step (the restored init's pid in their state);
createContainer, startContainer and poststart do not run (the processes are not
started again, they go on); poststop runs at ``delete``.

The restored tasks are CRIU's siblings (``rst_sibling``), i.e. our children:
with ``-d`` we leave them (they are reparented as a created container's are);
without, we wait and exit with the container's status, then delete it, as
``runc restore`` does.
"""

from __future__ import annotations

import os

from fire.cgroup.manager import Manager, resolve_path
from fire.container import plan as planner
from fire.container.create import (
    Created,
    Creation,
    _runtime_hooks,
    now_rfc3339,
)
from fire.container.execplan import save_plan as save_exec_plan
from fire.container.handoff import send_console, write_pid_file
from fire.criu import images, request, rpc
from fire.errors import ConfigError, ContainerError, SyscallError, UsageError
from fire.log import log
from fire.spec.state import CREATING, RUNNING, State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.container.create import Options
    from fire.criu.request import Flags
    from fire.init.plan import DevicePlan, MountPlan
    from fire.spec.config import Spec
    from fire.store import Store

CRIU_ROOT = "criu-root"


class Restoration(Creation):
    def __init__(self, store: Store, cid: str, opts: Options, flags: Flags,
                 lsm_profile: str = "", lsm_mount_context: str = "",
                 criu_binary: str | None = None) -> None:
        super().__init__(store, cid, opts)
        self.flags = flags
        self.criu_binary = criu_binary
        self.lsm = (lsm_profile, lsm_mount_context)
        self.spec: Spec | None = None

    def _run(self) -> Created:
        from fire.container.checkpoint import check_flags

        opts, flags = self.opts, self.flags
        check_flags(flags)
        self.stage("validate")
        bundle = os.path.abspath(opts.bundle)
        try:
            os.chdir(bundle)
        except OSError as exc:
            raise ConfigError("", "bundle {path}: {reason}", "bundle", path=bundle,
                              reason=exc.strerror) from None
        criu = rpc.criu_path(self.criu_binary)
        rpc.check_version(criu)
        image_path = images.image_path(flags)
        descriptors = images.read_descriptors(image_path)
        spec = self.read_spec(bundle)
        assert spec.linux is not None
        proc = spec.process
        terminal = bool(proc and proc.terminal)
        if terminal and not opts.console_socket:
            raise UsageError("cannot restore a container with a terminal without "
                             "--console-socket ($.process.terminal is true)")
        if opts.console_socket and not terminal:
            raise UsageError("cannot use console socket if the container has no terminal")
        rootfs = planner.rootfs_path(spec, bundle)
        cgroup = Manager(resolve_path(spec.linux.cgroups_path, self.id))
        resources = self.translate_resources(spec, cgroup)
        namespaces = {ns.type: ns.path for ns in spec.linux.namespaces or []}
        if namespaces.get("cgroup"):
            raise ConfigError("$.linux.namespaces", "CRIU cannot restore into a joined cgroup "
                              "namespace ({path})", path=namespaces["cgroup"])
        self.stage("validate", "done")

        self.stage("claim")
        self.cdir = cdir = self.store.claim(self.id)
        self.undo.append(("state directory", cdir.remove))
        self.state = state = State(
            oci_version=spec.oci_version, id=self.id, status=CREATING, bundle=bundle,
            rootfs=rootfs, created=now_rfc3339(), owner="",
            annotations=dict(spec.annotations) if spec.annotations else None,
            hooks=_runtime_hooks(spec), namespaces=namespaces, terminal=terminal)
        cdir.write_state(state)
        self.stage("claim", "done")

        self.stage("cgroup")
        cgroup.created = cgroup.planned()
        state.cgroup = cgroup.to_state()
        cdir.write_state(state)
        self.undo.append(("cgroup", cgroup.destroy))
        cgroup.create()
        cgroup.apply(resources)
        self.cgroup = cgroup
        self.stage("cgroup", "done")

        self.stage("seccomp")
        from fire.security.setup import prepare_security

        seccomp = prepare_security(spec, bundle, self.store.root, state)
        plan, warnings = planner.build(
            spec, cid=self.id, bundle=bundle, state_dir=cdir.path, rootfs=rootfs,
            cgroups=cgroup.mounts(), no_pivot=opts.no_pivot, seccomp=seccomp)
        for warning in warnings:
            log.warning("{warning}", warning=warning)
        save_exec_plan(cdir, plan["process"])  # `fire exec` works as on a created container
        self.stage("seccomp", "done")

        self.stage("restore")
        # Killed (if CRIU got that far) before the cgroup is removed.
        self.undo.append(("restored process", self._kill_init))
        self.criu_restore(criu, spec, plan["mounts"], plan["devices"], plan["bind_devices"],
                          image_path, descriptors)
        if not state.pid:
            raise rpc.CriuError("criu restored no process (log: {path})",
                                path=os.path.join(self.work_path(image_path), "restore.log"))
        state.status = RUNNING
        cdir.write_state(state)
        if opts.pid_file:
            write_pid_file(opts.pid_file, state.pid)
        self.stage("restore", "done")
        self.undo.clear()
        return Created(cdir, state, spec, -1)

    def read_spec(self, bundle: str) -> Spec:
        from fire.net import stage as net_stage
        from fire.spec.load import read_config
        from fire.spec.validate import validate
        from fire.storage import stage as storage_stage

        spec = read_config(os.path.join(bundle, "config.json"))
        spec, net = net_stage.parse(spec, {})
        if (net is not None and net.mode == "bridge") or storage_stage.parse(spec) is not None:
            raise ContainerError("checkpoint and restore do not support {what}",
                                 what="Fire's own network and storage (run.fire.*)")
        for warning in validate(spec):
            log.warning("{warning}", warning=warning)
        self.spec = spec
        return spec

    def work_path(self, image_path: str) -> str:
        return os.path.abspath(self.flags.work_path) if self.flags.work_path else image_path

    # ------------------------------------------------------------------ CRIU
    def criu_restore(self, criu: str, spec: Spec, mounts: list[MountPlan],
                     devices: list[DevicePlan], bind_devices: bool, image_path: str,
                     descriptors: list[str]) -> None:
        assert self.cdir is not None
        assert self.state is not None
        assert self.cgroup is not None
        flags = self.flags
        fds: list[int] = []
        root = os.path.join(self.cdir.path, CRIU_ROOT)
        mounted = False
        try:
            fds.append(images.open_dir(image_path, "image directory", create=False,
                                       writable=False))
            work = self.work_path(image_path)
            work_fd = -1
            if flags.work_path:
                work_fd = images.open_dir(work, "work directory", create=True, writable=True)
                fds.append(work_fd)
            prepare_mountpoints(self.state.rootfs, mounts)
            # CRIU's root must be a mount point whose parent is not overmounted: a bind
            # of the rootfs under the state directory (runc's criu-root).
            from fire.syscalls import mount as m

            os.mkdir(root, 0o755)
            try:
                m.mount(self.state.rootfs, root, None, m.MS_BIND | m.MS_REC)
            except OSError as exc:
                raise SyscallError("binding the rootfs for CRIU", exc, root) from None
            mounted = True
            opts = request.restore_options(flags, root=root, annotations=spec.annotations)
            opts["images_dir_fd"] = fds[0]
            if work_fd >= 0:
                opts["work_dir_fd"] = work_fd
            from fire.container.checkpoint import cgroup_mode

            mode = cgroup_mode(flags)
            if mode is not None:
                opts["manage_cgroups_mode"] = mode
            if self.lsm[0]:
                opts["lsm_profile"] = self.lsm[0]
            if self.lsm[1]:
                opts["lsm_mount_context"] = self.lsm[1]
            ext = request.external_mounts(mounts, devices, bind_devices, restoring=True)
            if ext:
                opts["ext_mnt"] = ext
            ns_fds: dict[str, int] = {}
            for kind, path in (self.state.namespaces or {}).items():
                if path and kind in request.EXTERNAL_NS:
                    try:
                        ns_fds[kind] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                    except OSError as exc:
                        raise SyscallError("opening a joined namespace", exc, path) from None
                    fds.append(ns_fds[kind])
            inherit, join = request.restore_namespaces(self.state.namespaces or {}, ns_fds)
            inherit += request.stdio_inherit(descriptors)
            if inherit:
                opts["inherit_fd"] = inherit
            if join:
                opts["join_ns"] = join
            self.run_criu(criu, opts, fds, os.path.join(work, "restore.log"))
        finally:
            for fd in fds:
                os.close(fd)
            if mounted:
                from fire.syscalls import mount as m

                try:
                    m.umount2(root, m.MNT_DETACH)
                except OSError as exc:
                    log.warning("cleanup after restore: {what}: {error}", what=root,
                                error=str(exc))
            try:
                os.rmdir(root)
            except OSError:
                pass

    def run_criu(self, criu: str, opts: dict[str, object], fds: list[int], log_path: str
                 ) -> None:
        assert self.cgroup is not None
        pb = rpc.messages()
        session = rpc.Session(criu, pass_fds=tuple(fds), stdio=True, log_path=log_path)
        try:
            # CRIU's process first, so that every task it restores is born in the cgroup.
            self.cgroup.add(session.pid)
            if self.cgroup.where.get("freezer") == "v1" or not self.cgroup.v2_dir():
                opts["cg_root"] = cgroup_roots(session.pid)
            session.call(pb.criu_req(type=pb.RESTORE, opts=pb.criu_opts(**opts)),
                         self.notified)
        finally:
            session.finish()

    def notified(self, script: str, pid: int, fds: list[int]) -> None:
        """CRIU's notifications (runc's criuNotifications, the restore half)."""
        assert self.state is not None
        assert self.spec is not None
        log.debug("criu: {script} (pid {pid})", script=script, pid=pid)
        if script == "setup-namespaces":
            self.set_pid(pid)
            self.stage("hooks:runtime")
            self.run_runtime_hooks(self.spec)
            self.stage("hooks:runtime", "done")
        elif script == "post-restore":
            self.set_pid(pid)
        elif script == "orphan-pts-master" and fds and self.opts.console_socket:
            send_console(self.opts.console_socket, fds[0])


def cgroup_roots(pid: int) -> list[dict[str, str]]:
    """cgroup v1: where each controller's tasks go (CRIU's cg_root), as runc tells it."""
    out: list[dict[str, str]] = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for ctrl in ctrls.split(","):
                if ctrl:
                    out.append({"ctrl": ctrl, "path": path})
    return out


def prepare_mountpoints(rootfs: str, mounts: list[MountPlan]) -> None:
    """Make the mountpoints CRIU expects in the rootfs (all but those on a tmpfs it
    restores itself), resolved inside the rootfs, as create's init would."""
    from fire.init.paths import mkdir_all, open_in_root

    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for mp in request.mountpoints(mounts):
            dest = mp["dest"]
            file_bind = mp["kind"] == "bind" and os.path.exists(mp["source"]) and \
                not os.path.isdir(mp["source"])
            try:
                if file_bind:
                    parent = mkdir_all(rootfd, os.path.dirname(dest))
                    try:
                        fd = os.open(os.path.basename(dest), os.O_WRONLY | os.O_CREAT |
                                     os.O_CLOEXEC | os.O_NOFOLLOW, 0o644, dir_fd=parent)
                        os.close(fd)
                    finally:
                        os.close(parent)
                else:
                    os.close(mkdir_all(rootfd, dest))
            except OSError as exc:
                # a read-only rootfs already has its mountpoints (it ran before)
                try:
                    os.close(open_in_root(rootfd, dest))
                except OSError:
                    raise SyscallError("making the mountpoint", exc, dest) from None
    finally:
        os.close(rootfd)


def restore(store: Store, cid: str, opts: Options, flags: Flags, lsm_profile: str = "",
            lsm_mount_context: str = "", criu_binary: str | None = None) -> int:
    """Restore; return 0 with ``-d``, else the container's exit status."""
    created = Restoration(store, cid, opts, flags, lsm_profile, lsm_mount_context,
                          criu_binary).run()
    created.cdir.close()
    if not opts.foreground:
        return 0
    _, status = os.waitpid(created.state.pid, 0)
    from fire.container.delete import delete

    delete(store, cid, force=True)
    return os.waitstatus_to_exitcode(status) if status >= 0 else 1
