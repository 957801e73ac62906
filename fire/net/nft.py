"""Fire's nftables rules: one table per bridge, fed to ``nft -f -``.

Why the ``nft`` command and not pyroute2's nftables module: published ports are
two *maps* keyed by concatenations (``address . protocol . port`` →
``container address . port``), so a port is one map element that is added and
deleted by value, with no rule handles to track.  pyroute2 (0.9) can build rules
from raw expressions but has no support for sets, maps or concatenations; the
``nft`` language says it in a few readable lines, and a rule set sent on stdin is
applied as one atomic transaction.

The table (``ip fire-<bridge>``):

* ``postrouting``: masquerade what the containers send out of the subnet
  (outbound traffic); what reaches the bridge from 127.0.0.0/8 (a published
  port used from the host's loopback: the container must answer the bridge's
  address, not 127.0.0.1 — this is the "source NAT" that DNAT from loopback needs,
  together with ``route_localnet`` on the bridge, see ``fire.net.bridge``); and a
  container reaching a published port of the host that leads back into the
  subnet ("hairpin": without it the server would answer the client directly, on
  the bridge, from an address the client never spoke to).
* ``prerouting`` (traffic from other hosts) and ``output`` (from this host):
  destination NAT through the maps, for local destination addresses only.

The table is made with the bridge and deleted with it, when the last container
of the bridge goes.
"""

from __future__ import annotations

import os

from fire.net import NetworkError
from fire.net.addr import format_ipv4

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.net.addr import Subnet
    from fire.net.settings import Port

NFT_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


def table_name(bridge: str) -> str:
    return f"fire-{bridge}"


def ruleset(bridge: str, subnet: Subnet) -> str:
    """The whole table, replacing any earlier one (``add`` + ``delete`` + define:
    the idiom that makes the delete succeed whether or not the table exists)."""
    table = table_name(bridge)
    dnat = ("fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports\n"
            "    fib daddr type local dnat ip to meta l4proto . th dport map @ports_any")
    return f"""add table ip {table}
delete table ip {table}
table ip {table} {{
  map ports {{
    type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
  }}
  map ports_any {{
    type inet_proto . inet_service : ipv4_addr . inet_service
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    {dnat}
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    {dnat}
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {subnet} ip daddr != {subnet} masquerade
    oifname "{bridge}" ip saddr 127.0.0.0/8 masquerade
    oifname "{bridge}" ip saddr {subnet} ct status dnat masquerade
  }}
}}
"""


def drop_table(bridge: str) -> str:
    table = table_name(bridge)
    return f"add table ip {table}\ndelete table ip {table}\n"


def _element(port: Port, address: int | None) -> tuple[str, str]:
    """(map, element) for one port; the element without its value when deleting."""
    key = f"{port.proto} . {port.host_port}"
    if port.host_ip:
        mapname, key = "ports", f"{format_ipv4(port.host_ip)} . {key}"
    else:
        mapname = "ports_any"
    if address is None:
        return mapname, key
    return mapname, f"{key} : {format_ipv4(address)} . {port.port}"


def add_ports(bridge: str, ports: list[Port], address: int) -> str:
    lines = []
    for port in ports:
        mapname, element = _element(port, address)
        lines.append(f"add element ip {table_name(bridge)} {mapname} {{ {element} }}\n")
    return "".join(lines)


def delete_port(bridge: str, port: Port) -> str:
    mapname, element = _element(port, None)
    return f"delete element ip {table_name(bridge)} {mapname} {{ {element} }}\n"


def nft_path() -> str:
    for directory in [*os.environ.get("PATH", "").split(":"), *NFT_DIRS]:
        if directory and os.access(os.path.join(directory, "nft"), os.X_OK):
            return os.path.join(directory, "nft")
    raise NetworkError("the bridge network needs the nft command (Debian package nftables)")


def apply(script: str, missing_ok: bool = False) -> None:
    """Run ``nft -f -`` with ``script`` as one transaction.  ``missing_ok``
    (teardown): an element or table already gone is not an error, nor is a
    missing ``nft`` command (then Fire cannot have made a table either)."""
    if not script:
        return
    import subprocess

    try:
        nft = nft_path()
    except NetworkError:
        if missing_ok:
            return
        raise
    proc = subprocess.run([nft, "-f", "-"], input=script.encode(), capture_output=True,
                          check=False)
    if proc.returncode == 0:
        return
    text = proc.stderr.decode(errors="replace")
    if missing_ok and "No such file or directory" in text:
        return
    first = next((line for line in text.splitlines() if "Error" in line), text.strip())
    raise NetworkError("nft: {error}", error=first.strip())


def remove_ports(bridge: str, ports: list[Port]) -> None:
    """Delete the elements of ``ports``; those already gone are not an error.

    One transaction first; if it fails (an element is missing, and a transaction
    is all or nothing), one element at a time."""
    try:
        apply("".join(delete_port(bridge, port) for port in ports))
    except NetworkError:
        for port in ports:
            apply(delete_port(bridge, port), missing_ok=True)
