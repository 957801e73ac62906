"""Many bridged containers created and deleted at once: the IPAM and the network
lock under contention."""

from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING

import pytest

from tests.network.conftest import Netns, unique_bridge

if TYPE_CHECKING:
    import subprocess

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.usefixtures("no_leaks")]

COUNT = 50


def all_at_once(fire: Fire, commands: list[list[str]], timeout: float = 240) -> list[int]:
    """Start every command, then wait for all; their exit codes."""
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryFile("w+") as err:
        for argv in commands:
            procs.append(fire.popen(*argv, stdout=err, stderr=err))
        codes = [p.wait(timeout=timeout) for p in procs]
        err.seek(0)
        text = err.read()
    assert all(c == 0 for c in codes), text
    return codes


def test_fifty_containers_in_parallel(fire: Fire, bundle: Bundle, netns: Netns) -> None:
    bridge = unique_bridge()
    bundle.config["annotations"] = {"run.fire.network": "bridge", "run.fire.bridge": bridge,
                                    "run.fire.subnet": "10.213.64.0/26"}
    bundle.args("sleep", "100").write()
    ids = [fire.unique_id(f"p{i}") for i in range(COUNT)]
    all_at_once(fire, [["create", "-b", str(bundle.path), cid] for cid in ids])

    records = []
    for cid in ids:
        with open(os.path.join(fire.root, cid, "state.json")) as f:
            records.append(json.load(f)["extra"]["net"])
    addresses = [r["address"] for r in records]
    assert len(set(addresses)) == COUNT, "two containers got one address"
    assert all(a.startswith("10.213.64.") and 2 <= int(a.rsplit(".", 1)[1]) <= 62
               for a in addresses)
    leases = os.listdir(os.path.join(fire.root, "@ipam", bridge))
    assert sorted(leases) == sorted(addresses)
    links = netns.links()
    assert {r["veth"] for r in records} <= links
    assert len(links) == COUNT + 2  # the veths, the bridge, lo

    all_at_once(fire, [["delete", "--force", cid] for cid in ids])
    # The netns fixture checks the rest: no veth, no bridge, no table, no lease,
    # ip_forward restored.
    assert netns.links() == {"lo"}
    assert not os.path.exists(os.path.join(fire.root, "@ipam", bridge))
