"""Links and addresses through pyroute2 (never the ``ip`` command).

Importing this module imports pyroute2 (~150 ms): only the bridge mode and
``linux.netDevices`` come here.  ``IPRoute`` is pyroute2's synchronous API; it
runs its own asyncio loop in the calling thread, so from the trio supervisor it
must be called in a worker thread (``trio.to_thread.run_sync``), never on trio's
own thread.  A handle for a container's namespace is opened with the thread
``setns``'d there for the socket's creation only (``fire.net.netns``).

Every netlink error becomes a ``NetworkError`` that names the step; "no such
device" on a deletion means the link is already gone (a veth dies with its
namespace), which is what the deletion wanted.
"""

from __future__ import annotations

import errno
import os

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from fire.net import NetworkError
from fire.net.addr import format_ipv4
from fire.net.netns import made_in

IFF_UP = 0x1
AF_INET = 2
RT_SCOPE_LINK = 253


def open_host() -> IPRoute:
    """A handle in the calling thread's own namespace."""
    return IPRoute()


def open_in(nsfd: int) -> IPRoute:
    """A handle whose socket lives in the network namespace ``nsfd``."""
    return made_in(nsfd, IPRoute)


def _fail(what: str, exc: NetlinkError) -> NetworkError:
    """``what`` names the step (a device, an address: not translated)."""
    return NetworkError("netlink: {what}: {reason}", what=what,
                        reason=os.strerror(exc.code) if exc.code else str(exc))


def index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def alias(ipr: IPRoute, idx: int) -> str:
    links = ipr.get_links(idx)
    return str(links[0].get_attr("IFLA_IFALIAS") or "") if links else ""


def set_alias(ipr: IPRoute, idx: int, text: str) -> None:
    try:
        ipr.link("set", index=idx, ifalias=text)
    except NetlinkError as exc:
        raise _fail(f"setting the alias of link {idx}", exc) from None


def aliases(ipr: IPRoute) -> list[tuple[int, str, str]]:
    """(index, name, alias) of every link that has an alias."""
    out = []
    for link in ipr.get_links():
        text = link.get_attr("IFLA_IFALIAS")
        if text:
            out.append((int(link["index"]), str(link.get_attr("IFLA_IFNAME")), str(text)))
    return out


def _random_mac() -> str:
    """A locally administered unicast address.  A bridge without an address of
    its own takes the lowest of its ports' and changes it as veths come and go,
    which makes the containers' ARP entries for the gateway go stale."""
    raw = bytearray(os.urandom(6))
    raw[0] = (raw[0] & 0xFE) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


def create_bridge(ipr: IPRoute, name: str, text: str) -> int:
    try:
        ipr.link("add", ifname=name, kind="bridge", address=_random_mac())
    except NetlinkError as exc:
        raise _fail(f"creating the bridge {name}", exc) from None
    idx = index(ipr, name)
    if idx is None:
        raise NetworkError("the bridge {name} vanished after its creation", name=name)
    set_alias(ipr, idx, text)
    return idx


def configure_bridge(ipr: IPRoute, idx: int, name: str, gateway: int, prefix: int) -> None:
    """The gateway address and "up"; idempotent (a crash may have stopped the
    first attempt half way)."""
    try:
        ipr.addr("add", index=idx, address=format_ipv4(gateway), prefixlen=prefix)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise _fail(f"adding {format_ipv4(gateway)}/{prefix} to {name}", exc) from None
    try:
        ipr.link("set", index=idx, state="up")
    except NetlinkError as exc:
        raise _fail(f"setting {name} up", exc) from None


def delete_link(ipr: IPRoute, name: str) -> None:
    """Delete a link by name; gone already is fine."""
    idx = index(ipr, name)
    if idx is None:
        return
    try:
        ipr.link("del", index=idx)
    except NetlinkError as exc:
        if exc.code not in (errno.ENODEV, errno.ENOENT):
            raise _fail(f"deleting {name}", exc) from None


def add_veth(ipr: IPRoute, host_name: str, peer_name: str, nsfd: int, bridge: int) -> None:
    """A veth pair whose peer is made directly in the namespace ``nsfd`` (so its
    name, eth0, cannot clash with the host's), with the host end on the bridge."""
    try:
        ipr.link("add", ifname=host_name, kind="veth",
                 peer={"ifname": peer_name, "net_ns_fd": nsfd})
    except NetlinkError as exc:
        raise _fail(f"creating the veth {host_name}", exc) from None
    idx = index(ipr, host_name)
    if idx is None:
        raise NetworkError("the veth {name} vanished after its creation", name=host_name)
    try:
        ipr.link("set", index=idx, master=bridge, state="up")
    except NetlinkError as exc:
        raise _fail(f"attaching {host_name} to the bridge", exc) from None


def configure_inside(ipr: IPRoute, name: str, address: int, prefix: int, gateway: int) -> None:
    """In the container: the address on ``name``, both links up, the default route."""
    idx = index(ipr, name)
    lo = index(ipr, "lo")
    if idx is None or lo is None:
        raise NetworkError("no {name} in the container's network namespace", name=name)
    step = ""
    try:
        step = f"adding {format_ipv4(address)}/{prefix} to {name}"
        ipr.addr("add", index=idx, address=format_ipv4(address), prefixlen=prefix)
        step = f"setting {name} up"
        ipr.link("set", index=idx, state="up")
        step = "setting lo up"
        ipr.link("set", index=lo, state="up")
        step = f"adding the default route via {format_ipv4(gateway)}"
        ipr.route("add", dst="0.0.0.0/0", gateway=format_ipv4(gateway), oif=idx)
    except NetlinkError as exc:
        raise _fail(step, exc) from None


def move_device(host: IPRoute, nsfd: int, name: str, new_name: str) -> None:
    """Move a host device into the namespace ``nsfd`` as ``new_name``, keeping its
    addresses and its up/down state (runtime-spec 1.2 ``linux.netDevices``).

    The kernel flushes a device's addresses when it changes namespace, so they
    are read first and added again inside; the move and the rename are one
    request, so there is never a moment where the name clashes.  IPv6 link-local
    addresses are not copied: the kernel makes new ones.  The device is never
    moved back: when the namespace dies the kernel returns a physical device to
    the host's namespace and destroys a virtual one.
    """
    idx = index(host, name)
    if idx is None:
        raise NetworkError("linux.netDevices: the host has no device {name}", name=name)
    links = host.get_links(idx)
    was_up = bool(links and links[0]["flags"] & IFF_UP)
    addresses: list[tuple[str, int]] = []
    for msg in host.get_addr(index=idx):
        if msg["scope"] == RT_SCOPE_LINK and msg["family"] != AF_INET:
            continue
        address = msg.get_attr("IFA_ADDRESS")
        if address:
            addresses.append((str(address), int(msg["prefixlen"])))
    try:
        host.link("set", index=idx, net_ns_fd=nsfd, ifname=new_name)
    except NetlinkError as exc:
        raise _fail(f"moving {name} into the container", exc) from None
    inside = open_in(nsfd)
    try:
        new_idx = index(inside, new_name)
        if new_idx is None:
            raise NetworkError("{name} is not in the container after the move", name=new_name)
        for address, prefix in addresses:
            try:
                inside.addr("add", index=new_idx, address=address, prefixlen=prefix)
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise _fail(f"adding {address}/{prefix} to {new_name}", exc) from None
        if was_up:
            try:
                inside.link("set", index=new_idx, state="up")
            except NetlinkError as exc:
                raise _fail(f"setting {new_name} up", exc) from None
    finally:
        inside.close()
