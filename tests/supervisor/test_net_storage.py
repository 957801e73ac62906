"""Network and storage settings in fire-supervise's TOML file, end to end.

The bridge tests run the supervisor (and so every `fire` it starts) inside a network
namespace the test makes (tests/network/conftest.py: only loopback and the test's
own bridge carry traffic; afterwards no link, table, lease or ip_forward change is
left).  The netlink part of `network:attach` runs in the supervisor, in a worker
thread (fire.delegate, fire.supervisor.delegation)."""

from __future__ import annotations

import signal
import sys
import time
from typing import TYPE_CHECKING

import pytest

from fire import events as ev
from tests.network.conftest import Netns, unique_bridge
from tests.supervisor.conftest import SERVE, Bundles, Supervised, toml

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

# A TCP server on port 80 that answers every connection, and stops on SIGTERM.
SERVER = "trap 'exit 0' TERM; nc -ll -p 80 -e /bin/echo hello from {name} & wait"


def read_from(netns: Netns, host: str, port: int, deadline: float = 20) -> str:
    """What a TCP server at host:port says, read from inside the test's namespace."""
    code = ("import socket,sys\n"
            f"s = socket.create_connection(({host!r}, {port}), timeout=3)\n"
            "data = b''\n"
            "while chunk := s.recv(4096): data += chunk\n"
            "sys.stdout.write(data.decode())\n")
    end = time.monotonic() + deadline
    while True:
        r = netns.run(sys.executable, "-c", code, check=False)
        if r.returncode == 0 and r.stdout:
            return r.stdout
        if time.monotonic() > end:
            raise AssertionError(f"no answer from {host}:{port}: {r.stderr}")
        time.sleep(0.1)


def test_a_bridged_container_is_reachable_by_address_and_published_port(
        fire: Fire, netns: Netns, bundles: Bundles,
        supervise: Callable[..., Supervised]) -> None:
    bridge = unique_bridge()
    cid = fire.unique_id("web")
    config = toml({cid: {"bundle": str(bundles("web", SERVER.format(name="web"))),
                         "network": "bridge", "bridge": bridge, "subnet": "10.213.71.0/24",
                         "ports": ["127.0.0.1:18071:80/tcp"], "stop_timeout": 5}})
    sup = supervise(config, prefix=netns.prefix())
    sup.wait_state(cid, "running")
    state = fire.state(cid)
    address = state["annotations"]["run.fire.address"]
    assert address == "10.213.71.2"
    assert state["annotations"]["run.fire.network"] == "bridge", "the TOML key became the flag"
    assert read_from(netns, address, 80) == "hello from web\n"
    assert read_from(netns, "127.0.0.1", 18071) == "hello from web\n"
    attach = [e for e in sup.of(cid, ev.Log) if e.text.startswith("network:attach:")]
    assert len(attach) == 1, "the veth was made by the supervisor, in a worker thread"
    stages = [e.stage for e in sup.of(cid, ev.StageFinished)]
    assert stages.index("network") < stages.index("network:attach") < stages.index(
        "hooks:runtime")
    assert sup.terminate() == 0
    assert netns.links() == {"lo"}, "delete took the veth, the bridge and the table"


def test_overlay_writes_vanish_and_a_named_volume_survives_a_restart(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised],
        rootfs: Path) -> None:
    script = ("if [ -e /marker ]; then echo overlay=kept; else echo overlay=fresh; fi; "
              "touch /marker; n=$(cat /data/n 2>/dev/null || echo 0); echo volume=$n; "
              "echo $((n + 1)) > /data/n; exit 1")
    writable = {"root": {"path": str(rootfs), "readonly": False}}
    plain, kept = fire.unique_id("ovl"), fire.unique_id("keep")
    volume = "vol" + plain.replace("-", "")
    config = toml({
        plain: {"bundle": str(bundles("ovl", script, **writable)), "restart": "on-failure",
                "max_restarts": 1, "rootfs": {"overlay": True},
                "volumes": [f"{volume}:/data"]},
        kept: {"bundle": str(bundles("keep", script, **writable)), "restart": "on-failure",
               "max_restarts": 1, "rootfs": {"overlay": True, "keep": True},
               "volumes": [f"{volume}k:/data"]},
    })
    sup = supervise(config)
    for cid in (plain, kept):
        assert sup.wait_state(cid, "failed").restarts == 1

    def output(cid: str) -> list[str]:
        return [e.text for e in sup.of(cid, ev.Log) if e.stream == "output"]

    assert output(plain) == ["overlay=fresh", "volume=0", "overlay=fresh", "volume=1"], (
        "the first run's write to the rootfs is gone; the volume's is not")
    assert output(kept) == ["overlay=fresh", "volume=0", "overlay=kept", "volume=1"]
    assert not (rootfs / "marker").exists(), "the bundle's rootfs is the untouched lower layer"
    assert (fire.root / "@volumes" / volume / "n").read_text() == "2\n"
    assert sup.terminate() == 0


def test_sighup_with_a_changed_network_setting_restarts_that_container(
        fire: Fire, netns: Netns, bundles: Bundles, supervise: Callable[..., Supervised],
        tmp_path: Path) -> None:
    changed, same = fire.unique_id("changed"), fire.unique_id("same")
    bridge = unique_bridge()
    tables = {changed: {"bundle": str(bundles("changed", SERVE)), "network": "none",
                        "stop_timeout": 5},
              same: {"bundle": str(bundles("same", SERVE)), "stop_timeout": 5}}
    sup = supervise(toml(tables), prefix=netns.prefix())
    before = {cid: sup.wait_state(cid, "running").pid for cid in (changed, same)}
    assert fire.state(changed)["annotations"]["run.fire.network"] == "none"

    mark = sup.index()
    tables[changed].update(network="bridge", bridge=bridge, subnet="10.213.72.0/24")
    (tmp_path / "fire.toml").write_text(toml(tables))
    sup.signal(signal.SIGHUP)
    after = sup.wait_state(changed, "running", after=mark)
    assert after.pid != before[changed]
    state = fire.state(changed)
    assert state["annotations"]["run.fire.network"] == "bridge"
    assert state["annotations"]["run.fire.address"] == "10.213.72.2"
    assert netns.links() >= {bridge}
    assert [e.id for e in sup.events[mark:] if isinstance(e, ev.State)].count(same) == 0, (
        "the unchanged container is not touched")
    assert fire.state(same)["pid"] == before[same]
    assert sup.terminate() == 0
