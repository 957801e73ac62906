"""Process attributes as the plan carries them: names become numbers, and what the
kernel would refuse is refused at create with the field's JSON path (no root)."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from fire.container.plan import process_plan
from fire.errors import ConfigError
from fire.security import attributes
from fire.spec.config import Spec
from fire.spec.default import default_spec
from fire.spec.validate import validate


def spec(mutate: dict[str, Any] | None = None, linux: dict[str, Any] | None = None) -> Spec:
    cfg: dict[str, Any] = copy.deepcopy(default_spec(args=["true"], terminal=False))
    cfg["process"].update(mutate or {})
    cfg["linux"].update(linux or {})
    return msgspec.convert(cfg, Spec)


def plan_of(s: Spec, exec_process: bool = False) -> dict[str, Any]:
    plan = process_plan(s, [], 0, 0, exec_process=exec_process)
    assert plan is not None
    return dict(plan)


def refused(s: Spec, exec_process: bool = False) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        plan_of(s, exec_process)
    return info.value


def test_unset_attributes_are_left_alone() -> None:
    p = plan_of(spec())
    assert p["oom_score_adj"] is None
    assert p["scheduler"] is None
    assert p["io_priority"] is None
    assert p["memory_policy"] is None
    assert p["personality"] is None
    assert p["umask"] is None
    assert p["cpu_affinity"] == (None, None)


def test_duplicate_rlimit_type_is_an_error() -> None:
    s = spec({"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10},
                          {"type": "RLIMIT_NPROC", "soft": 10, "hard": 10},
                          {"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20}]})
    with pytest.raises(ConfigError) as info:
        validate(s)
    assert info.value.where == "$.process.rlimits[2].type"
    assert "listed twice" in str(info.value)


def test_scheduler_numbers() -> None:
    p = plan_of(spec({"scheduler": {"policy": "SCHED_BATCH", "nice": 5,
                                    "flags": ["SCHED_FLAG_RESET_ON_FORK"]}}))
    assert p["scheduler"] == (3, 0x01, 5, 0, 0, 0, 0)
    p = plan_of(spec({"scheduler": {"policy": "SCHED_DEADLINE", "runtime": 10**6,
                                    "deadline": 10**7, "period": 10**7}}))
    assert p["scheduler"] == (6, 0, 0, 0, 10**6, 10**7, 10**7)


@pytest.mark.parametrize(("sched", "where", "words"), [
    ({"policy": "SCHED_ISO"}, "$.process.scheduler.policy", "not implemented"),
    ({"policy": "SCHED_OTHER", "nice": 20}, "$.process.scheduler.nice", "-20 and 19"),
    ({"policy": "SCHED_OTHER", "priority": 5}, "$.process.scheduler.priority", "SCHED_FIFO"),
    ({"policy": "SCHED_FIFO"}, "$.process.scheduler.priority", "between 1 and 99"),
    ({"policy": "SCHED_BATCH", "runtime": 5}, "$.process.scheduler", "SCHED_DEADLINE only"),
    ({"policy": "SCHED_DEADLINE", "runtime": 5}, "$.process.scheduler", "a deadline"),
    ({"policy": "SCHED_DEADLINE", "runtime": 9, "deadline": 5}, "$.process.scheduler",
     "runtime <= deadline"),
    ({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_WARP"]}, "$.process.scheduler.flags[0]",
     "SCHED_FLAG_WARP"),
])
def test_scheduler_errors(sched: dict[str, Any], where: str, words: str) -> None:
    err = refused(spec({"scheduler": sched}))
    assert err.where == where
    assert words in str(err)


@pytest.mark.parametrize(("cls", "level", "value"), [
    ("IOPRIO_CLASS_RT", 0, 1 << 13), ("IOPRIO_CLASS_BE", 7, 2 << 13 | 7),
    ("IOPRIO_CLASS_IDLE", 4, 3 << 13 | 4)])
def test_io_priority(cls: str, level: int, value: int) -> None:
    assert plan_of(spec({"ioPriority": {"class": cls, "priority": level}}))["io_priority"] == value


def test_memory_policy() -> None:
    p = plan_of(spec(linux={"memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "0-2,5",
                                              "flags": ["MPOL_F_STATIC_NODES"]}}))
    assert p["memory_policy"] == (3 | 1 << 15, [0, 1, 2, 5])
    assert plan_of(spec(linux={"memoryPolicy": {"mode": "MPOL_LOCAL"}}))["memory_policy"] == \
        (4, [])
    assert plan_of(spec(linux={"memoryPolicy": {"mode": "MPOL_PREFERRED"}}))["memory_policy"] \
        == (1, [])


@pytest.mark.parametrize(("policy", "where", "words"), [
    ({"mode": "MPOL_BIND"}, "$.linux.memoryPolicy.nodes", "at least one node"),
    ({"mode": "MPOL_DEFAULT", "nodes": "0"}, "$.linux.memoryPolicy.nodes", "takes no nodes"),
    ({"mode": "MPOL_BIND", "nodes": "0-x"}, "$.linux.memoryPolicy.nodes", "a list like"),
    ({"mode": "MPOL_BIND", "nodes": "3-1"}, "$.linux.memoryPolicy.nodes", "range"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES",
                                                  "MPOL_F_RELATIVE_NODES"]},
     "$.linux.memoryPolicy.flags", "exclude each other"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]},
     "$.linux.memoryPolicy.flags", "MPOL_BIND"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_SOMETHING"]},
     "$.linux.memoryPolicy.flags[0]", "MPOL_F_SOMETHING"),
])
def test_memory_policy_errors(policy: dict[str, Any], where: str, words: str) -> None:
    err = refused(spec(linux={"memoryPolicy": policy}))
    assert err.where == where
    assert words in str(err)


def test_personality() -> None:
    assert plan_of(spec(linux={"personality": {"domain": "LINUX32"}}))["personality"] == 0x8
    assert plan_of(spec(linux={"personality": {"domain": "LINUX"}}))["personality"] == 0
    err = refused(spec(linux={"personality": {"domain": "LINUX",
                                              "flags": ["ADDR_NO_RANDOMIZE"]}}))
    assert err.where == "$.linux.personality.flags"


def test_exec_cpu_affinity_is_for_exec_only() -> None:
    s = spec({"execCPUAffinity": {"initial": "0", "final": "0-1,3"}})
    assert plan_of(s)["cpu_affinity"] == (None, None)  # runtime-spec: not the init's
    assert plan_of(s, exec_process=True)["cpu_affinity"] == ([0], [0, 1, 3])
    err = refused(spec({"execCPUAffinity": {"final": "one"}}), exec_process=True)
    assert err.where == "$.process.execCPUAffinity.final"


def test_id_lists() -> None:
    assert attributes.id_list("0-3,7", "$") == [0, 1, 2, 3, 7]
    assert attributes.id_list(" 2 , 1,1 ", "$") == [1, 2]
    assert attributes.id_list("", "$") == []
    with pytest.raises(ConfigError):
        attributes.id_list("1-", "$")
    with pytest.raises(ConfigError):
        attributes.id_list("99999", "$")


def test_oom_score_adj_and_umask_pass_through() -> None:
    p = plan_of(spec({"oomScoreAdj": -300, "user": {"uid": 1, "gid": 1, "umask": 0o27}}))
    assert p["oom_score_adj"] == -300
    assert p["umask"] == 0o27
