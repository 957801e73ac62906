"""Network modes end to end: none, host, bridge, published ports, linux.netDevices."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING

import pytest

from fire.lifecycle.stages import CREATE, order
from tests.network.conftest import Netns, unique_bridge

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import Bundle, Fire, Result

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def links_in_output(out: str) -> list[str]:
    """Link names from ``ip -o link`` run in a container (busybox)."""
    return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines()
                  if ":" in line)


def bridge_annotations(bridge: str, subnet: str = "10.213.7.0/24",
                       **extra: str) -> dict[str, str]:
    return {"run.fire.network": "bridge", "run.fire.bridge": bridge,
            "run.fire.subnet": subnet, **extra}


# --------------------------------------------------------------------------- none / host


def test_default_new_netns_has_lo_up(fire: Fire, bundle: Bundle) -> None:
    """A bundle with a network namespace and no Fire setting (an engine's): lo is up,
    as runc does."""
    bundle.args("ip", "-o", "link").write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert links_in_output(r.out) == ["lo"]
    assert "UP" in r.out.split("lo:")[1]


def test_none_has_only_lo(fire: Fire, bundle: Bundle) -> None:
    bundle.args("ip", "-o", "addr")
    bundle.config["annotations"] = {"run.fire.network": "none"}
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "network"]
    bundle.write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert {line.split()[1] for line in r.out.splitlines()} == {"lo"}
    assert "127.0.0.1/8" in r.out


def host_links_while(run: Callable[[], Result]) -> tuple[Result, set[str]]:
    """``run``'s result (a container printing /proc/net/dev) and the links it printed,
    checked against the host's links before and after: other tests on this host add
    and remove veths meanwhile, so the ones present throughout must be there, and
    nothing the host did not have.  (``ls /sys/class/net`` failed, exit 1, when a
    link went away between the listing and its stat.)"""
    before = set(os.listdir("/sys/class/net"))
    r = run()
    after = set(os.listdir("/sys/class/net"))
    links = {line.split(":")[0].strip() for line in r.out.splitlines()[2:] if ":" in line}
    assert before & after <= links <= before | after, (links, before, after)
    return r, links


def test_host_sees_the_hosts_interfaces(fire: Fire, bundle: Bundle) -> None:
    """``host`` overrides the bundle's own network namespace entry."""
    bundle.args("cat", "/proc/net/dev")
    bundle.config["annotations"] = {"run.fire.network": "host"}
    bundle.write()
    r, links = host_links_while(lambda: fire("run", "-b", str(bundle.path), fire.unique_id()))
    assert r.code == 0, r
    assert len(links) > 1


def test_network_flag_overrides_the_annotation(fire: Fire, bundle: Bundle) -> None:
    bundle.args("cat", "/proc/net/dev")
    bundle.config["annotations"] = {"run.fire.network": "none"}
    bundle.write()
    r, links = host_links_while(lambda: fire("run", "--network", "host", "-b",
                                             str(bundle.path), fire.unique_id()))
    assert r.code == 0, r
    assert len(links) > 1


@pytest.mark.parametrize(("annotations", "message"), [
    ({"run.fire.network": "wifi"}, '$.annotations["run.fire.network"]'),
    ({"run.fire.network": "none", "run.fire.ports": "8080:80"}, "only applies to"),
    ({"run.fire.ports": "127.0.0.1:99999:80"}, "not a port number"),
    ({"run.fire.ports": "8080:80/icmp"}, "protocol"),
    ({"run.fire.subnet": "10.1.2.3/24"}, "host bits are set"),
    ({"run.fire.bridge": "a/b"}, "not a valid interface name"),
])
def test_bad_settings_are_one_line_errors(fire: Fire, bundle: Bundle,
                                          annotations: dict[str, str], message: str) -> None:
    bundle.config["annotations"] = annotations
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert message in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert fire("state", cid).code == 1


def test_bad_publish_flag_is_a_usage_error(fire: Fire, bundle: Bundle) -> None:
    bundle.write()
    r = fire("run", "--publish", "nonsense", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 1
    assert "invalid value 'nonsense' for --publish" in r.err


# --------------------------------------------------------------------------- bridge


def address_of(fire: Fire, cid: str) -> str:
    return str(fire.state(cid)["annotations"]["run.fire.address"])


def test_bridge_gives_eth0_an_address_and_a_default_route(fire: Fire, bundle: Bundle,
                                                         netns: Netns) -> None:
    bridge = unique_bridge()
    bundle.args("sh", "-c", "ip -o addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf")
    bundle.config["annotations"] = bridge_annotations(bridge)
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    assert "inet 10.213.7.2/24" in r.out
    assert "default via 10.213.7.1 dev eth0" in r.out
    assert f"10.213.7.2\t{bundle.config['hostname']} {cid}" in r.out
    assert not (bundle.rootfs / "etc" / "hosts").exists(), "the read-only image was written"


def test_two_bridged_containers_talk_over_tcp(fire: Fire, bundle: Bundle,
                                              netns: Netns) -> None:
    bridge = unique_bridge()
    bundle.config["annotations"] = bridge_annotations(bridge)
    bundle.args("nc", "-ll", "-p", "5000", "-e", "/bin/echo", "pong from a").write()
    server = fire.unique_id("srv")
    assert fire("run", "-d", "-b", str(bundle.path), server).code == 0
    address = address_of(fire, server)
    assert netns.links() >= {bridge}
    bundle.args("sh", "-c", f"for i in $(seq 100); do nc -w 2 {address} 5000 && exit 0; "
                "sleep 0.1; done; exit 1").write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id("cli"))
    assert r.code == 0, r
    assert r.out == "pong from a\n"
    assert fire("delete", "--force", server).code == 0


def connect(netns: Netns, port: int, deadline: float = 20) -> str:
    """Read what a TCP server on 127.0.0.1:port of the namespace says."""
    code = ("import socket,sys\n"
            f"s = socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
            "data = b''\n"
            "while chunk := s.recv(4096): data += chunk\n"
            "sys.stdout.write(data.decode())\n")
    end = time.monotonic() + deadline
    while True:
        r = netns.run(sys.executable, "-c", code, check=False)
        if r.returncode == 0 and r.stdout:
            return r.stdout
        if time.monotonic() > end:
            raise AssertionError(f"no answer on 127.0.0.1:{port}: {r.stderr}")
        time.sleep(0.1)


def test_published_port_on_loopback_reaches_the_container(fire: Fire, bundle: Bundle,
                                                          netns: Netns) -> None:
    bridge = unique_bridge()
    bundle.config["annotations"] = bridge_annotations(
        bridge, **{"run.fire.ports": "127.0.0.1:18080:80/tcp"})
    bundle.args("nc", "-ll", "-p", "80", "-e", "/bin/echo", "hello from the container").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    assert connect(netns, 18080) == "hello from the container\n"
    assert netns.sysctl("net/ipv4/ip_forward") == "1"
    assert netns.sysctl(f"net/ipv4/conf/{bridge}/route_localnet") == "1"
    table = netns.run("nft", "list", "table", "ip", f"fire-{bridge}").stdout
    assert "127.0.0.1 . tcp . 18080 : 10.213.7.2 . 80" in table
    assert fire("delete", "--force", cid).code == 0


def test_hairpin_a_container_reaches_a_port_published_on_every_address(
        fire: Fire, bundle: Bundle, netns: Netns) -> None:
    """Another container connects to the bridge's own address (a local address of
    the host) on a port published without a host address.  With br_netfilter off
    (this namespace only), as on hosts without it: only Fire's hairpin masquerade
    makes the server's answer come back through the host."""
    netns.run("sh", "-c", "echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables")
    bridge = unique_bridge()
    bundle.config["annotations"] = bridge_annotations(bridge, **{"run.fire.ports": "18083:80"})
    bundle.args("nc", "-ll", "-p", "80", "-e", "/bin/echo", "hairpin").write()
    server = fire.unique_id("srv")
    assert fire("run", "-d", "-b", str(bundle.path), server).code == 0
    assert connect(netns, 18083) == "hairpin\n"
    bundle.config["annotations"] = bridge_annotations(bridge)
    bundle.args("nc", "-w", "3", "10.213.7.1", "18083").write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id("cli"))
    assert r.code == 0, r
    assert r.out == "hairpin\n"
    assert fire("delete", "--force", server).code == 0


def test_published_port_flag_and_conflict(fire: Fire, bundle: Bundle, netns: Netns) -> None:
    """``-p`` publishes; a second container asking for the same host port is refused,
    naming the first, and leaves nothing behind."""
    bridge = unique_bridge()
    bundle.args("nc", "-ll", "-p", "80", "-e", "/bin/echo", "flag").write()
    first = fire.unique_id()
    flags = ["--network", "bridge", "--bridge", bridge, "--subnet", "10.213.9.0/24"]
    assert fire("run", "-d", *flags, "-p", "18081:80", "-b", str(bundle.path), first).code == 0
    assert connect(netns, 18081) == "flag\n"
    second = fire.unique_id()
    r = fire("run", "-d", *flags, "-p", "127.0.0.1:18081:81", "-b", str(bundle.path), second)
    assert r.code == 1
    assert f"published by container {first}" in r.err
    assert fire("state", second).code == 1
    assert fire("delete", "--force", first).code == 0


def test_a_bridge_fire_did_not_make_is_refused(fire: Fire, bundle: Bundle, netns: Netns) -> None:
    bridge = unique_bridge()
    netns.run("ip", "link", "add", bridge, "type", "bridge")
    netns.expected_links.add(bridge)
    bundle.config["annotations"] = bridge_annotations(bridge)
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "was not made by Fire" in r.err
    assert netns.tables() == []


def _bridged_with_every_stage(bundle: Bundle) -> None:
    bundle.config["annotations"] = bridge_annotations(
        unique_bridge(), **{"run.fire.ports": "127.0.0.1:18082:80"})
    # hooks:createContainer is a stage only when there are such hooks.
    bundle.config["hooks"] = {"createContainer": [{"path": "/bin/sh",
                                                   "args": ["sh", "-c", "exit 0"]}]}
    bundle.args("sleep", "100").write()


@pytest.mark.parametrize("stage", order(CREATE))
def test_crash_leaves_nothing_delete_force_cannot_clean(fire: Fire, bundle: Bundle,
                                                       netns: Netns, stage: str) -> None:
    _bridged_with_every_stage(bundle)
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid, env={"FIRE_TEST_CRASH_AT": stage})
    assert r.code == -9, r
    fire("delete", "--force", cid)  # (nothing to delete when it died before the claim)
    assert fire("state", cid).code == 1
    assert netns.links() == {"lo"}
    assert netns.tables() == []
    assert netns.sysctl("net/ipv4/ip_forward") == "0"


@pytest.mark.parametrize("stage", order(CREATE))
def test_a_failure_at_any_stage_leaves_no_network(fire: Fire, bundle: Bundle, netns: Netns,
                                                  stage: str) -> None:
    """The undo of the network stage (by its name, fire.container.create) runs
    whatever stage fails after it: no veth, no bridge, no nft table, no lease."""
    _bridged_with_every_stage(bundle)
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid, env={"FIRE_TEST_FAIL_AT": stage})
    assert r.code == 1, r
    assert r.err == f"fire: {stage}: failure injected (FIRE_TEST_FAIL_AT)\n"
    assert not (fire.root / cid).exists()
    assert netns.links() == {"lo"}
    assert netns.tables() == []
    assert netns.sysctl("net/ipv4/ip_forward") == "0"
    leases = fire.root / "@ipam"
    assert not leases.exists() or not any(p.is_file() for p in leases.rglob("*")), "no lease"


def test_net_devices_move_in_with_their_addresses(fire: Fire, bundle: Bundle,
                                                  netns: Netns) -> None:
    """runtime-spec 1.2 linux.netDevices: moved in, renamed, address kept.  (A veth:
    this kernel has no dummy driver; its peer stays on the host.)"""
    netns.run("ip", "link", "add", "tdev0", "type", "veth", "peer", "name", "tdev1")
    netns.run("ip", "addr", "add", "10.214.0.5/24", "dev", "tdev0")
    netns.run("ip", "link", "set", "tdev0", "up")
    bundle.args("ip", "-o", "addr", "show", "ctr0")
    bundle.config["linux"]["netDevices"] = {"tdev0": {"name": "ctr0"}}
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    assert "inet 10.214.0.5/24" in r.out
    # A virtual device dies with the namespace (and takes its peer along).
    deadline = time.monotonic() + 10
    while netns.links() != {"lo"} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert netns.links() == {"lo"}


def test_net_devices_need_a_network_namespace(fire: Fire, bundle: Bundle) -> None:
    bundle.config["linux"]["netDevices"] = {"eth9": {}}
    bundle.config["annotations"] = {"run.fire.network": "host"}
    bundle.write()
    r = fire("create", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 1
    assert "$.linux.netDevices" in r.err


# --------------------------------------------------------------------------- the engine path


@pytest.mark.parametrize("annotations", [{}, {"run.fire.network": "none"}])
def test_engine_path_never_imports_pyroute2(fire: Fire, bundle: Bundle,
                                            annotations: dict[str, str]) -> None:
    bundle.args("sleep", "100")
    bundle.config["annotations"] = annotations
    bundle.write()
    cid = fire.unique_id()
    env = {"PYTHONPROFILEIMPORTTIME": "1"}
    for argv in (["create", "-b", str(bundle.path), cid], ["start", cid], ["state", cid],
                 ["kill", cid, "KILL"], ["delete", "--force", cid]):
        r = fire(*argv, env=env)
        assert r.code == 0, r
        assert "import time" in r.err, "-X importtime did not report"
        assert "pyroute2" not in r.err, f"{argv[0]} imported pyroute2"
        assert "asyncio" not in r.err, f"{argv[0]} imported asyncio"
        assert " fire.net.netlink" not in r.err
        if argv[0] != "create":
            assert "msgspec" not in r.err, f"{argv[0]} imported msgspec"


def test_state_json_records_the_network(fire: Fire, bundle: Bundle, netns: Netns) -> None:
    """What delete --force needs is in state.json while the container lives."""
    bridge = unique_bridge()
    bundle.config["annotations"] = bridge_annotations(bridge)
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    with open(os.path.join(fire.root, cid, "state.json")) as f:
        record = json.load(f)["extra"]["net"]
    assert record["bridge"] == bridge
    assert record["address"] == "10.213.7.2"
    assert record["veth"] in netns.links()
    lease = os.path.join(fire.root, "@ipam", bridge, "10.213.7.2")
    with open(lease) as f:
        assert json.load(f)["id"] == cid
    assert fire("delete", cid).code == 0
    assert not os.path.exists(lease)
