"""The bridge network of one root: bridge, nftables table, sysctls — made with the
first container that asks for it and removed with the last.

**The lock.**  The bridge, the table and ``net.ipv4.ip_forward`` belong to a
network namespace, not to a root directory, so every change is made under an
exclusive ``flock`` of the namespace's own nsfs file (``/proc/thread-self/ns/net``:
one inode per namespace).  It serialises every Fire process that works on that
namespace — from any root, ``fire create``/``delete`` as well as the supervisor —
and needs no file on disk.  The address leases (``fire.net.ipam``) are taken
under the same lock.

**Ownership.**  Fire marks a bridge it made with an interface alias,
``fire {"root": …, "subnet": …, "ip_forward": …}``.  A bridge of that name
without the mark is not Fire's and is refused; one marked for another root is
refused too (two roots' leases would hand out the same addresses).

**Sysctls.**  Containers' outbound traffic is forwarded, which needs
``net.ipv4.ip_forward = 1``.  If it was 0, Fire sets it and records the old value
in the bridge's alias *before* changing it; when the bridge goes, the value is
written back — unless another of Fire's bridges still lives in the namespace, in
which case the record moves to that bridge's alias, and the last one restores
it.  DNAT of a published port from 127.0.0.1 needs
``net.ipv4.conf.<bridge>.route_localnet = 1``; it is set on the bridge alone and
goes away with it.

**Order.**  Up: table, bridge (with its mark), ip_forward, address, up.  Down:
ip_forward, table, bridge.  Each step is idempotent, so a crash at any point
leaves something the next ``up`` completes or the next ``delete --force``
removes.
"""

from __future__ import annotations

import fcntl
import json
import os

from fire.net import NetworkError, ipam, nft

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyroute2 import IPRoute

    from fire.net.settings import NetSettings

MARK = "fire "
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


class NetLock:
    """Exclusive lock of the calling thread's network namespace (see above)."""

    def __init__(self) -> None:
        self.fd = -1

    def __enter__(self) -> NetLock:
        self.fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
        self.fd = -1


def read_sysctl(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def write_sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise NetworkError("writing {value} to {path}: {reason}", value=value, path=path,
                           reason=exc.strerror) from None


def mark(root: str, subnet: str, ip_forward: str | None) -> str:
    return MARK + json.dumps({"root": root, "subnet": subnet, "ip_forward": ip_forward},
                             separators=(",", ":"))


def read_mark(text: str) -> dict[str, str | None] | None:
    if not text.startswith(MARK):
        return None
    try:
        data = json.loads(text[len(MARK):])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def up(ipr: IPRoute, root: str, settings: NetSettings) -> int:
    """Make sure the bridge network exists; return the bridge's index.  Call with
    the ``NetLock`` held."""
    from fire.net import netlink

    name = settings.bridge
    subnet = str(settings.subnet)
    idx = netlink.index(ipr, name)
    if idx is None:
        # The rules first (with the ports of leases that survived a crash).
        script = nft.ruleset(name, settings.subnet)
        for lease in ipam.read_all(ipam.lease_dir(root, name)):
            script += nft.add_ports(name, lease.port_objects(), lease.address)
        nft.apply(script)
        saved = "0" if read_sysctl(IP_FORWARD) == "0" else None
        idx = netlink.create_bridge(ipr, name, mark(root, subnet, saved))
        info: dict[str, str | None] = {"root": root, "subnet": subnet, "ip_forward": saved}
    else:
        found = read_mark(netlink.alias(ipr, idx))
        if found is None:
            raise NetworkError("a bridge named {name} exists and was not made by Fire; "
                               "choose another name (run.fire.bridge)", name=name)
        if found.get("root") != root:
            raise NetworkError("the bridge {name} belongs to Fire's root {root}; choose "
                               "another bridge for this root", name=name, root=found.get("root"))
        if found.get("subnet") != subnet:
            raise NetworkError("the bridge {name} has the subnet {theirs}, not {subnet}",
                               name=name, theirs=found.get("subnet"), subnet=subnet)
        info = found
    if info.get("ip_forward") is not None:
        write_sysctl(IP_FORWARD, "1")
    netlink.configure_bridge(ipr, idx, name, settings.subnet.gateway, settings.subnet.prefix)
    write_sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
    return idx


def down(ipr: IPRoute, root: str, name: str) -> None:
    """Remove the bridge network of ``root`` named ``name`` (no lease may remain).
    Call with the ``NetLock`` held."""
    from fire.net import netlink

    idx = netlink.index(ipr, name)
    if idx is not None:
        info = read_mark(netlink.alias(ipr, idx))
        if info is None or info.get("root") != root:
            return  # not ours: never touch it, nor its table
        saved = info.get("ip_forward")
        if saved is not None:
            _hand_over_or_restore(ipr, idx, saved)
    nft.apply(nft.drop_table(name), missing_ok=True)
    if idx is not None:
        netlink.delete_link(ipr, name)


def _hand_over_or_restore(ipr: IPRoute, idx: int, saved: str) -> None:
    from fire.net import netlink

    for other, _name, text in netlink.aliases(ipr):
        info = read_mark(text)
        if other == idx or info is None:
            continue
        if info.get("ip_forward") is None:
            info["ip_forward"] = saved
            netlink.set_alias(ipr, other, MARK + json.dumps(info, separators=(",", ":")))
        return  # another of Fire's bridges still needs forwarding
    write_sysctl(IP_FORWARD, saved)
