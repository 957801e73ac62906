"""The pure parts of fire.net (no root, no kernel): settings, addresses, the IPAM,
the nftables text, the host files."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fire.errors import ConfigError
from fire.net import NetworkError, bridge, hostfiles, ipam, nft
from fire.net.addr import Subnet, format_ipv4, parse_ipv4
from fire.net.settings import Port, apply, parse
from fire.spec.load import decode_spec

if TYPE_CHECKING:
    from pathlib import Path

    from fire.spec.config import Spec


# --------------------------------------------------------------------------- addresses


def test_ipv4_round_trip_and_errors() -> None:
    assert parse_ipv4("10.89.0.2") == 0x0A590002
    assert format_ipv4(0x0A590002) == "10.89.0.2"
    for bad in ("10.89.0", "10.89.0.256", "a.b.c.d", "1.2.3.4.5", "", "1..2.3"):
        with pytest.raises(ValueError, match="not an IPv4 address"):
            parse_ipv4(bad)


def test_subnet() -> None:
    net = Subnet.parse("10.89.0.0/24")
    assert format_ipv4(net.gateway) == "10.89.0.1"
    assert format_ipv4(net.broadcast) == "10.89.0.255"
    hosts = net.hosts()
    assert (format_ipv4(hosts[0]), format_ipv4(hosts[-1]), len(hosts)) == (
        "10.89.0.2", "10.89.0.254", 253)
    assert parse_ipv4("10.89.0.77") in net
    assert parse_ipv4("10.89.1.1") not in net
    assert str(net) == "10.89.0.0/24"
    with pytest.raises(ValueError, match="host bits"):
        Subnet.parse("10.89.0.1/24")
    with pytest.raises(ValueError, match="between 8 and 30"):
        Subnet.parse("10.89.0.0/31")
    with pytest.raises(ValueError, match="not a subnet"):
        Subnet.parse("10.89.0.0")


@given(st.integers(0, 0xFFFFFFFF), st.integers(8, 30))
def test_subnet_text_round_trip(address: int, prefix: int) -> None:
    network = address & (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    assert Subnet.parse(str(Subnet(network, prefix))) == Subnet(network, prefix)


# --------------------------------------------------------------------------- ports


@pytest.mark.parametrize(("text", "shown"), [
    ("127.0.0.1:8080:80/tcp", "127.0.0.1:8080:80/tcp"),
    ("8080:80", "0.0.0.0:8080:80/tcp"),
    ("53:53/udp", "0.0.0.0:53:53/udp"),
])
def test_port_forms(text: str, shown: str) -> None:
    assert str(Port.parse(text)) == shown


@pytest.mark.parametrize(("text", "message"), [
    ("80", "not a port like"),
    ("1:2:3:4", "not a port like"),
    ("0:80", "not a port number"),
    ("8080:70000", "not a port number"),
    ("8080:80/icmp", "protocol"),
    ("[::1]:8080:80", "IPv6"),
    ("localhost:8080:80", "not an IPv4 address"),
])
def test_bad_ports(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Port.parse(text)


@given(st.integers(0, 0xFFFFFFFF), st.integers(1, 65535), st.integers(1, 65535),
       st.sampled_from(["tcp", "udp", "sctp"]))
def test_port_round_trip(ip: int, host_port: int, port: int, proto: str) -> None:
    text = f"{format_ipv4(ip)}:{host_port}:{port}/{proto}"
    assert str(Port.parse(text)) == text


def test_port_conflicts() -> None:
    any_8080 = Port.parse("8080:80")
    lo_8080 = Port.parse("127.0.0.1:8080:81")
    other_8080 = Port.parse("192.0.2.1:8080:81")
    assert any_8080.conflicts(lo_8080)
    assert lo_8080.conflicts(any_8080)
    assert not lo_8080.conflicts(other_8080)
    assert not lo_8080.conflicts(Port.parse("127.0.0.1:8080:81/udp"))


# --------------------------------------------------------------------------- settings


def test_no_fire_annotations_means_no_settings() -> None:
    assert parse(None) is None
    assert parse({"org.example": "x"}) is None


def test_settings_defaults_and_ports_imply_the_bridge() -> None:
    s = parse({"run.fire.ports": "127.0.0.1:8080:80, 8443:443"})
    assert s is not None
    assert (s.mode, s.bridge, str(s.subnet)) == ("bridge", "fire0", "10.89.0.0/24")
    assert [str(p) for p in s.ports] == ["127.0.0.1:8080:80/tcp", "0.0.0.0:8443:443/tcp"]


@pytest.mark.parametrize(("annotations", "where", "message"), [
    ({"run.fire.network": "bridged"}, "run.fire.network", "not one of"),
    ({"run.fire.network": "host", "run.fire.bridge": "br0"}, "run.fire.bridge", "only applies"),
    ({"run.fire.bridge": "a-very-long-bridge-name"}, "run.fire.bridge", "interface name"),
    ({"run.fire.ports": "8080:80,127.0.0.1:8080:81"}, "run.fire.ports", "same host port"),
    ({"run.fire.ports": "10.89.0.9:8080:80"}, "run.fire.ports", "inside the bridge's own"),
])
def test_settings_errors_name_the_annotation(annotations: dict[str, str], where: str,
                                            message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(annotations)
    assert f'$.annotations["{where}"]' in str(info.value)
    assert message in str(info.value)


def spec_with(namespaces: list[dict[str, str]], **linux: object) -> Spec:
    import json

    doc = {"ociVersion": "1.2.0", "root": {"path": "rootfs"},
           "linux": {"namespaces": namespaces, **linux}}
    return decode_spec(json.dumps(doc).encode())


def test_apply_overrides_the_network_namespace_entry() -> None:
    spec = spec_with([{"type": "mount"}, {"type": "network", "path": "/run/netns/x"}])
    host = apply(spec, parse({"run.fire.network": "host"}))
    assert host.linux is not None
    assert [ns.type for ns in host.linux.namespaces or []] == ["mount"]
    none = apply(spec, parse({"run.fire.network": "none"}))
    assert none.linux is not None
    nets = [ns for ns in none.linux.namespaces or [] if ns.type == "network"]
    assert len(nets) == 1
    assert nets[0].path is None
    assert apply(spec, None) is spec


def test_net_devices_rules() -> None:
    bad_name = spec_with([{"type": "network"}], netDevices={"eth1": {"name": "a/b"}})
    with pytest.raises(ConfigError, match="interface name"):
        apply(bad_name, None)
    twice = spec_with([{"type": "network"}], netDevices={"eth1": {"name": "x"}, "x": {}})
    with pytest.raises(ConfigError, match="two devices"):
        apply(twice, None)
    no_netns = spec_with([{"type": "mount"}], netDevices={"eth1": {}})
    with pytest.raises(ConfigError, match="own network namespace"):
        apply(no_netns, None)


# --------------------------------------------------------------------------- IPAM


def test_ipam_lowest_free_address_reused_after_release(tmp_path: Path) -> None:
    root = tmp_path
    directory = ipam.lease_dir(str(root), "br")
    net = Subnet.parse("10.1.0.0/29")  # .2 - .6
    got = []
    for cid in "abcde":
        (root / cid).mkdir()
        got.append(format_ipv4(ipam.allocate(directory, net, cid, "v" + cid, []).address))
    assert got == ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"]
    (root / "f").mkdir()
    with pytest.raises(NetworkError, match="no free address"):
        ipam.allocate(directory, net, "f", "vf", [])
    assert [lease.id for lease in ipam.release(directory, "b")] == ["b"]
    assert format_ipv4(ipam.allocate(directory, net, "f", "vf", []).address) == "10.1.0.3"


def test_ipam_port_conflict_names_the_owner(tmp_path: Path) -> None:
    directory = ipam.lease_dir(str(tmp_path), "br")
    net = Subnet.parse("10.1.0.0/24")
    ipam.allocate(directory, net, "web", "v1", [Port.parse("127.0.0.1:8080:80")])
    with pytest.raises(NetworkError, match="published by container web"):
        ipam.allocate(directory, net, "api", "v2", [Port.parse("8080:8080")])
    ipam.allocate(directory, net, "api", "v2", [Port.parse("8080:8080/udp")])


def test_ipam_reclaims_stale_leases_and_earlier_leases_of_the_id(tmp_path: Path) -> None:
    directory = ipam.lease_dir(str(tmp_path), "br")
    net = Subnet.parse("10.1.0.0/24")
    (tmp_path / "alive").mkdir()
    (tmp_path / "again").mkdir()
    for cid in ("alive", "gone", "again"):
        ipam.allocate(directory, net, cid, "v", [])
    stale = ipam.reclaim(directory, str(tmp_path), "again")
    assert sorted(lease.id for lease in stale) == ["again", "gone"]
    assert [lease.id for lease in ipam.read_all(directory)] == ["alive"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 9)), max_size=60))
def test_ipam_never_gives_one_address_twice(tmp_path_factory: pytest.TempPathFactory,
                                           steps: list[tuple[bool, int]]) -> None:
    root = tmp_path_factory.mktemp("ipam")
    directory = ipam.lease_dir(str(root), "br")
    net = Subnet.parse("10.1.0.0/28")
    held: dict[str, int] = {}
    for allocate, n in steps:
        cid = f"c{n}"
        if allocate and cid not in held:
            os.makedirs(root / cid, exist_ok=True)
            held[cid] = ipam.allocate(directory, net, cid, "v", []).address
        elif not allocate:
            ipam.release(directory, cid)
            held.pop(cid, None)
        leases = ipam.read_all(directory)
        assert len({lease.address for lease in leases}) == len(leases) == len(held)
        assert {lease.id: lease.address for lease in leases} == held


# --------------------------------------------------------------------------- nft, marks, files


def test_ruleset_text() -> None:
    text = nft.ruleset("fire0", Subnet.parse("10.89.0.0/24"))
    assert text.startswith("add table ip fire-fire0\ndelete table ip fire-fire0\n")
    assert "ip saddr 10.89.0.0/24 ip daddr != 10.89.0.0/24 masquerade" in text
    assert 'oifname "fire0" ip saddr 127.0.0.0/8 masquerade' in text
    assert text.count("map @ports_any") == 2


def test_port_elements() -> None:
    lo = Port.parse("127.0.0.1:8080:80")
    anywhere = Port.parse("53:5353/udp")
    added = nft.add_ports("fire0", [lo, anywhere], parse_ipv4("10.89.0.2"))
    assert "add element ip fire-fire0 ports { 127.0.0.1 . tcp . 8080 : 10.89.0.2 . 80 }" in added
    assert "add element ip fire-fire0 ports_any { udp . 53 : 10.89.0.2 . 5353 }" in added
    assert nft.delete_port("fire0", lo) == (
        "delete element ip fire-fire0 ports { 127.0.0.1 . tcp . 8080 }\n")


def test_bridge_mark_round_trip() -> None:
    text = bridge.mark("/run/fire", "10.89.0.0/24", "0")
    assert bridge.read_mark(text) == {"root": "/run/fire", "subnet": "10.89.0.0/24",
                                      "ip_forward": "0"}
    assert bridge.read_mark("something else") is None
    assert bridge.read_mark("fire {not json") is None


def test_resolv_conf_drops_loopback_servers() -> None:
    text = ("# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\n"
            "nameserver 2001:db8::53\nsearch example.org\noptions edns0\n")
    out = hostfiles.resolv_conf(text)
    assert out == ("nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.org\n"
                   "options edns0\n")
    assert hostfiles.resolv_conf("nameserver 127.0.0.53\n").startswith("# Fire:")


def test_hosts_file() -> None:
    assert hostfiles.hosts(parse_ipv4("10.89.0.3"), "web", "web") == (
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.89.0.3\tweb\n")
