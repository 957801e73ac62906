"""The systemd driver's pure parts: cgroupsPath in slice:prefix:name form, and the
unit properties a translation becomes (no root, no systemd: runc's rules)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from fire.cgroup import driver as cgroup_driver
from fire.cgroup import sdprops
from fire.cgroup.devices import Rule, emulate
from fire.cgroup.manager import Manager
from fire.cgroup.sdname import expand_slice, parse
from fire.cgroup.systemd import SystemdManager
from fire.cgroup.translate import V1, V2, translate
from fire.errors import ConfigError
from fire.spec.config import Resources

PURE_V2 = {c: V2 for c in ("cpu", "cpuset", "memory", "blkio", "pids", "hugetlb", "rdma",
                           "misc", "devices", "")}
PURE_V1 = {c: V1 for c in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio",
                           "pids", "hugetlb")}


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize(("slice", "path"), [
    ("system.slice", "/system.slice"),
    ("a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice"),
    ("kubepods-burstable-pod1234.slice",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice"),
    ("-.slice", "/"),
])
def test_expand_slice_follows_systemds_dash_rule(slice: str, path: str) -> None:
    assert expand_slice(slice) == path


@pytest.mark.parametrize("slice", [".slice", "system", "a--b.slice", "-a.slice", "a-.slice",
                                   "a/b.slice", "system.scope"])
def test_a_bad_slice_name_is_an_error_naming_the_field(slice: str) -> None:
    with pytest.raises(ConfigError) as err:
        expand_slice(slice)
    assert "$.linux.cgroupsPath: " in str(err.value)


def test_parse_gives_runcs_scope_names_and_defaults() -> None:
    u = parse("system.slice:libpod:abc", "id")
    assert (u.slice, u.unit, u.path) == ("system.slice", "libpod-abc.scope",
                                          "/system.slice/libpod-abc.scope")
    u = parse("kubepods-besteffort.slice:cri-containerd:x1", "id")
    assert u.path == "/kubepods.slice/kubepods-besteffort.slice/cri-containerd-x1.scope"
    assert parse(None, "c1").path == "/system.slice/fire-c1.scope"  # runc: runc-ID
    assert parse("", "c1").unit == "fire-c1.scope"
    assert parse(":p:", "c1").path == "/system.slice/p-c1.scope"  # empty parts: defaults
    assert parse("user.slice::n", "c1").unit == "n.scope"  # no prefix: the name alone


@pytest.mark.parametrize(("path", "words"), [
    ("/sys/fs/cgroup/x", "slice:prefix:name"),
    ("a:b", "slice:prefix:name"),
    ("a:b:c:d", "slice:prefix:name"),
    ("system:fire:x", "not a systemd slice name"),
    ("system.slice:fire:sub.slice", "must be a scope"),
    ("system.slice:fi/re:x", "cannot be part of a systemd unit name"),
    ("system.slice:fire:a b", "cannot be part of a systemd unit name"),
])
def test_malformed_systemd_paths_are_errors(path: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(path, "id")
    assert "$.linux.cgroupsPath: " in str(err.value), str(err.value)
    assert words in str(err.value)


def test_for_config_chooses_the_driver_and_state_records_it() -> None:
    assert type(cgroup_driver.for_config("/a/b", "id")) is Manager
    mgr = cgroup_driver.for_config("system.slice:fire:x", "id", systemd=True)
    assert isinstance(mgr, SystemdManager)
    assert mgr.started is False  # nothing to stop if create fails before it starts
    data = mgr.to_state()
    assert data["driver"] == "systemd"
    assert data["unit"] == "fire-x.scope"
    again = cgroup_driver.from_state(data, hierarchies=[])
    assert isinstance(again, SystemdManager)
    assert (again.path, again.unit, again.slice) == (mgr.path, "fire-x.scope", "system.slice")
    assert again.started is True  # a later command cannot know: it stops the unit
    plain = cgroup_driver.from_state(Manager("/x").to_state(), hierarchies=[])
    assert type(plain) is Manager


# --------------------------------------------------------------------------- properties

def props(doc: dict[str, Any], where: dict[str, str] = PURE_V2) -> dict[str, object]:
    t = translate(msgspec.convert(doc, type=Resources), where)
    return {name: value for name, (_sig, value) in sdprops.properties(t)}


def test_range_to_bits_is_runcs_byte_order() -> None:
    assert sdprops.range_to_bits("0") == b"\x01"
    assert sdprops.range_to_bits("0-2,5") == b"\x27"
    assert sdprops.range_to_bits("9") == b"\x00\x02"
    with pytest.raises(ValueError, match="empty"):
        sdprops.range_to_bits(" , ")


def test_v2_limits_become_properties() -> None:
    p = props({"memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20},
               "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0",
                       "mems": "0"},
               "pids": {"limit": 20}, "blockIO": {"weight": 500}})
    assert p["MemoryMax"] == 64 << 20
    assert p["MemoryLow"] == 32 << 20
    assert p["MemorySwapMax"] == 64 << 20  # v2's swap is swap alone
    assert p["CPUWeight"] == 1 + (1024 - 2) * 9999 // 262142  # as the file gets it
    assert p["CPUQuotaPerSecUSec"] == 500_000
    assert p["CPUQuotaPeriodUSec"] == 100_000
    assert p["AllowedCPUs"] == b"\x01"
    assert p["AllowedMemoryNodes"] == b"\x01"
    assert p["TasksMax"] == 20
    assert p["IOWeight"] == 1 + (500 - 10) * 9999 // 990


def test_quota_rounds_up_to_a_whole_percent_and_unlimited_is_infinity() -> None:
    assert props({"cpu": {"quota": 12345, "period": 100000}})["CPUQuotaPerSecUSec"] == 130_000
    assert props({"cpu": {"quota": -1}})["CPUQuotaPerSecUSec"] == sdprops.INFINITY
    assert props({"memory": {"limit": -1}})["MemoryMax"] == sdprops.INFINITY
    assert props({"pids": {"limit": -1}})["TasksMax"] == sdprops.INFINITY


def test_unified_entries_are_read_like_the_files() -> None:
    p = props({"unified": {"memory.high": "1048576", "pids.max": "max", "cpu.max": "max 50000",
                           "io.max": "8:0 rbps=1"}})
    assert p["MemoryHigh"] == 1 << 20
    assert p["TasksMax"] == sdprops.INFINITY
    assert p["CPUQuotaPerSecUSec"] == sdprops.INFINITY
    assert p["CPUQuotaPeriodUSec"] == 50000
    assert "io.max" not in p  # no property: written to the file only


def test_v1_limits_become_v1_properties() -> None:
    p = props({"memory": {"limit": 64 << 20}, "cpu": {"shares": 512, "quota": 20000},
               "pids": {"limit": 5}}, PURE_V1)
    assert p["MemoryLimit"] == 64 << 20
    assert p["CPUShares"] == 512
    assert p["CPUQuotaPerSecUSec"] == 200_000
    assert p["TasksMax"] == 5


def test_devices_default_deny_is_a_strict_allow_list() -> None:
    state = emulate([Rule("c", 10, 200, "rwm", True), Rule("b", 8, -1, "r", True)])
    p = sdprops.device_properties(state)
    assert p[0] == ("DevicePolicy", ("s", "strict"))
    assert p[1] == ("DeviceAllow", ("a(ss)", []))  # clears an earlier list
    listed = p[2][1][1]
    assert isinstance(listed, list)
    entries = dict(listed)
    assert entries["/dev/char/10:200"] == "rwm"
    assert entries["block-8"] == "r"
    assert entries["/dev/char/1:3"] == "rwm"  # runc's default /dev/null


def test_devices_default_allow_is_left_to_the_ebpf_program() -> None:
    state = emulate([Rule("a", -1, -1, "rwm", True), Rule("c", 1, 3, "w", False)],
                    with_defaults=False)
    assert sdprops.device_properties(state) == [("DevicePolicy", ("s", "auto")),
                                                ("DeviceAllow", ("a(ss)", []))]


def test_the_scope_is_checked_where_systemd_tracks_it() -> None:
    from fire.cgroup.hierarchy import Hierarchy

    v1 = [Hierarchy("/sys/fs/cgroup/cpuset", "cgroup", "/", "rw,cpuset"),
          Hierarchy("/sys/fs/cgroup/systemd", "cgroup", "/", "rw,xattr,name=systemd")]
    mgr = SystemdManager("/system.slice/fire-x.scope", "fire-x.scope", "system.slice", v1)
    assert mgr.systemd_dir() == "/sys/fs/cgroup/systemd/system.slice/fire-x.scope"
    hybrid = [*v1, Hierarchy("/sys/fs/cgroup/unified", "cgroup2", "/", "rw")]
    mgr = SystemdManager("/system.slice/fire-x.scope", "fire-x.scope", "system.slice", hybrid)
    assert mgr.systemd_dir() == "/sys/fs/cgroup/unified/system.slice/fire-x.scope"
