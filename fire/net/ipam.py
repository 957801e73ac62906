"""A small IPAM: one lease file per address, under the root directory.

    <root>/@ipam/<bridge>/10.89.0.2     {"id": "web", "veth": "fv3a…", "ports": [...]}

``@ipam`` is not a valid container id, so it never clashes with a container's
directory.  Callers hold the network lock (``fire.net.bridge.NetLock``) around
every call, and a lease file is created with ``O_EXCL`` as well: two containers
never get one address, even from two Fire processes that somehow do not share
the lock.  The published ports live in the lease too, so that a port taken by
one container is refused to the next with a message naming the owner.

A lease whose container directory no longer exists is stale (its container was
removed without ``delete``) and is reclaimed by the next allocation; a create
writes its directory before it asks for an address, and ``delete`` releases the
address before it removes the directory, so a live container's lease is never
taken for stale.
"""

from __future__ import annotations

import json
import os

from fire.net import NetworkError
from fire.net.addr import format_ipv4, parse_ipv4
from fire.net.settings import Port

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.net.addr import Subnet

LEASES = "@ipam"


def lease_dir(root: str, bridge: str) -> str:
    return os.path.join(root, LEASES, bridge)


class Lease:
    __slots__ = ("address", "id", "ports", "veth")

    def __init__(self, address: int, cid: str, veth: str = "", ports: list[str] | None = None
                 ) -> None:
        self.address = address
        self.id = cid
        self.veth = veth
        self.ports = ports or []

    def port_objects(self) -> list[Port]:
        return [Port.parse(p) for p in self.ports]

    def to_json(self) -> bytes:
        return json.dumps({"id": self.id, "veth": self.veth, "ports": self.ports}).encode()


def read_all(directory: str) -> list[Lease]:
    """Every lease of one bridge (unreadable files are skipped, never reused)."""
    out: list[Lease] = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return out
    for name in names:
        try:
            address = parse_ipv4(name)
        except ValueError:
            continue  # the lock file, temporary files
        try:
            with open(os.path.join(directory, name), "rb") as f:
                data = json.loads(f.read() or b"{}")
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        ports = [p for p in data.get("ports") or [] if isinstance(p, str)]
        out.append(Lease(address, str(data.get("id", "")), str(data.get("veth", "")), ports))
    return out


def _remove(directory: str, lease: Lease) -> None:
    try:
        os.unlink(os.path.join(directory, format_ipv4(lease.address)))
    except FileNotFoundError:
        pass


def reclaim(directory: str, root: str, cid: str) -> list[Lease]:
    """Remove the stale leases (and any earlier lease of ``cid``); return them."""
    stale = []
    for lease in read_all(directory):
        if lease.id == cid or not lease.id or not os.path.isdir(os.path.join(root, lease.id)):
            _remove(directory, lease)
            stale.append(lease)
    return stale


def allocate(directory: str, subnet: Subnet, cid: str, veth: str, ports: list[Port]) -> Lease:
    """The lowest free address of ``subnet`` for ``cid`` (call ``reclaim`` first)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    leases = read_all(directory)
    for lease in leases:
        for theirs in lease.port_objects():
            for mine in ports:
                if mine.conflicts(theirs):
                    raise NetworkError("port {mine} conflicts with {theirs}, published by "
                                       "container {id}", mine=str(mine), theirs=str(theirs),
                                       id=lease.id)
    used = {lease.address for lease in leases}
    mine_lease = Lease(0, cid, veth, [str(p) for p in ports])
    for address in subnet.hosts():
        if address in used:
            continue
        mine_lease.address = address
        path = os.path.join(directory, format_ipv4(address))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue
        try:
            os.write(fd, mine_lease.to_json())
        finally:
            os.close(fd)
        return mine_lease
    raise NetworkError("no free address left in {subnet}", subnet=str(subnet))


def release(directory: str, cid: str) -> list[Lease]:
    """Remove the leases of ``cid`` (normally one); return them."""
    gone = [lease for lease in read_all(directory) if lease.id == cid]
    for lease in gone:
        _remove(directory, lease)
    return gone
