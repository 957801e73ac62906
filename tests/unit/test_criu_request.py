"""What Fire tells CRIU (fire.criu.request): pure, no CRIU needed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from fire.criu import SUPPORTED, request
from fire.criu.request import Flags

if TYPE_CHECKING:
    from fire.init.plan import MountPlan


def mount(dest: str, kind: str, source: str = "", fstype: str = "",
          cgroups: list[dict[str, Any]] | None = None) -> MountPlan:
    return {"dest": dest, "kind": kind, "source": source, "fstype": fstype,  # type: ignore[typeddict-item]
            "cgroups": cgroups or []}


MOUNTS = [
    mount("/proc", "fs", "proc", "proc"),
    mount("/dev", "fs", "tmpfs", "tmpfs"),
    mount("/dev/shm", "fs", "shm", "tmpfs"),
    mount("/data", "bind", "/srv/data"),
    mount("/etc/hosts", "bind", "/var/lib/x/hosts"),
    mount("/sys/fs/cgroup", "cgroup", "cgroup", "cgroup",
          [{"name": "", "host_path": "/sys/fs/cgroup/c1"}]),
]


def test_binds_and_the_cgroup_bind_are_external_mounts() -> None:
    dump = request.external_mounts(MOUNTS, [], False, restoring=False)
    assert dump == [{"key": "/data", "val": "/data"},
                    {"key": "/etc/hosts", "val": "/etc/hosts"},
                    {"key": "/sys/fs/cgroup", "val": "/sys/fs/cgroup"}]
    restore = request.external_mounts(MOUNTS, [], False, restoring=True)
    assert restore == [{"key": "/data", "val": "/srv/data"},
                       {"key": "/etc/hosts", "val": "/var/lib/x/hosts"},
                       {"key": "/sys/fs/cgroup", "val": "/sys/fs/cgroup/c1"}]


def test_a_cgroup_namespace_mount_is_dumped_not_external() -> None:
    own = mount("/sys/fs/cgroup", "cgroup", "cgroupns", "cgroup",
                [{"name": "", "host_path": "/sys/fs/cgroup/c1"}])
    assert request.external_mounts([own], [], False, restoring=True) == []


def test_v1_hierarchies_and_bound_devices() -> None:
    v1 = mount("/sys/fs/cgroup", "cgroup", "cgroup", "cgroup",
               [{"name": "memory", "host_path": "/sys/fs/cgroup/memory/c1"},
                {"name": "cpu,cpuacct", "host_path": "/sys/fs/cgroup/cpu,cpuacct/c1"}])
    devices: list[Any] = [{"path": "/dev/fuse"}]
    assert request.external_mounts([v1], devices, True, restoring=True) == [
        {"key": "/sys/fs/cgroup/memory", "val": "/sys/fs/cgroup/memory/c1"},
        {"key": "/sys/fs/cgroup/cpu,cpuacct", "val": "/sys/fs/cgroup/cpu,cpuacct/c1"},
        {"key": "/dev/fuse", "val": "/dev/fuse"}]
    assert request.external_mounts([], devices, False, restoring=True) == []


def test_dump_options_follow_runc() -> None:
    opts = request.dump_options(Flags(parent_path="../parent", tcp_established=True),
                                pid=42, root="/r", freeze_cgroup="/sys/fs/cgroup/c1",
                                annotations=None)
    assert opts["pid"] == 42
    assert opts["root"] == "/r"
    assert opts["log_file"] == "dump.log"
    assert opts["freeze_cgroup"] == "/sys/fs/cgroup/c1"
    assert opts["parent_img"] == "../parent"
    assert opts["track_mem"] is True
    assert opts["tcp_established"] is True
    assert opts["empty_ns"] == request.CLONE_NEWNET  # the network namespace: always empty
    assert opts["orphan_pts_master"] is True
    assert opts["manage_cgroups"] is True
    assert opts["config_file"] == "/etc/criu/runc.conf"
    assert "track_mem" not in request.dump_options(Flags(), pid=1, root="/", freeze_cgroup=None,
                                                   annotations=None)


def test_the_criu_config_annotation() -> None:
    own = request.restore_options(Flags(), root="/r", annotations={"org.criu.config": "/c.conf"})
    assert own["config_file"] == "/c.conf"
    none = request.restore_options(Flags(), root="/r", annotations={"org.criu.config": ""})
    assert "config_file" not in none
    assert none["rst_sibling"] is True
    assert none["log_file"] == "restore.log"


def test_empty_ns_takes_only_the_network() -> None:
    assert request.empty_ns_mask(["network"]) == request.CLONE_NEWNET
    with pytest.raises(ValueError, match="ipc"):
        request.empty_ns_mask(["ipc"])


def test_joined_namespaces() -> None:
    namespaces: dict[str, str | None] = {"pid": None, "network": "/run/netns/a",
                                         "ipc": "/proc/7/ns/ipc", "mount": None}
    assert request.dump_namespaces(namespaces, {"network": 4026531}) == [
        "net[4026531]:extRootNetNS"]
    inherit, join = request.restore_namespaces(namespaces, {"network": 9})
    assert inherit == [{"key": "extRootNetNS", "fd": 9}]
    assert join == [{"ns": "ipc", "ns_file": "/proc/7/ns/ipc"}]
    with pytest.raises(ValueError, match="cgroup"):
        request.restore_namespaces({"cgroup": "/proc/7/ns/cgroup"}, {})


def test_only_pipes_are_inherited_from_stdio() -> None:
    assert request.stdio_inherit(["/dev/null", "pipe:[123]", "pipe:[456]"]) == [
        {"key": "pipe:[123]", "fd": 1}, {"key": "pipe:[456]", "fd": 2}]


def test_mountpoints_on_a_tmpfs_are_criu_s() -> None:
    assert [mp["dest"] for mp in request.mountpoints(MOUNTS)] == [
        "/proc", "/dev", "/data", "/etc/hosts", "/sys/fs/cgroup"]


def test_the_features_name_only_flags_the_commands_take() -> None:
    from fire.cli import checkpoint, restore

    names = {n.lstrip("-") for o in [*checkpoint.OPTIONS, *restore.OPTIONS] for n in o.names}
    assert set(SUPPORTED) <= names
