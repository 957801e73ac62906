"""A private network namespace per test, so that bridges, nftables tables and
``net.ipv4.ip_forward`` (all per namespace) never touch the machine's own network
or other work on it; traffic stays on loopback and on the test's own bridge.

``netns`` runs every ``fire`` command of the test inside the namespace (through
``nsenter``) and, after the test and a ``delete --force`` of what it left,
checks that Fire left nothing in it: no link but the ones the test made, no
nftables table, ``ip_forward`` back to 0.  ``ip`` and ``nft`` are used here to
look, never by Fire.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Fire


def unique_bridge() -> str:
    return "fxt" + uuid.uuid4().hex[:8]


class Netns:
    """A network namespace held by a sleeping ``unshare --net`` process."""

    def __init__(self) -> None:
        own = os.stat("/proc/self/ns/net").st_ino
        self.proc = subprocess.Popen(["unshare", "--net", "sleep", "3600"])
        self.path = f"/proc/{self.proc.pid}/ns/net"
        deadline = time.monotonic() + 10
        while os.stat(self.path).st_ino == own:
            if time.monotonic() > deadline:
                raise AssertionError("unshare --net did not make a namespace")
            time.sleep(0.01)
        self.expected_links = {"lo"}
        self.run("ip", "link", "set", "lo", "up")
        # A new namespace inherits the host's IPv4 forwarding (devconf_inherit_init_net
        # 0): start from "off" whatever the host (or an engine test before) set, so
        # that the check at the end sees what Fire restored, not the host's value.
        self.run("sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")

    def prefix(self) -> list[str]:
        return ["nsenter", f"--net={self.path}"]

    def run(self, *argv: str, check: bool = True, timeout: float = 30
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix(), *argv], capture_output=True, text=True,
                              check=check, timeout=timeout)

    def links(self) -> set[str]:
        out = self.run("ip", "-o", "link", "show").stdout
        return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}

    def tables(self) -> list[str]:
        return [line for line in self.run("nft", "list", "tables").stdout.splitlines()
                if "fire" in line]

    def sysctl(self, path: str) -> str:
        return self.run("cat", f"/proc/sys/{path}").stdout.strip()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def netns(fire: Fire) -> Iterator[Netns]:
    ns = Netns()
    fire.argv = [*ns.prefix(), *fire.argv]
    try:
        yield ns
        fire.cleanup()
        assert ns.links() == ns.expected_links, "Fire left links behind"
        assert ns.tables() == [], "Fire left an nftables table behind"
        assert ns.sysctl("net/ipv4/ip_forward") == "0", "ip_forward was not restored"
        leases = os.path.join(fire.root, "@ipam")
        assert not os.path.exists(leases) or not any(
            files for _, _, files in os.walk(leases)), "Fire left address leases behind"
    finally:
        ns.close()
