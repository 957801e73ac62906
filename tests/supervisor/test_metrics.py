"""/metrics over loopback: Prometheus text whose numbers are the cgroup files'."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fire import events as ev
from tests.supervisor.conftest import SERVE, Bundles, Supervised, toml, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def read_number(path: str) -> int:
    with open(path) as f:
        return int(f.read().split()[0])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_match_the_cgroup_files(fire: Fire, bundles: Bundles,
                                        supervise: Callable[..., Supervised]) -> None:
    busy, crash = fire.unique_id("busy"), fire.unique_id("crash")
    # Two processes (sh and sleep), a few MiB, and some CPU spent before settling.
    script = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; " + SERVE
    sup = supervise(toml({busy: {"bundle": str(bundles("busy", script))},
                          crash: {"bundle": str(bundles("crash", "exit 3")),
                                  "restart": "on-failure", "max_restarts": 1}}),
                    "--metrics", "127.0.0.1:0")
    sup.wait_for(lambda e: isinstance(e, ev.Log) and e.id == busy and e.text == "up")
    sup.wait_state(crash, "failed")
    assert wait_until(lambda: "metrics on http://127.0.0.1:" in sup.stderr())
    match = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", sup.stderr())
    assert match is not None
    port = int(match.group(1))

    samples = scrape(port)
    cg = f"/{busy}"
    cpu = read_number(f"/sys/fs/cgroup/cpuacct{cg}/cpuacct.usage") / 1e9
    memory = read_number(f"/sys/fs/cgroup/memory{cg}/memory.usage_in_bytes")
    pids = read_number(f"/sys/fs/cgroup/pids{cg}/pids.current")

    def value(name: str, **labels: str) -> float:
        return samples[name, tuple(sorted(labels.items()))]

    assert value("fire_container_pids", id=busy) == pids == 2
    assert value("fire_container_cpu_seconds_total", id=busy) == pytest.approx(cpu, abs=0.05)
    assert value("fire_container_cpu_seconds_total", id=busy) > 0
    assert value("fire_container_memory_bytes", id=busy) == pytest.approx(memory, rel=0.1)
    assert value("fire_container_state", id=busy, state="running") == 1
    assert value("fire_container_state", id=busy, state="failed") == 0
    assert value("fire_container_state", id=crash, state="failed") == 1
    assert value("fire_container_restarts_total", id=crash) == 1
    assert value("fire_container_healthy", id=busy) == -1, "no health check: unknown"
    assert ("fire_container_pids", (("id", crash),)) not in samples, "no cgroup: no number"
    assert value("fire_supervisor_containers") == 2

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/nope", timeout=10)
    assert info.value.code == 404
    info.value.close()
    assert sup.terminate() == 0
