"""A container's network settings: the ``run.fire.*`` annotations (pure).

These annotations are Fire's own, off by default: a bundle that does not carry
them (every bundle an engine hands Fire) is run exactly as its config.json says.
``fire create/run`` flags set the same annotations (``fire.net.flags``), so
``fire run`` of a bare bundle and ``fire-supervise`` (which runs ``fire create``)
share one contract, written down in docs/network-storage.md:

    run.fire.network   "none" | "host" | "bridge"
    run.fire.bridge    the host bridge (default fire0)
    run.fire.subnet    its IPv4 subnet (default 10.89.0.0/24)
    run.fire.ports     "127.0.0.1:8080:80/tcp,8443:443" (bridge only)
    run.fire.address   set by Fire in the state (``fire state``): the container's address

A mode given here overrides the bundle's own network namespace entry: ``host``
removes it, ``none`` and ``bridge`` make it a new namespace.
"""

from __future__ import annotations

from fire.errors import ConfigError
from fire.i18n import N_
from fire.net import Invalid
from fire.net.addr import Subnet, format_ipv4, parse_ipv4

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.spec.config import Spec

NETWORK = "run.fire.network"
BRIDGE = "run.fire.bridge"
SUBNET = "run.fire.subnet"
PORTS = "run.fire.ports"
KEYS = (NETWORK, BRIDGE, SUBNET, PORTS)
# Written by Fire into the state's annotations (``fire state``), never read from a bundle.
ADDRESS = "run.fire.address"

MODES = ("none", "host", "bridge")
DEFAULT_BRIDGE = "fire0"
DEFAULT_SUBNET = "10.89.0.0/24"
PROTOCOLS = ("tcp", "udp", "sctp")
IFNAMSIZ = 16  # with the terminating NUL


def where(key: str) -> str:
    """The JSON path of an annotation, for error messages."""
    return f'$.annotations["{key}"]'


def check_ifname(name: str) -> None:
    """The kernel's rule for interface names (dev_valid_name)."""
    if not name or len(name) >= IFNAMSIZ or name in (".", "..") or any(
            c == "/" or c == ":" or c.isspace() for c in name):
        raise Invalid(N_("{name!r} is not a valid interface name (1 to 15 characters, "
                      "no '/', ':' or spaces)"), name=name)


class Port:
    """One published port: ``HOST_IP:HOST_PORT:CONTAINER_PORT/PROTO``."""

    __slots__ = ("host_ip", "host_port", "port", "proto")

    def __init__(self, host_ip: int, host_port: int, port: int, proto: str) -> None:
        self.host_ip = host_ip  # 0 = every local address
        self.host_port = host_port
        self.port = port
        self.proto = proto

    @classmethod
    def parse(cls, text: str) -> Port:
        """``127.0.0.1:8080:80/tcp``, ``8080:80`` (every address), ``/udp``…"""
        body, _, proto = text.strip().partition("/")
        proto = proto or "tcp"
        if proto not in PROTOCOLS:
            raise Invalid(N_("{text!r}: the protocol must be one of {protocols}"), text=text,
                          protocols=", ".join(PROTOCOLS))
        if body.startswith("["):
            raise Invalid(N_("{text!r}: IPv6 host addresses are not supported"), text=text)
        parts = body.split(":")
        if len(parts) == 2:
            parts.insert(0, "0.0.0.0")
        if len(parts) != 3:
            raise Invalid(N_("{text!r} is not a port like 127.0.0.1:8080:80/tcp or 8080:80"),
                          text=text)
        host_ip = parse_ipv4(parts[0])
        numbers = []
        for part in parts[1:]:
            if not part.isdigit() or not 1 <= int(part) <= 65535:
                raise Invalid(N_("{text!r}: {part!r} is not a port number (1-65535)"), text=text,
                              part=part)
            numbers.append(int(part))
        return cls(host_ip, numbers[0], numbers[1], proto)

    def conflicts(self, other: Port) -> bool:
        """Two ports cannot both take one host port (0.0.0.0 takes every address)."""
        return (self.proto == other.proto and self.host_port == other.host_port
                and (self.host_ip == other.host_ip or not self.host_ip or not other.host_ip))

    def __str__(self) -> str:
        return f"{format_ipv4(self.host_ip)}:{self.host_port}:{self.port}/{self.proto}"

    def __repr__(self) -> str:
        return f"Port({str(self)!r})"


def parse_ports(text: str) -> list[Port]:
    """A comma-separated list (the annotation's form)."""
    return [Port.parse(item) for item in text.split(",") if item.strip()]


class NetSettings:
    """What one container asked of Fire's networking."""

    __slots__ = ("bridge", "mode", "ports", "subnet")

    def __init__(self, mode: str, bridge: str = DEFAULT_BRIDGE,
                 subnet: Subnet | None = None, ports: list[Port] | None = None) -> None:
        self.mode = mode
        self.bridge = bridge
        self.subnet = subnet or Subnet.parse(DEFAULT_SUBNET)
        self.ports = ports or []


def parse(annotations: dict[str, str] | None) -> NetSettings | None:
    """The settings, or None when the bundle asks nothing of Fire's networking."""
    values = {k: v for k, v in (annotations or {}).items() if k in KEYS}
    if not values:
        return None
    mode = values.get(NETWORK, "").strip()
    if not mode:
        # Ports or a bridge without a mode can only mean the bridge.
        mode = "bridge"
    if mode not in MODES:
        raise ConfigError(where(NETWORK), "{mode!r} is not one of {modes}", mode=mode,
                          modes=", ".join(MODES))
    if mode != "bridge":
        for key in (BRIDGE, SUBNET, PORTS):
            if values.get(key, "").strip():
                raise ConfigError(where(key), "only applies to {key}=bridge, not {mode}",
                                  key=NETWORK, mode=mode)
        return NetSettings(mode)
    bridge = values.get(BRIDGE, "").strip() or DEFAULT_BRIDGE
    try:
        check_ifname(bridge)
    except Invalid as exc:
        raise ConfigError(where(BRIDGE), exc.template, "config.json",
                          **exc.params) from None
    try:
        subnet = Subnet.parse(values.get(SUBNET, "").strip() or DEFAULT_SUBNET)
    except Invalid as exc:
        raise ConfigError(where(SUBNET), exc.template, "config.json",
                          **exc.params) from None
    try:
        ports = parse_ports(values.get(PORTS, ""))
    except Invalid as exc:
        raise ConfigError(where(PORTS), exc.template, "config.json",
                          **exc.params) from None
    for i, port in enumerate(ports):
        for other in ports[:i]:
            if port.conflicts(other):
                raise ConfigError(where(PORTS), "{port} and {other} publish the same host port",
                                  port=str(port), other=str(other))
        if port.host_ip in subnet:
            raise ConfigError(where(PORTS), "{port}: the host address is inside the bridge's "
                              "own subnet {subnet}", port=str(port), subnet=str(subnet))
    return NetSettings(mode, bridge, subnet, ports)


def apply(spec: Spec, settings: NetSettings | None) -> Spec:
    """The spec with its network namespace entry overridden by the mode, and the
    checks of ``linux.netDevices`` (runtime-spec 1.2) that depend on it."""
    import msgspec

    from fire.spec.config import Namespace

    linux = spec.linux
    if linux is None:
        return spec
    if settings is not None:
        others = [ns for ns in linux.namespaces or [] if ns.type != "network"]
        if settings.mode != "host":
            others.append(Namespace(type="network"))
        linux = msgspec.structs.replace(linux, namespaces=others)
        spec = msgspec.structs.replace(spec, linux=linux)
    if linux.net_devices:
        if not any(ns.type == "network" for ns in linux.namespaces or []):
            raise ConfigError("$.linux.netDevices", "moving a device needs the container "
                              "to have its own network namespace")
        targets: set[str] = set()
        for host_name, dev in linux.net_devices.items():
            target = dev.name or host_name
            try:
                check_ifname(host_name)
                check_ifname(target)
            except Invalid as exc:
                raise ConfigError(f'$.linux.netDevices["{host_name}"]', exc.template,
                                  "config.json", **exc.params) from None
            if target in targets:
                raise ConfigError(f'$.linux.netDevices["{host_name}"]',
                                  "two devices would be named {target!r}", target=target)
            targets.add(target)
    return spec


def check_port_flag(text: str) -> str:
    """``--publish``'s check (a ValueError becomes the CLI's usage error)."""
    Port.parse(text)
    return text.strip()


def check_subnet_flag(text: str) -> str:
    Subnet.parse(text)
    return text.strip()


def check_mode_flag(text: str) -> str:
    if text not in MODES:
        raise Invalid(N_("{mode!r} is not one of {modes}"), mode=text, modes=", ".join(MODES))
    return text
