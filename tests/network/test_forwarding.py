"""Outbound traffic (forwarding + masquerade) and the ``ip_forward`` bookkeeping,
entirely inside namespaces the tests make."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.network.conftest import Netns, unique_bridge

if TYPE_CHECKING:
    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def bridged(bundle: Bundle, bridge: str, subnet: str) -> None:
    bundle.config["annotations"] = {"run.fire.network": "bridge", "run.fire.bridge": bridge,
                                    "run.fire.subnet": subnet}


def test_outbound_traffic_is_forwarded_and_masqueraded(fire: Fire, bundle: Bundle,
                                                       netns: Netns) -> None:
    """An "outside" namespace behind a veth (192.0.2.1) that has no route to the
    containers' subnet: the container reaches it only through Fire's forwarding
    and masquerade, and the outside sees the host's address."""
    outside = Netns()
    server = None
    try:
        netns.run("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns",
                  str(outside.proc.pid))
        netns.run("ip", "addr", "add", "192.0.2.2/24", "dev", "up0")
        netns.run("ip", "link", "set", "up0", "up")
        outside.run("ip", "addr", "add", "192.0.2.1/24", "dev", "up1")
        outside.run("ip", "link", "set", "up1", "up")
        server = subprocess.Popen([*outside.prefix(), "busybox", "nc", "-ll", "-p", "7000", "-e",
                                   "/bin/sh", "-c", "echo from outside"])
        bridged(bundle, unique_bridge(), "10.213.20.0/24")
        bundle.args("sh", "-c", "for i in $(seq 50); do nc -w 2 192.0.2.1 7000 && exit 0; "
                    "sleep 0.1; done; exit 1").write()
        r = fire("run", "-b", str(bundle.path), fire.unique_id())
        assert r.code == 0, r
        assert r.out == "from outside\n"
        conntrack = netns.run("cat", "/proc/net/nf_conntrack", check=False).stdout
        if conntrack:  # where the kernel shows it: the outside saw the host's address
            assert "src=10.213.20.2 dst=192.0.2.1" in conntrack
            assert "src=192.0.2.1 dst=192.0.2.2" in conntrack
    finally:
        if server is not None:
            server.kill()
            server.wait()
        netns.run("ip", "link", "del", "up0", check=False)
        outside.close()


def test_ip_forward_is_restored_by_the_last_of_two_bridges(fire: Fire, bundle: Bundle,
                                                         netns: Netns) -> None:
    """The first bridge records ip_forward=0 and hands the record to the other
    when it goes first; the last one restores it."""
    bundle.args("sleep", "100")
    first, second = fire.unique_id("a"), fire.unique_id("b")
    bridged(bundle, unique_bridge(), "10.213.21.0/24")
    bundle.write()
    assert fire("create", "-b", str(bundle.path), first).code == 0
    assert netns.sysctl("net/ipv4/ip_forward") == "1"
    bridged(bundle, unique_bridge(), "10.213.22.0/24")
    bundle.write()
    assert fire("create", "-b", str(bundle.path), second).code == 0
    assert fire("delete", first).code == 0
    assert netns.sysctl("net/ipv4/ip_forward") == "1", "the second bridge still forwards"
    assert fire("delete", second).code == 0
    assert netns.sysctl("net/ipv4/ip_forward") == "0"


def test_ip_forward_found_on_is_left_on(fire: Fire, bundle: Bundle, netns: Netns) -> None:
    netns.run("sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
    try:
        bridged(bundle, unique_bridge(), "10.213.23.0/24")
        bundle.args("true").write()
        assert fire("run", "-b", str(bundle.path), fire.unique_id()).code == 0
        assert netns.sysctl("net/ipv4/ip_forward") == "1"
    finally:
        netns.run("sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")


def test_a_bridge_of_another_root_is_refused(fire: Fire, bundle: Bundle, netns: Netns) -> None:
    """Two roots' IPAMs would hand out the same addresses on one bridge."""
    import json

    bridge = unique_bridge()
    bridged(bundle, bridge, "10.213.24.0/24")
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    other_root = fire.root.parent / "other-root"
    argv = [*fire.argv, "--root", str(other_root), "create", "-b", str(bundle.path), "x"]
    r = subprocess.run(argv, capture_output=True, text=True, env=fire.env(), timeout=60)
    assert r.returncode == 1
    assert f"belongs to Fire's root {fire.root}" in r.stderr
    assert [d for d in other_root.iterdir() if not d.name.startswith("@")] == []
    with open(fire.root / cid / "state.json") as f:
        veth = json.load(f)["extra"]["net"]["veth"]
    assert netns.links() == {"lo", bridge, veth}, "the refused create left nothing"
    assert fire("delete", cid).code == 0
