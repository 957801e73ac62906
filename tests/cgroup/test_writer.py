"""The file writer (``Manager.apply``) against a temporary directory laid out like a
host's cgroup mounts: which directory each write lands in, fallbacks between
files, missing files, the EINVAL retry, and enabling v2 controllers."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from fire.cgroup import driver as cgroup_driver
from fire.cgroup import manager as mgr_mod
from fire.cgroup.hierarchy import Hierarchy
from fire.cgroup.manager import Manager
from fire.cgroup.translate import translate
from fire.errors import CgroupError
from fire.log import log
from fire.spec.config import Resources

if TYPE_CHECKING:
    from pathlib import Path


def hybrid(tmp: Path, files: dict[str, list[str]]) -> Manager:
    """v1 memory/cpu/pids/blkio + a cgroup2 tree with hugetlb; container path /c."""
    hs = []
    for ctrl in ("memory", "cpu", "pids", "blkio"):
        hs.append(Hierarchy(str(tmp / ctrl), "cgroup", "/", f"rw,{ctrl}"))
    v2 = Hierarchy(str(tmp / "unified"), "cgroup2", "/", "rw")
    v2.controllers = ["hugetlb"]
    hs.append(v2)
    (tmp / "unified").mkdir()
    (tmp / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    (tmp / "unified" / "cgroup.subtree_control").write_text("")
    for name, names in files.items():
        d = tmp / name / "c"
        d.mkdir(parents=True, exist_ok=True)
        for f in names:
            (d / f).write_text("")
    return Manager("/c", hs)


def apply(m: Manager, doc: dict[str, Any], updating: bool = False) -> None:
    tr = translate(msgspec.convert(doc, type=Resources), m.where)
    tr.devices = None  # device rules are written to the kernel only (tests in test_v1)
    m.apply(tr, updating)


def test_each_controller_goes_where_it_lives(tmp_path: Path) -> None:
    m = hybrid(tmp_path, {"memory": ["memory.limit_in_bytes"], "pids": ["pids.max"],
                          "unified": ["hugetlb.2MB.max"]})
    apply(m, {"memory": {"limit": 1048576}, "pids": {"limit": -1},
              "hugepageLimits": [{"pageSize": "2MB", "limit": 0}]})
    assert (tmp_path / "memory/c/memory.limit_in_bytes").read_text() == "1048576"
    assert (tmp_path / "pids/c/pids.max").read_text() == "max"
    assert (tmp_path / "unified/c/hugetlb.2MB.max").read_text() == "0"
    # hugetlb had to be enabled above the container's v2 directory
    assert (tmp_path / "unified/cgroup.subtree_control").read_text() == "+hugetlb"


def test_the_first_existing_file_is_used(tmp_path: Path) -> None:
    m = hybrid(tmp_path, {"blkio": ["blkio.bfq.weight"]})
    apply(m, {"blockIO": {"weight": 300}})
    assert (tmp_path / "blkio/c/blkio.bfq.weight").read_text() == "300"
    assert not (tmp_path / "blkio/c/blkio.weight").exists()


def test_a_missing_file_is_an_error_naming_the_field(tmp_path: Path) -> None:
    m = hybrid(tmp_path, {"blkio": []})
    with pytest.raises(CgroupError) as err:
        apply(m, {"blockIO": {"weight": 300}})
    assert str(err.value).startswith("$.linux.resources.blockIO.weight: not supported on this "
                                     "host (blkio.weight or blkio.bfq.weight does not exist")


def test_a_missing_optional_file_is_a_warning(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    m = hybrid(tmp_path, {"memory": ["memory.limit_in_bytes"]})
    log.configure(None, "text", False)
    apply(m, {"memory": {"kernelTCP": 4096}})
    log.finish()
    assert "memory.kernelTCP: this kernel has no memory.kmem.tcp.limit_in_bytes" in (
        capsys.readouterr().err)


def test_einval_is_retried_after_the_other_writes(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """v1 refuses a memory limit above memsw: raising both needs memsw first."""
    m = hybrid(tmp_path, {"memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]})
    written: list[str] = []
    real = mgr_mod._write

    def fake(path: str, value: str) -> None:
        name = os.path.basename(path)
        if name == "memory.limit_in_bytes" and "memory.memsw.limit_in_bytes" not in written:
            raise OSError(errno.EINVAL, "Invalid argument", path)
        written.append(name)
        real(path, value)

    monkeypatch.setattr(mgr_mod, "_write", fake)
    apply(m, {"memory": {"limit": 2 << 20, "swap": 4 << 20}})
    assert written == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_check_before_update(tmp_path: Path) -> None:
    m = hybrid(tmp_path, {"memory": ["memory.limit_in_bytes"]})
    (tmp_path / "memory/c/memory.usage_in_bytes").write_text("5000000\n")
    doc = {"memory": {"limit": 4000000, "checkBeforeUpdate": True}}
    apply(m, doc)  # at create: nothing runs yet, no check
    with pytest.raises(CgroupError, match=r"below the current memory usage 5000000"):
        apply(m, doc, updating=True)


def test_state_round_trip_keeps_resources(tmp_path: Path) -> None:
    m = hybrid(tmp_path, {})
    m.created = ["/x/c"]
    m.resources = {"pids": {"limit": 3}}
    again = cgroup_driver.from_state(m.to_state(), m.hierarchies)
    assert again is not None
    assert again.resources == {"pids": {"limit": 3}}
    assert again.created == ["/x/c"]
