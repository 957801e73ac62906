"""The container process's attributes, read back from inside the container (or
from the host's /proc) on the real kernel."""

from __future__ import annotations

import os
import platform
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from fire.syscalls import proc as p
from tests.security.helpers import caps_of

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def run(fire: Fire, bundle: Bundle, *argv: str) -> Any:
    bundle.args(*argv).write()
    return fire("run", "-b", str(bundle.path), fire.unique_id())


def stat_fields(text: str) -> list[str]:
    """Fields of a /proc/PID/stat line, 1-based like proc(5) (index 0 unused)."""
    rest = text[text.rindex(")") + 2:].split()
    return ["", "pid", "comm", *rest]


def test_ambient_capabilities_for_a_non_root_user(fire: Fire, bundle: Bundle) -> None:
    caps = ["CAP_NET_BIND_SERVICE"]
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.process["capabilities"] = {k: caps for k in
                                      ("bounding", "effective", "permitted", "inheritable",
                                       "ambient")}
    r = run(fire, bundle, "cat", "/proc/self/status")
    assert r.code == 0, r
    c = caps_of(r.out)
    assert c["CapAmb"] == c["CapEff"] == c["CapPrm"] == c["CapInh"] == "0000000000000400"


def test_capabilities_that_cannot_be_granted_are_warnings(fire: Fire, bundle: Bundle) -> None:
    with open("/proc/self/status") as f:
        own_bounding = int(caps_of(f.read())["CapBnd"], 16)
    bundle.process["capabilities"] = {
        "bounding": ["CAP_KILL", "CAP_SYS_RESOURCE", "CAP_FLY"],
        "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
        "ambient": ["CAP_KILL"],  # not inheritable: the kernel refuses it
    }
    r = run(fire, bundle, "cat", "/proc/self/status")
    assert r.code == 0, r
    assert "unknown capability CAP_FLY" in r.err
    assert "CAP_KILL is not in both the inheritable and permitted sets" in r.err
    c = caps_of(r.out)
    if own_bounding & (1 << 24):
        assert c["CapBnd"] == f"{1 << 5 | 1 << 24:016x}"
    else:  # this VM: the runtime itself lacks CAP_SYS_RESOURCE
        assert "CAP_SYS_RESOURCE is not in the runtime's own bounding set" in r.err
        assert c["CapBnd"] == f"{1 << 5:016x}"
    assert c["CapAmb"] == "0000000000000000"


def test_oom_score_adj_set_and_unset(fire: Fire, bundle: Bundle) -> None:
    with open("/proc/self/oom_score_adj") as f:
        ours = f.read().strip()
    r = run(fire, bundle, "cat", "/proc/self/oom_score_adj")
    assert r.out.strip() == ours, "unset: left as the runtime's"
    bundle.process["oomScoreAdj"] = 743
    assert run(fire, bundle, "cat", "/proc/self/oom_score_adj").out == "743\n"


def test_lowering_oom_score_adj_without_cap_sys_resource(fire: Fire, bundle: Bundle) -> None:
    with open("/proc/self/status") as f:
        if int(caps_of(f.read())["CapEff"], 16) & (1 << 24):
            pytest.skip("this runtime has CAP_SYS_RESOURCE: lowering works")
    with open("/proc/self/oom_score_adj") as f:
        ours = int(f.read())
    bundle.process["oomScoreAdj"] = max(-1000, ours - 100)
    r = run(fire, bundle, "true")
    assert r.code == 1
    assert "oomScoreAdj: cannot set oom_score_adj" in r.err
    assert "needs CAP_SYS_RESOURCE" in r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize(("sched", "policy", "nice"), [
    ({"policy": "SCHED_BATCH", "nice": 5}, "3", "5"),
    ({"policy": "SCHED_IDLE"}, "5", "0"),
    ({"policy": "SCHED_OTHER", "nice": -3}, "0", "-3"),
])
def test_scheduler(fire: Fire, bundle: Bundle, sched: dict[str, Any], policy: str,
                   nice: str) -> None:
    bundle.process["scheduler"] = sched
    r = run(fire, bundle, "cat", "/proc/self/stat")
    assert r.code == 0, r
    fields = stat_fields(r.out)
    assert (fields[41], fields[19]) == (policy, nice)


@pytest.fixture
def rt_cgroup() -> Iterator[str]:
    """A cpu cgroup with a real-time budget (cgroup v1 with RT group scheduling gives
    new groups none), as linux.cgroupsPath."""
    base = "/sys/fs/cgroup/cpu"
    if not os.path.exists(os.path.join(base, "cpu.rt_runtime_us")):
        yield ""
        return
    name = f"fire-rt-{uuid.uuid4().hex[:8]}"
    path = os.path.join(base, name)
    os.mkdir(path)
    with open(os.path.join(path, "cpu.rt_runtime_us"), "w") as f:
        f.write("10000")
    try:
        yield "/" + name
    finally:
        os.rmdir(path)


def test_scheduler_fifo(fire: Fire, bundle: Bundle, rt_cgroup: str) -> None:
    bundle.process["scheduler"] = {"policy": "SCHED_FIFO", "priority": 10}
    if rt_cgroup:
        bundle.config["linux"]["cgroupsPath"] = rt_cgroup
    r = run(fire, bundle, "cat", "/proc/self/stat")
    assert r.code == 0, r
    fields = stat_fields(r.out)
    assert (fields[41], fields[40]) == ("1", "10")


def test_scheduler_fifo_without_a_budget_is_a_clear_error(fire: Fire, bundle: Bundle) -> None:
    if not os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us"):
        pytest.skip("no real-time group scheduling here")
    bundle.process["scheduler"] = {"policy": "SCHED_RR", "priority": 10}
    r = run(fire, bundle, "true")
    assert r.code == 1
    assert "scheduler: sched_setattr: Operation not permitted" in r.err
    assert "realtimeRuntime" in r.err


def test_scheduler_deadline(fire: Fire, bundle: Bundle) -> None:
    bundle.process["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 2_000_000,
                                   "deadline": 20_000_000, "period": 30_000_000}
    bundle.args("sleep", "100").write()  # no fork: a deadline task may not
    cid = fire.unique_id()
    r = fire("run", "-d", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    attr = p.sched_getattr(fire.state(cid)["pid"])
    assert (attr.sched_policy, attr.sched_runtime, attr.sched_deadline, attr.sched_period) \
        == (6, 2_000_000, 20_000_000, 30_000_000)
    assert fire("delete", "--force", cid).code == 0


@pytest.mark.parametrize(("cls", "level", "value"), [
    ("IOPRIO_CLASS_IDLE", 0, 3 << 13), ("IOPRIO_CLASS_BE", 6, 2 << 13 | 6),
    ("IOPRIO_CLASS_RT", 2, 1 << 13 | 2)])
def test_io_priority(fire: Fire, bundle: Bundle, cls: str, level: int, value: int) -> None:
    bundle.process["ioPriority"] = {"class": cls, "priority": level}
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    pid = fire.state(cid)["pid"]
    assert p.ioprio_get(pid) == value
    assert fire("delete", "--force", cid).code == 0


def numa_node0() -> bool:
    return os.path.isdir("/sys/devices/system/node/node0")


@pytest.mark.skipif(not numa_node0(), reason="no NUMA node 0 (kernel without CONFIG_NUMA)")
@pytest.mark.parametrize(("policy", "shown"), [
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]},
     "prefer=static:0"),
])
def test_memory_policy(fire: Fire, bundle: Bundle, policy: dict[str, Any], shown: str) -> None:
    bundle.config["linux"]["memoryPolicy"] = policy
    r = run(fire, bundle, "cat", "/proc/self/numa_maps")
    assert r.code == 0, r
    assert f" {shown} " in r.out, r.out[:300]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="LINUX32 shows i686 on x86_64")
def test_personality_linux32(fire: Fire, bundle: Bundle) -> None:
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    assert run(fire, bundle, "uname", "-m").out == "i686\n"


def test_umask(fire: Fire, bundle: Bundle) -> None:
    assert run(fire, bundle, "sh", "-c", "umask").out == "0022\n"
    bundle.process["user"] = {"uid": 0, "gid": 0, "umask": 0o077}
    assert run(fire, bundle, "sh", "-c", "umask").out == "0077\n"


def test_rlimits(fire: Fire, bundle: Bundle) -> None:
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
                                 {"type": "RLIMIT_CORE", "soft": 0, "hard": 2**64 - 1}]
    r = run(fire, bundle, "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c; ulimit -Hc")
    assert r.out.split() == ["123", "456", "0", "unlimited"], r


def test_an_rlimit_the_kernel_refuses_fails_create_naming_it(fire: Fire, bundle: Bundle) -> None:
    """runc sets rlimits before it reports ready: ``create`` fails, not ``start``
    (Docker's ``--ulimit nofile=N:N`` above what root may set).  A nofile above
    fs.nr_open is refused even with CAP_SYS_RESOURCE."""
    with open("/proc/sys/fs/nr_open") as f:
        too_many = int(f.read()) + 1
    bundle.process["rlimits"] = [{"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                                 {"type": "RLIMIT_NOFILE", "soft": too_many, "hard": too_many}]
    bundle.args("true").write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code != 0, r
    if fire.name == "fire":
        assert r.code == 1
        assert r.err.startswith("fire: $.process.rlimits[1]: cannot set RLIMIT_NOFILE to "
                                f"{too_many}:{too_many}: "), r.err
        assert len(r.err.splitlines()) == 1
    assert fire("state", cid).code != 0, "nothing is left of the container"


def test_duplicate_rlimit_fails_create(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                                 {"type": "RLIMIT_NOFILE", "soft": 2, "hard": 2}]
    r = run(fire, bundle, "true")
    assert r.code == 1
    assert "$.process.rlimits[1].type: RLIMIT_NOFILE is listed twice" in r.err
