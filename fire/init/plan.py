"""The plan the runtime sends to the init, and the messages they exchange.

The shapes are ``TypedDict``\\ s, visible to mypy only: at run time they are plain
dicts, encoded with ``marshal`` (builtin: nothing to import, nothing to allocate in
the waiting init).  The messages that carry it are ``fire.init.messages``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypedDict

    class MountPlan(TypedDict):
        dest: str  # absolute, inside the container
        kind: str  # "fs" | "bind" | "cgroup"
        fstype: str
        source: str  # host path for binds (absolute), fs source otherwise
        flags: int  # mount(2) flags (MS_BIND/MS_REC for binds)
        data: str  # filesystem data ("mode=755,size=64k")
        propagation: list[int]  # MS_SHARED|MS_REC… applied after the mount
        attr_set: int  # mount_setattr(AT_RECURSIVE) attributes
        attr_clear: int
        top_set: int  # mount_setattr of the (bind) mount itself: its options' flags
        top_clear: int
        tmpcopyup: bool
        idmap: IdmapPlan | None
        cgroups: list[CgroupMount]  # kind == "cgroup" only
        # A bind whose source the init may not reach (Fire's own files under --root,
        # with a user namespace): the runtime clones it (fire.storage.detached) and
        # sends the detached tree with the plan.  -1: none; else its index among the
        # plan message's fds, replaced in the init by the fd itself.
        tree: int

    class IdmapPlan(TypedDict):
        uid: list[tuple[int, int, int]]  # (container, host, size)
        gid: list[tuple[int, int, int]]
        recursive: bool  # "ridmap"
        # The runtime makes the idmapped tree (fire.container.idmap) and sends it with
        # the plan: its index among the plan message's fds, and (in the init) the fd.
        index: int
        fd: int

    class CgroupMount(TypedDict):
        name: str  # directory under the cgroup mount ("memory", "cpu,cpuacct", "")
        fstype: str  # "cgroup" | "cgroup2"
        options: str  # controllers for v1 ("cpu,cpuacct"; "none,name=systemd")
        host_path: str  # the container's cgroup directory on the host (for binds)
        links: list[str]  # symlinks to make beside it ("cpu", "cpuacct")

    class DevicePlan(TypedDict):
        path: str
        type: str  # "c" | "b" | "p"
        major: int
        minor: int
        mode: int  # permission bits
        uid: int
        gid: int

    class HookPlan(TypedDict):
        path: str
        args: list[str]
        env: list[str]
        timeout: float | None

    class ProcessPlan(TypedDict):
        args: list[str]
        env: list[str]
        cwd: str
        uid: int
        gid: int
        additional_gids: list[int]
        umask: int | None
        terminal: bool
        console_size: tuple[int, int] | None  # (rows, cols)
        rlimits: list[tuple[int, int, int]]  # (resource, soft, hard)
        no_new_privileges: bool
        caps: CapsPlan | None
        seccomp: SeccompPlan | None
        apparmor: str
        selinux: str
        personality: int | None
        oom_score_adj: int | None  # None: left as it is
        # policy, flags, nice, priority, runtime, deadline, period (sched_setattr)
        scheduler: tuple[int, int, int, int, int, int, int] | None
        io_priority: int | None  # class << 13 | level
        cpu_affinity: tuple[list[int] | None, list[int] | None]  # (initial, final): exec only
        memory_policy: tuple[int, list[int]] | None  # mode | flags, nodes
        preserve_fds: int

    class CapsPlan(TypedDict):
        bounding: int  # bit masks
        effective: int
        permitted: int
        inheritable: int
        ambient: int

    class SeccompPlan(TypedDict):
        bpf: bytes  # the compiled program (fire.seccomp.compile)
        flags: int  # SECCOMP_FILTER_FLAG_* (NEW_LISTENER when notify is used)
        listener_path: str  # "" = no notify listener; the runtime sends it there
        listener_metadata: str

    class OverlayPlan(TypedDict):
        upper: str  # the overlay's upper and work directories (fire.storage.overlay)
        work: str
        userxattr: bool  # in a user namespace
        # With a user namespace the runtime mounts the overlay itself (detached,
        # fire.storage.detached) and sends it with the plan: as ``tree`` above.
        tree: int

    class Plan(TypedDict):
        id: str
        bundle: str
        rootfs: str  # absolute host path
        root_readonly: bool
        state_dir: str
        namespaces: list[tuple[str, int, str | None]]  # (type, CLONE_ flag, path)
        new_flags: int  # CLONE_NEW* for the namespaces to create
        time_offsets: list[tuple[str, int, int]]  # (clock, secs, nanosecs)
        needs_fork: bool  # a pid or time namespace (new or joined) only applies to children
        propagation: int  # for "/" before the mounts
        mounts: list[MountPlan]
        devices: list[DevicePlan]
        default_devices: bool
        bind_devices: bool  # in a user namespace: bind host nodes instead of mknod
        masked_paths: list[str]
        readonly_paths: list[str]
        sysctl: list[tuple[str, str]]
        hostname: str | None
        domainname: str | None
        no_pivot: bool
        # No mount namespace (none listed: the host's is inherited): the tree is
        # made in the host's, under a bind of the rootfs, and the init chroots.
        chroot: bool
        new_keyring: bool
        process: ProcessPlan | None
        # Whether the init waits for the runtime's turn (network:attach, prestart
        # and createRuntime hooks) to end: only when that turn has work to do.
        runtime_turn: bool
        hooks_create_container: list[HookPlan]
        hooks_start_container: list[HookPlan]
        # The spec state JSON for the init's own hooks, with "status":"@" and
        # "pid":-1 for the init to fill in (it has no json module to spare).
        state_json: bytes
        # fire.storage: the rootfs as an overlay's lower layer (None: bind it as it is),
        # and the mount points of Fire's own mounts (path, is_dir), made without
        # writing into a read-only image (fire.storage.inside).
        overlay: OverlayPlan | None
        mountpoints: list[tuple[str, bool]]
