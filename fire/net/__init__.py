"""Networking for containers Fire runs itself (``fire run``, ``fire-supervise``).

Engines bring their own networking (CNI, netavark) and pass Fire a network
namespace path: then nothing here runs (the init brings ``lo`` up in a namespace
it creates, as runc does: fire.syscalls.net).  A container asks for Fire's
networking with the ``run.fire.network`` annotation (or ``fire create/run
--network``): ``none``
(its own namespace with ``lo``), ``host`` (the host's namespace) or ``bridge``
(a veth on a host bridge, an address from a small IPAM, NAT with nftables).
The contract is written down in docs/network-storage.md.

Module map: ``settings`` (annotations and flags, pure) · ``addr`` (IPv4
arithmetic, pure) · ``ipam`` (leases under the root directory) · ``hostfiles``
(/etc/hosts, /etc/resolv.conf) · ``netns`` (sockets made in another namespace) ·
``netlink`` (pyroute2: bridge, veth, device moves) · ``nft`` (the rule
set, applied with ``nft -f -``) · ``bridge`` (the per-namespace network: bridge,
table, sysctls) · ``stage`` (what ``create`` and ``delete`` call).

pyroute2 costs ~150 ms to import: only ``netlink`` imports it, and only the
bridge mode and ``linux.netDevices`` reach ``netlink``.
"""

from __future__ import annotations

from fire.errors import FireError


class NetworkError(FireError):
    """A network set-up or teardown step failed (an English template + params)."""


class Invalid(ValueError):
    """A setting that does not parse: a translatable template and its parameters
    (``ConfigError`` shows it with the annotation's JSON path; as a flag's check, the
    CLI shows its own "invalid value" line)."""

    def __init__(self, template: str, **params: object) -> None:
        super().__init__(template.format(**params))
        self.template = template
        self.params = params
