"""The pure translation of linux.resources into cgroup files (no root, no kernel)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from fire.cgroup.hierarchy import Hierarchy
from fire.cgroup.translate import V1, V2, drop_unset, given_fields, locate, translate
from fire.errors import CgroupError, ConfigError
from fire.spec.config import Resources

# This CI machine: v1 controllers + a cgroup2 tree holding only hugetlb.
HYBRID = {"cpu": V1, "cpuacct": V1, "cpuset": V1, "memory": V1, "devices": V1, "freezer": V1,
          "blkio": V1, "pids": V1, "hugetlb": V2, "": V2}
PURE_V1 = {c: V1 for c in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio",
                           "pids", "hugetlb", "net_cls", "net_prio", "rdma")}
PURE_V2 = {c: V2 for c in ("cpu", "cpuset", "memory", "blkio", "pids", "hugetlb", "rdma",
                           "misc", "devices", "")}


def res(doc: dict[str, Any]) -> Resources:
    return msgspec.convert(doc, type=Resources)


def files(doc: dict[str, Any], where: dict[str, str]) -> dict[str, str]:
    return translate(res(doc), where).files()


# --------------------------------------------------------------------------- locate


def test_locate_uses_each_controller_where_it_lives() -> None:
    hs = [Hierarchy("/sys/fs/cgroup/memory", "cgroup", "/", "rw,memory"),
          Hierarchy("/sys/fs/cgroup/cpu", "cgroup", "/", "rw,cpu"),
          Hierarchy("/sys/fs/cgroup/unified", "cgroup2", "/", "rw")]
    hs[2].controllers = ["hugetlb"]
    where = locate(hs)
    assert where["memory"] == V1
    assert where["cpu"] == V1
    assert where["hugetlb"] == V2
    assert "pids" not in where
    assert where["devices"] == V2  # no v1 devices: the eBPF filter on the v2 tree


def test_locate_pure_v2_names_io_blkio() -> None:
    h = Hierarchy("/sys/fs/cgroup", "cgroup2", "/", "rw,nsdelegate")
    h.controllers = ["cpuset", "cpu", "io", "memory", "pids"]
    where = locate([h])
    assert where["blkio"] == V2
    assert where["devices"] == V2


# --------------------------------------------------------------------------- memory


def test_memory_v1() -> None:
    out = files({"memory": {"limit": 32 << 20, "swap": 64 << 20, "reservation": 16 << 20,
                            "swappiness": 10, "disableOOMKiller": True, "kernelTCP": 1 << 20}},
                PURE_V1)
    assert out == {"memory.limit_in_bytes": str(32 << 20),
                   "memory.memsw.limit_in_bytes": str(64 << 20),
                   "memory.soft_limit_in_bytes": str(16 << 20),
                   "memory.kmem.tcp.limit_in_bytes": str(1 << 20),
                   "memory.swappiness": "10",
                   "memory.oom_control": "1"}


def test_memory_v2_swap_is_swap_minus_limit() -> None:
    out = files({"memory": {"limit": 32 << 20, "swap": 96 << 20, "reservation": 8 << 20}},
                PURE_V2)
    assert out == {"memory.max": str(32 << 20), "memory.swap.max": str(64 << 20),
                   "memory.low": str(8 << 20)}


def test_memory_unlimited() -> None:
    assert files({"memory": {"limit": -1}}, PURE_V1) == {
        "memory.limit_in_bytes": "-1", "memory.memsw.limit_in_bytes": "-1"}
    assert files({"memory": {"limit": -1}}, PURE_V2) == {
        "memory.max": "max", "memory.swap.max": "max"}
    assert files({"memory": {"limit": 1 << 30, "swap": -1}}, PURE_V2) == {
        "memory.max": str(1 << 30), "memory.swap.max": "max"}


def test_memory_zero_means_unset_like_runc() -> None:
    assert files({"memory": {"limit": 0, "swap": 0, "reservation": 0}}, PURE_V1) == {}


@pytest.mark.parametrize(("memory", "path"), [
    ({"limit": 64 << 20, "swap": 32 << 20}, "$.linux.resources.memory.swap"),
    ({"swap": 32 << 20}, "$.linux.resources.memory.swap"),
    ({"limit": -1, "swap": 1 << 20}, "$.linux.resources.memory.swap"),
])
def test_memory_bad_swap_is_refused_with_its_path(memory: dict[str, int], path: str) -> None:
    with pytest.raises(ConfigError) as err:
        translate(res({"memory": memory}), PURE_V1)
    assert err.value.where == path


def test_negative_memory_other_than_minus_one_is_refused_by_the_model() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"memory.limit"):
        res({"memory": {"limit": -2}})


def test_kernel_memory_is_a_warning_everywhere() -> None:
    for where in (PURE_V1, PURE_V2):
        t = translate(res({"memory": {"kernel": 1 << 20}}), where)
        assert t.writes == []
        assert any("memory.kernel" in w for w in t.warnings)
    t = translate(res({"memory": {"kernelTCP": 1 << 20, "swappiness": 5}}), PURE_V2)
    assert t.files() == {}
    assert len(t.warnings) == 2


def test_disable_oom_killer_on_v2_is_an_error_but_false_is_fine() -> None:
    with pytest.raises(CgroupError, match=r"memory.disableOOMKiller"):
        translate(res({"memory": {"disableOOMKiller": True}}), PURE_V2)
    assert translate(res({"memory": {"disableOOMKiller": False}}), PURE_V2).files() == {}


def test_use_hierarchy() -> None:
    assert files({"memory": {"useHierarchy": True}}, PURE_V1) == {"memory.use_hierarchy": "1"}
    t = translate(res({"memory": {"useHierarchy": False}}), PURE_V1)
    assert t.files() == {}
    assert any("useHierarchy" in w for w in t.warnings)


def test_check_before_update_marks_the_limit_write() -> None:
    t = translate(res({"memory": {"limit": 1 << 20, "checkBeforeUpdate": True}}), PURE_V2)
    assert [w.check_usage for w in t.writes] == [True]


# --------------------------------------------------------------------------- cpu


def test_cpu_v1() -> None:
    out = files({"cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000,
                         "realtimeRuntime": 1000, "realtimePeriod": 10000, "cpus": "0-1",
                         "mems": "0", "idle": 1}}, PURE_V1)
    assert out == {"cpu.shares": "512", "cpu.cfs_period_us": "100000",
                   "cpu.cfs_quota_us": "50000", "cpu.cfs_burst_us": "1000",
                   "cpu.rt_period_us": "10000", "cpu.rt_runtime_us": "1000", "cpu.idle": "1",
                   "cpuset.cpus": "0-1", "cpuset.mems": "0"}


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (1024, 39), (262144, 10000),
                                                (1, 1), (500000, 10000)])
def test_cpu_shares_to_weight_is_crun_s_formula(shares: int, weight: int) -> None:
    assert files({"cpu": {"shares": shares}}, PURE_V2) == {"cpu.weight": str(weight)}


def test_cpu_max_holds_quota_and_period() -> None:
    assert files({"cpu": {"quota": 20000, "period": 50000}}, PURE_V2) == {
        "cpu.max": "20000 50000"}
    assert files({"cpu": {"quota": 20000}}, PURE_V2) == {"cpu.max": "20000 100000"}
    assert files({"cpu": {"quota": -1}}, PURE_V2) == {"cpu.max": "max 100000"}
    assert files({"cpu": {"period": 50000}}, PURE_V2) == {"cpu.max": "max 50000"}
    assert files({"cpu": {"burst": 5000, "idle": 0}}, PURE_V2) == {
        "cpu.max.burst": "5000", "cpu.idle": "0"}


def test_realtime_cpu_on_v2_is_an_error_naming_the_field() -> None:
    with pytest.raises(CgroupError, match=r"\$\.linux\.resources\.cpu\.realtimeRuntime"):
        translate(res({"cpu": {"realtimeRuntime": 1000}}), PURE_V2)


@pytest.mark.parametrize(("cpu", "field"), [
    ({"period": 10}, "cpu.period"), ({"period": 2_000_000}, "cpu.period"),
    ({"quota": -5}, "cpu.quota"), ({"quota": 10}, "cpu.quota"),
    ({"idle": 3}, "cpu.idle"), ({"cpus": "0-a"}, "cpu.cpus"), ({"mems": "x"}, "cpu.mems"),
    ({"realtimeRuntime": -2}, "cpu.realtimeRuntime"),
])
def test_bad_cpu_values_are_refused_with_their_path(cpu: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        translate(res({"cpu": cpu}), PURE_V1)
    assert err.value.where == "$.linux.resources." + field


def test_cpu_period_zero_is_refused_by_the_model() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"cpu.period"):
        res({"cpu": {"period": 0}})


# --------------------------------------------------------------------------- pids


@pytest.mark.parametrize(("limit", "value"), [(-1, "max"), (0, "0"), (10, "10")])
def test_pids(limit: int, value: str) -> None:
    assert files({"pids": {"limit": limit}}, PURE_V1) == {"pids.max": value}
    assert files({"pids": {"limit": limit}}, PURE_V2) == {"pids.max": value}


# --------------------------------------------------------------------------- block io


BLKIO = {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 100}],
         "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
         "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
         "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}],
         "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 0}]}


def test_blkio_v1() -> None:
    t = translate(res({"blockIO": BLKIO}), PURE_V1)
    choices = [w.choices for w in t.writes]
    assert choices == [
        [("blkio.weight", "500"), ("blkio.bfq.weight", "500")],
        [("blkio.weight_device", "8:0 100"), ("blkio.bfq.weight_device", "8:0 100")],
        [("blkio.throttle.read_bps_device", "8:0 1048576")],
        [("blkio.throttle.write_bps_device", "8:0 2097152")],
        [("blkio.throttle.read_iops_device", "8:16 100")],
        [("blkio.throttle.write_iops_device", "8:0 0")],
    ]


def test_blkio_v2_bfq_first_then_io_weight_converted() -> None:
    t = translate(res({"blockIO": BLKIO}), PURE_V2)
    choices = [w.choices for w in t.writes]
    # 500 on [10, 1000] is 4950 on io.weight's [1, 10000] (crun's linear map)
    assert choices[0] == [("io.bfq.weight", "default 500"), ("io.weight", "default 4950")]
    assert choices[1] == [("io.bfq.weight", "8:0 100"), ("io.weight", "8:0 910")]
    assert choices[2:] == [[("io.max", "8:0 rbps=1048576 wbps=2097152 wiops=max")],
                           [("io.max", "8:16 riops=100")]]


def test_leaf_weight_on_v2_is_an_error() -> None:
    with pytest.raises(CgroupError, match=r"blockIO\.leafWeight"):
        translate(res({"blockIO": {"leafWeight": 100}}), PURE_V2)
    assert files({"blockIO": {"leafWeight": 100}}, PURE_V1) == {"blkio.leaf_weight": "100"}


def test_blkio_weight_out_of_range() -> None:
    with pytest.raises(ConfigError) as err:
        translate(res({"blockIO": {"weight": 5}}), PURE_V1)
    assert err.value.where == "$.linux.resources.blockIO.weight"


# --------------------------------------------------------------------------- the rest


def test_hugetlb_lives_on_v2_on_the_hybrid_host() -> None:
    t = translate(res({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}), HYBRID)
    assert t.files() == {"hugetlb.2MB.max": "4194304"}
    assert t.v2_controllers() == {"hugetlb"}
    assert files({"hugepageLimits": [{"pageSize": "1GB", "limit": 0}]}, PURE_V1) == {
        "hugetlb.1GB.limit_in_bytes": "0"}
    with pytest.raises(ConfigError, match=r"pageSize"):
        translate(res({"hugepageLimits": [{"pageSize": "2 MB", "limit": 1}]}), PURE_V1)


def test_network() -> None:
    doc = {"network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}}
    assert files(doc, PURE_V1) == {"net_cls.classid": "1048577",
                                   "net_prio.ifpriomap": "eth0 5"}
    with pytest.raises(CgroupError, match=r"network\.classID: cgroup v2 has no net_cls"):
        translate(res(doc), PURE_V2)
    with pytest.raises(CgroupError, match=r"network\.classID: the net_cls cgroup controller"):
        translate(res(doc), HYBRID)


def test_rdma() -> None:
    doc = {"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}}
    assert files(doc, PURE_V2) == {"rdma.max": "mlx5_1 hca_handle=3 hca_object=10000"}
    with pytest.raises(CgroupError, match=r"rdma\['mlx5_1'\]"):
        translate(res(doc), HYBRID)


def test_unified_is_written_as_given() -> None:
    doc = {"unified": {"memory.high": "1000000", "cgroup.max.depth": "3"}}
    t = translate(res(doc), PURE_V2)
    assert t.files() == {"memory.high": "1000000", "cgroup.max.depth": "3"}
    assert t.v2_controllers() == {"memory"}


@pytest.mark.parametrize("key", ["../memory.max", "a/b", "memory..max", "", ".x"])
def test_unified_keys_with_slash_or_dotdot_are_refused(key: str) -> None:
    with pytest.raises(ConfigError, match=r"unified"):
        translate(res({"unified": {key: "1"}}), PURE_V2)


def test_unified_needs_the_controller_on_v2() -> None:
    assert files({"unified": {"hugetlb.2MB.max": "0"}}, HYBRID) == {"hugetlb.2MB.max": "0"}
    with pytest.raises(CgroupError, match=r"memory controller is not on this host's cgroup v2"):
        translate(res({"unified": {"memory.high": "1"}}), HYBRID)
    with pytest.raises(CgroupError, match=r"no cgroup v2 tree"):
        translate(res({"unified": {"memory.high": "1"}}), PURE_V1)


def test_a_missing_controller_is_an_error_naming_the_field() -> None:
    where = dict(PURE_V1)
    del where["pids"]
    with pytest.raises(CgroupError, match=r"\$\.linux\.resources\.pids\.limit: the pids"):
        translate(res({"pids": {"limit": 5}}), where)


def test_devices_always_get_runc_s_defaults() -> None:
    t = translate(res({"devices": [{"allow": False, "access": "rwm"}]}), PURE_V1)
    assert t.devices is not None
    assert t.devices_version == V1
    assert not t.devices.default_allow
    assert t.devices.allows("c", 1, 3, "rw")  # /dev/null
    assert not t.devices.allows("c", 1, 11, "r")  # /dev/kmsg
    assert t.devices.allows("c", 1, 11, "m")  # mknod of anything


# --------------------------------------------------------------------------- update


def test_update_writes_only_the_fields_given_but_uses_the_merged_values() -> None:
    merged = res({"memory": {"limit": 64 << 20, "swap": 128 << 20}, "pids": {"limit": 5},
                  "cpu": {"quota": 20000, "period": 50000}})
    t = translate(merged, PURE_V2, prefix="", only=given_fields({"memory": {"limit": 1}}))
    assert t.files() == {"memory.max": str(64 << 20), "memory.swap.max": str(64 << 20)}
    assert t.devices is None
    t = translate(merged, PURE_V2, prefix="", only=given_fields({"cpu": {"period": 1}}))
    assert t.files() == {"cpu.max": "20000 50000"}


def test_update_errors_name_the_document_path() -> None:
    with pytest.raises(ConfigError) as err:
        translate(res({"cpu": {"period": 5}}), PURE_V1, prefix="", only={"cpu.period"},
                  document="stdin")
    assert str(err.value) == ("invalid stdin: $.cpu.period: expected 1000 to 1000000 "
                              "(microseconds), got 5")


def test_given_fields() -> None:
    assert given_fields({"memory": {"limit": 1, "swap": 2}, "unified": {"a.b": "1"},
                         "pids": {"limit": 3}}) == {"memory.limit", "memory.swap", "unified",
                                                    "pids.limit"}


def test_an_update_drops_the_zeroes_runc_reads_as_not_set() -> None:
    docker: dict[str, Any] = {
        "memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0, "kernelTCP": 0,
                   "swappiness": 0},
        "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0,
                "realtimePeriod": 0, "cpus": "", "mems": "", "idle": 0},
        "pids": {"limit": 0}, "blockIO": {"weight": 0}}
    # swappiness and idle 0 are real values (runc writes them); the rest are "not set".
    assert drop_unset(docker) == {"memory": {"swappiness": 0}, "cpu": {"idle": 0}}
    assert docker["cpu"]["period"] == 0, "the caller's document is not changed"
    given = {"memory": {"limit": 1 << 20, "swap": -1}, "cpu": {"quota": -1, "period": 0},
             "pids": {"limit": -1}, "unified": {"memory.high": "0"}}
    assert drop_unset(given) == {"memory": {"limit": 1 << 20, "swap": -1},
                                 "cpu": {"quota": -1}, "pids": {"limit": -1},
                                 "unified": {"memory.high": "0"}}
    # Not numbers: left for the decoder to refuse, naming the field.
    assert drop_unset({"cpu": {"period": False, "shares": "0"}}) == {
        "cpu": {"period": False, "shares": "0"}}
