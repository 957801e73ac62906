"""fire-supervise with ``cgroup_manager = "systemd"``: each container a scope in the
configured slice (default fire.slice), gone when the supervisor stops it.  Runs in
the VM booted with systemd (tests/run-v2.sh --systemd)."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.supervisor.conftest import toml, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import Fire
    from tests.supervisor.conftest import Bundles, Supervised

pytestmark = [pytest.mark.systemd, pytest.mark.root]
SLOW = 240.0


def listed(text: str) -> list[str]:
    out = subprocess.run(["systemctl", "list-units", "--all", "--no-legend", "--plain"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [line for line in out.splitlines() if text in line]


def test_supervised_containers_are_scopes_in_the_slice(
        fire: Fire, bundles: Bundles, supervise: Callable[..., Supervised]) -> None:
    a, b = fire.unique_id("sda"), fire.unique_id("sdb")
    config = toml({a: {"bundle": str(bundles("a", "sleep 1000")), "stop_timeout": 5},
                   b: {"bundle": str(bundles("b", "sleep 1000")), "stop_timeout": 5,
                       "slice": "fire-web.slice"}},
                  {"cgroup_manager": "systemd"})
    sup = supervise(config)
    sup.wait_state(a, "running", timeout=SLOW)
    sup.wait_state(b, "running", timeout=SLOW)
    pid = fire.state(a)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        assert f.read().strip() == f"0::/fire.slice/fire-{a}.scope"
    assert os.path.isdir(f"/sys/fs/cgroup/fire.slice/fire-web.slice/fire-{b}.scope")
    assert fire.state(b)["systemdUnit"] == f"fire-{b}.scope"
    assert sup.terminate(timeout=SLOW) == 0  # SIGTERM: stops and deletes both
    assert wait_until(lambda: listed(a) == [] and listed(b) == [], 60), listed(a) + listed(b)
