"""The network stages of ``create`` and the network part of ``delete``.

Where they run relative to the create stages (fire.lifecycle.stages):

    validate ─ claim ─ cgroup ─ storage ─ network ─ spawn ─ namespaces ─ … ─ devices
    ─ network:attach ─ hooks:runtime ─ …

* ``network`` (runtime, before the init exists): for the bridge mode, records
  what it is about to make in state.json (``extra.net``: bridge, subnet, the
  veth's name, ports), then under the network lock: the bridge network
  (``fire.net.bridge.up``), an address lease, the published ports; finally
  /etc/hosts and /etc/resolv.conf in the state directory, added to the spec as
  bind mounts so the init mounts them like config mounts.
* ``network:attach`` (runtime, when the init asks for the runtime hooks: its
  namespaces exist, it waits, and nothing of the user's runs yet): for the
  bridge the veth pair, its peer made directly in the container's namespace as
  ``eth0``, address and default route; ``linux.netDevices`` moved in.  It runs
  before prestart/createRuntime hooks, so those see the network in place.  Under
  ``fire-supervise`` the netlink work is the supervisor's, in a worker thread
  (``attach_netns`` through ``fire.delegate``); without a caller, ``create``'s.  (``lo``
  is brought up by the init itself in every namespace it creates, as runc does:
  fire.syscalls.net.)
* ``teardown`` (``delete``, and the undo of a failed create): delete the veth
  (both ends die; "no such device" = already gone with its namespace), then under
  the lock release the lease and its ports, and remove the bridge network when
  no lease is left.  Everything it needs is in state.json, written before it was
  made: ``delete --force`` after a crash at any point cleans up.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyroute2 import IPRoute

    from fire.init.plan import Plan
    from fire.lifecycle.host import StageHost
    from fire.net.ipam import Lease
    from fire.net.settings import NetSettings
    from fire.spec.config import Spec
    from fire.spec.state import State

CONTAINER_IF = "eth0"


def parse(spec: Spec, annotations: dict[str, str] | None = None
          ) -> tuple[Spec, NetSettings | None]:
    """Validate stage: the spec with the annotations the command line sets
    (``fire.cli.runflags``) merged over config.json's and the network namespace
    entry the mode asks for; and the network settings.  Call it before the spec's
    own validation (``host`` removes the namespace that net.* sysctls need)."""
    if annotations:
        import msgspec

        spec = msgspec.structs.replace(spec, annotations={**(spec.annotations or {}),
                                                          **annotations})
    if not (asks_fire(spec.annotations) or (spec.linux and spec.linux.net_devices)):
        return spec, None  # an engine's bundle: not even the settings module is imported
    from fire.net import settings as net_settings

    settings = net_settings.parse(spec.annotations)
    return net_settings.apply(spec, settings), settings


def asks_fire(annotations: dict[str, str] | None) -> bool:
    """Does the bundle carry any of Fire's own ``run.fire.*`` annotations?"""
    return any(key.startswith("run.fire.") for key in annotations or ())


def record_of(state: State) -> dict[str, object] | None:
    record = (state.extra or {}).get("net")
    return record if isinstance(record, dict) else None


def prepare(creation: StageHost, spec: Spec, settings: NetSettings) -> Spec:
    """The ``network`` stage (bridge mode only); returns the spec with the
    /etc/hosts and /etc/resolv.conf mounts added."""
    from fire.net import bridge, hostfiles, ipam, netlink, nft
    from fire.net import settings as net_settings
    from fire.net.addr import format_ipv4

    state = creation.state
    cdir = creation.cdir
    assert state is not None
    assert cdir is not None
    root = creation.store.root
    record: dict[str, object] = {
        "mode": "bridge", "bridge": settings.bridge, "subnet": str(settings.subnet),
        "veth": "fv" + os.urandom(5).hex(), "ports": [str(p) for p in settings.ports],
    }
    state.extra = {**(state.extra or {}), "net": record}
    cdir.write_state(state)  # recorded before made: the undo (and delete) reads it
    directory = ipam.lease_dir(root, settings.bridge)
    ipr = netlink.open_host()
    try:
        with bridge.NetLock():
            _forget(ipr, settings.bridge, ipam.reclaim(directory, root, state.id))
            bridge.up(ipr, root, settings)
            lease = ipam.allocate(directory, settings.subnet, state.id, str(record["veth"]),
                                  settings.ports)
            nft.apply(nft.add_ports(settings.bridge, settings.ports, lease.address))
    finally:
        ipr.close()
    address = record["address"] = format_ipv4(lease.address)
    # Shown by `fire state` (and given to hooks): where the container can be reached.
    state.annotations = {**(state.annotations or {}), net_settings.ADDRESS: address}
    cdir.write_state(state)
    hosts, resolv = hostfiles.write(cdir.path, lease.address, spec.hostname or state.id,
                                    state.id)
    return _with_mounts(spec, [("/etc/hosts", hosts), ("/etc/resolv.conf", resolv)])


def _with_mounts(spec: Spec, binds: list[tuple[str, str]]) -> Spec:
    import msgspec

    from fire.spec.config import Mount

    added = [Mount(destination=dest, type="bind", source=source, options=["bind", "rw"])
             for dest, source in binds]
    return msgspec.structs.replace(spec, mounts=[*(spec.mounts or []), *added])


def complete_plan(plan: Plan, settings: NetSettings | None) -> None:
    """Mount points of the files above, made without writing a read-only image; and
    the init waits for ``network:attach`` (its createContainer hooks may use the link)."""
    if settings is not None:
        plan["runtime_turn"] = True
    if settings is not None and settings.mode == "bridge":
        plan["mountpoints"] += [("/etc/hosts", False), ("/etc/resolv.conf", False)]


def _forget(ipr: IPRoute, bridge_name: str, stale: list[Lease]) -> None:
    """The ports and veths of leases reclaimed as stale."""
    from fire.net import netlink, nft

    for lease in stale:
        nft.remove_ports(bridge_name, lease.port_objects())
        if lease.veth:
            netlink.delete_link(ipr, lease.veth)


def attach(creation: StageHost, spec: Spec) -> None:
    """The ``network:attach`` stage (see the module's docstring).  Its netlink work
    is done by the caller when there is one (``fire-supervise``, in a worker thread:
    ``fire.delegate``), else here."""
    state = creation.state
    assert state is not None
    linux = spec.linux
    devices = (linux.net_devices if linux else None) or {}
    record = record_of(state)
    bridged = record is not None and record.get("mode") == "bridge"
    if bridged or devices:
        from fire.delegate import attach_network

        moves = {host_name: dev.name or host_name for host_name, dev in devices.items()}
        net = record if bridged else None
        if not attach_network(state.pid, net, moves):
            attach_netns(state.pid, net, moves)


def attach_netns(pid: int, net: dict[str, object] | None, devices: dict[str, str]) -> None:
    """The netlink work of ``network:attach`` for the container whose process is
    ``pid``: the bridge's veth (``net``: state.json's ``extra.net``) and the
    ``linux.netDevices`` moves (host name -> name inside).  Only the calling thread
    enters the container's namespace, and only to open a socket there
    (fire.net.netns): safe in a trio worker thread of the supervisor."""
    from fire.net import NetworkError
    from fire.net.netns import open_netns, same_as_ours

    nsfd = open_netns(pid)
    try:
        if same_as_ours(nsfd):
            raise NetworkError("the container is in the runtime's own network namespace: "
                               "no device can be moved into it")
        if net is not None:
            _attach_bridge(nsfd, net)
        if devices:
            from fire.net import netlink

            host = netlink.open_host()
            try:
                for host_name, name in devices.items():
                    netlink.move_device(host, nsfd, host_name, name)
            finally:
                host.close()
    finally:
        os.close(nsfd)


def _attach_bridge(nsfd: int, record: dict[str, object]) -> None:
    from fire.net import NetworkError, netlink
    from fire.net.addr import Subnet, parse_ipv4

    bridge_name = str(record["bridge"])
    subnet = Subnet.parse(str(record["subnet"]))
    host = netlink.open_host()
    try:
        idx = netlink.index(host, bridge_name)
        if idx is None:
            raise NetworkError("the bridge {name} is gone", name=bridge_name)
        netlink.add_veth(host, str(record["veth"]), CONTAINER_IF, nsfd, idx)
    finally:
        host.close()
    inside = netlink.open_in(nsfd)
    try:
        netlink.configure_inside(inside, CONTAINER_IF, parse_ipv4(str(record["address"])),
                                 subnet.prefix, subnet.gateway)
    finally:
        inside.close()


def teardown(root: str, state: State) -> None:
    """Remove what the network stages made for this container (idempotent)."""
    record = record_of(state)
    if record is None or record.get("mode") != "bridge":
        return
    from fire.net import bridge, ipam, netlink, nft

    bridge_name = str(record["bridge"])
    directory = ipam.lease_dir(root, bridge_name)
    ipr = netlink.open_host()
    try:
        if record.get("veth"):
            netlink.delete_link(ipr, str(record["veth"]))
        with bridge.NetLock():
            gone = ipam.release(directory, state.id)
            ports = [p for lease in gone for p in lease.port_objects()]
            if ports:
                nft.remove_ports(bridge_name, ports)
            if not ipam.read_all(directory):
                bridge.down(ipr, root, bridge_name)
                _rmdir_empty(directory)
    finally:
        ipr.close()


def _rmdir_empty(directory: str) -> None:
    for path in (directory, os.path.dirname(directory)):
        try:
            os.rmdir(path)
        except OSError:
            return  # not empty (another bridge's leases), or gone
