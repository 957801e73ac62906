"""Helpers shared by the real-kernel cgroup tests (v1 on the host, v2 in the VM)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import TYPE_CHECKING, Any

from fire.cgroup.manager import Manager

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire


def cgdir(cid: str, controller: str) -> str:
    """The host directory of the container's cgroup for ``controller`` (default path)."""
    d = Manager("/" + cid).dir_for(controller)
    assert d is not None, f"no {controller} controller on this host"
    return d


def read(cid: str, controller: str, name: str) -> str:
    with open(os.path.join(cgdir(cid, controller), name)) as f:
        return f.read().strip()


def keyed(cid: str, controller: str, name: str) -> dict[str, int]:
    out = {}
    for line in read(cid, controller, name).splitlines():
        key, _, value = line.partition(" ")
        out[key] = int(value)
    return out


def resources(bundle: Bundle) -> dict[str, Any]:
    return bundle.config["linux"].setdefault("resources", {})  # type: ignore[no-any-return]


def add_caps(bundle: Bundle, *caps: str) -> None:
    sets = bundle.process["capabilities"]
    for name in ("bounding", "effective", "permitted"):
        sets[name] = sorted(set(sets.get(name, [])) | set(caps))


def bind_out(bundle: Bundle, host: Path) -> None:
    """``host`` appears as /out in the container (its results, for create/start tests)."""
    host.mkdir(exist_ok=True)
    bundle.config["mounts"].append({"destination": "/out", "type": "bind",
                                    "source": str(host), "options": ["rbind", "rw"]})


def wait_for(check: Any, timeout: float = 20.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def start_events(fire: Fire, cid: str, controller_dir: str
                 ) -> subprocess.Popen[str]:
    """``fire events ID`` in the background, returned once it watches for OOM kills
    (it holds an eventfd on v1, ``memory.events`` open on v2)."""
    proc = fire.popen("events", "--interval", "1h", cid, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)

    def watching() -> bool:
        try:
            links = [os.readlink(f"/proc/{proc.pid}/fd/{fd}")
                     for fd in os.listdir(f"/proc/{proc.pid}/fd")]
        except OSError:
            return False
        return any(link == "anon_inode:[eventfd]" or
                   link == os.path.join(controller_dir, "memory.events") for link in links)

    if not wait_for(lambda: watching() or proc.poll() is not None, timeout=60):
        proc.kill()
        proc.communicate()
        raise AssertionError("fire events did not start watching")
    return proc


def stats(fire: Fire, cid: str) -> dict[str, Any]:
    r = fire("events", "--stats", cid)
    assert r.code == 0, r
    event = json.loads(r.out)
    assert event["type"] == "stats"
    assert event["id"] == cid
    return event["data"]  # type: ignore[no-any-return]
