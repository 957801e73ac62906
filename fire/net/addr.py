"""IPv4 addresses as integers (pure).

The standard ``ipaddress`` module would do, but costs ~5 ms to import on the
engine path, where ports given as flags are checked on every ``create``; what
Fire needs is four functions.  IPv6 is not supported by Fire's bridge (yet).
"""

from __future__ import annotations

from fire.i18n import N_
from fire.net import Invalid


def parse_ipv4(text: str) -> int:
    """``"10.89.0.2"`` -> an integer; ValueError when it is not a dotted quad."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 for p in parts):
        raise Invalid(N_("{text!r} is not an IPv4 address"), text=text)
    value = 0
    for part in parts:
        octet = int(part)
        if octet > 255:
            raise Invalid(N_("{text!r} is not an IPv4 address"), text=text)
        value = value << 8 | octet
    return value


def format_ipv4(value: int) -> str:
    return ".".join(str(value >> shift & 0xFF) for shift in (24, 16, 8, 0))


def is_loopback(value: int) -> bool:
    return value >> 24 == 127


class Subnet:
    """An IPv4 network such as 10.89.0.0/24: the bridge's address is the first
    host address, containers get the others."""

    __slots__ = ("network", "prefix")

    def __init__(self, network: int, prefix: int) -> None:
        self.network = network
        self.prefix = prefix

    @classmethod
    def parse(cls, text: str) -> Subnet:
        address, slash, bits = text.partition("/")
        if not slash or not bits.isdigit():
            raise Invalid(N_("{text!r} is not a subnet like 10.89.0.0/24"), text=text)
        prefix = int(bits)
        if not 8 <= prefix <= 30:
            raise Invalid(N_("{text!r}: the prefix length must be between 8 and 30"), text=text)
        network = parse_ipv4(address)
        if network & ~cls._mask(prefix) & 0xFFFFFFFF:
            raise Invalid(N_("{text!r}: host bits are set (the network is {network})"), text=text,
                          network=f"{format_ipv4(network & cls._mask(prefix))}/{prefix}")
        return cls(network, prefix)

    @staticmethod
    def _mask(prefix: int) -> int:
        return (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF

    @property
    def gateway(self) -> int:
        return self.network + 1

    @property
    def broadcast(self) -> int:
        return self.network | (~self._mask(self.prefix) & 0xFFFFFFFF)

    def hosts(self) -> range:
        """Addresses a container may get: all but network, gateway and broadcast."""
        return range(self.gateway + 1, self.broadcast)

    def __contains__(self, value: int) -> bool:
        return value & self._mask(self.prefix) == self.network

    def __str__(self) -> str:
        return f"{format_ipv4(self.network)}/{self.prefix}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Subnet) and (self.network, self.prefix) == (
            other.network, other.prefix)

    def __hash__(self) -> int:
        return hash((self.network, self.prefix))
