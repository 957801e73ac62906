"""AppArmor and SELinux labels.

The kernel here has neither LSM, so the writing code runs against a *fake*
``/proc/<pid>/attr`` tree in a temporary directory (plain files standing in for
procfs), and the real kernel checks only the error path: a label asked for on a
kernel without the LSM fails ``create`` naming the field, and leaves nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from fire.init.process import Prepared, _write_labels, prepare
from fire.security import lsm

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

needs_no_lsm = pytest.mark.skipif(lsm.apparmor_enabled() or lsm.selinux_enabled(),
                                  reason="this kernel has an LSM: the error path cannot be seen")


def fake_proc(tmp_path: Path, apparmor_dir: bool) -> Path:
    """A fake procfs: thread-self/attr/{exec, apparmor/exec} as plain files."""
    attr = tmp_path / "proc" / "thread-self" / "attr"
    (attr / "apparmor").mkdir(parents=True) if apparmor_dir else attr.mkdir(parents=True)
    (attr / "exec").write_text("")
    if apparmor_dir:
        (attr / "apparmor" / "exec").write_text("")
    return tmp_path / "proc"


def process(apparmor: str = "", selinux: str = "") -> dict[str, object]:
    return {"apparmor": apparmor, "selinux": selinux}


def test_apparmor_uses_its_own_directory_when_there_is_one(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, apparmor_dir=True)
    prepared = prepare(process(apparmor="fire-default"), str(proc))  # type: ignore[arg-type]
    _write_labels(prepared)
    assert (proc / "thread-self/attr/apparmor/exec").read_text() == "exec fire-default"
    assert (proc / "thread-self/attr/exec").read_text() == ""
    assert prepared.labels == [], "the label files are closed once written"


def test_apparmor_falls_back_to_the_shared_file(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, apparmor_dir=False)
    _write_labels(prepare(process(apparmor="p1"), str(proc)))  # type: ignore[arg-type]
    assert (proc / "thread-self/attr/exec").read_text() == "exec p1"


def test_selinux_writes_the_context(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, apparmor_dir=True)
    label = "system_u:system_r:container_t:s0:c1,c2"
    _write_labels(prepare(process(selinux=label), str(proc)))  # type: ignore[arg-type]
    assert (proc / "thread-self/attr/exec").read_text() == label


def test_a_symlinked_label_file_is_not_followed(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, apparmor_dir=False)
    decoy = tmp_path / "decoy"
    decoy.write_text("")
    os.unlink(proc / "thread-self/attr/exec")
    os.symlink(decoy, proc / "thread-self/attr/exec")
    from fire.errors import InitError

    with pytest.raises(InitError, match="apparmor"):
        prepare(process(apparmor="p1"), str(proc))  # type: ignore[arg-type]
    assert decoy.read_text() == ""


def test_no_label_opens_nothing(tmp_path: Path) -> None:
    assert prepare(process(), str(tmp_path)).labels == []  # type: ignore[arg-type]
    _write_labels(Prepared())
    _write_labels(None)


def test_mount_label_goes_where_context_is_accepted() -> None:
    assert lsm.mount_data("mode=755", "tmpfs", "s0:c1") == 'mode=755,context="s0:c1"'
    assert lsm.mount_data("", "devpts", "l") == 'context="l"'
    for fstype in ("proc", "sysfs", "cgroup", "mqueue", "bind"):
        assert lsm.mount_data("x", fstype, "l") == "x"
    assert lsm.mount_data("x", "tmpfs", "") == "x"


def test_host_detection_reads_the_kernels_switches(tmp_path: Path) -> None:
    params = tmp_path / "module/apparmor/parameters"
    params.mkdir(parents=True)
    (params / "enabled").write_text("Y\n")
    assert lsm.apparmor_enabled(str(tmp_path))
    (params / "enabled").write_text("N\n")
    assert not lsm.apparmor_enabled(str(tmp_path))
    (tmp_path / "fs/selinux").mkdir(parents=True)
    assert not lsm.selinux_enabled(str(tmp_path)), "a plain directory is not selinuxfs"


@pytest.mark.root
@pytest.mark.usefixtures("no_leaks")
@needs_no_lsm
@pytest.mark.parametrize(("where", "set_label"), [
    ("$.process.apparmorProfile", lambda c: c["process"].update(apparmorProfile="fire-x")),
    ("$.process.selinuxLabel", lambda c: c["process"].update(selinuxLabel="u:r:t:s0")),
])
def test_a_label_without_its_lsm_fails_create(fire: Fire, bundle: Bundle, where: str,
                                               set_label: object) -> None:
    set_label(bundle.config)  # type: ignore[operator]
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert where in r.err
    assert "not enabled in this kernel" in r.err
    assert "Traceback" not in r.err
    assert fire("state", cid).code == 1


@pytest.mark.root
@pytest.mark.usefixtures("no_leaks")
@needs_no_lsm
def test_a_mount_label_without_selinux_is_left_out_with_a_warning(
        fire: Fire, bundle: Bundle) -> None:
    """crun's choice (runc passes it on and the kernel refuses the tmpfs): a file
    label confines nothing on a kernel with no SELinux policy to read it."""
    bundle.config["linux"]["mountLabel"] = "system_u:object_r:svirt_sandbox_file_t:s0:c1,c2"
    bundle.args("sh", "-c", "grep ' /dev ' /proc/self/mountinfo").write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert "context=" not in r.out
    assert r.err.startswith("fire: warning: $.linux.mountLabel: SELinux is not enabled"), r.err
