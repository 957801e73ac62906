"""Rootless mode's pure parts: --rootless's words, the default state directory, which
id maps need newuidmap, the delegated subtree and the cgroup decision's record
(the real thing: tests/rootless/)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from fire import rootless
from fire.cgroup import driver as cgroup_driver
from fire.cgroup import rootless as cg_rootless
from fire.cgroup.hierarchy import delegated_hierarchies
from fire.cgroup.manager import Manager
from fire.errors import CgroupError, UsageError

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("auto", None), ("true", True), ("1", True), ("TRUE", True),
    ("t", True), ("false", False), ("0", False), ("F", False)])
def test_rootless_words_are_runcs(value: str | None, expected: bool | None) -> None:
    assert rootless.parse_mode(value) is expected


@pytest.mark.parametrize("value", ["maybe", "yes", "no", "on", "Auto"])
def test_other_rootless_words_are_errors(value: str) -> None:
    with pytest.raises(UsageError, match="--rootless must be true, false or auto"):
        rootless.parse_mode(value)


def test_auto_means_not_root_or_in_a_user_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    rootless.configure("auto")
    monkeypatch.setattr(rootless, "in_user_namespace", lambda: False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert rootless.enabled()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert not rootless.enabled()
    monkeypatch.setattr(rootless, "in_user_namespace", lambda: True)
    assert rootless.enabled()
    rootless.configure("false")
    assert not rootless.enabled()
    rootless.configure(None)


def test_default_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    monkeypatch.setenv("USER", "someone")
    monkeypatch.setattr(rootless, "in_user_namespace", lambda: False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert rootless.default_root() == "/run/user/1000/fire"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert rootless.default_root() == "/run/fire"  # real root keeps /run/fire
    monkeypatch.setattr(rootless, "in_user_namespace", lambda: True)
    assert rootless.default_root() == "/run/user/1000/fire"  # rootless podman
    monkeypatch.setenv("USER", "root")
    assert rootless.default_root() == "/run/fire"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert rootless.default_root() == "/run/fire"  # runc's fallback: then an error


def test_which_maps_need_the_helpers() -> None:
    from fire.container.idmaps import _own_only
    from fire.spec.config import IDMapping

    def m(c: int, h: int, s: int) -> IDMapping:
        return IDMapping(container_id=c, host_id=h, size=s)

    assert _own_only([m(0, 1000, 1)], 1000)
    assert _own_only([m(5, 1000, 1)], 1000)
    assert not _own_only([m(0, 1000, 2)], 1000)
    assert not _own_only([m(0, 1001, 1)], 1000)
    assert not _own_only([m(0, 1000, 1), m(1, 100000, 65536)], 1000)


def test_delegated_subtree_is_the_topmost_owned_dir(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Owned: the caller's uid and writable (the test runs as its own owner)."""
    deep = tmp_path / "user.slice" / "user@1.service" / "app.slice" / "run.scope"
    (tmp_path / "user.slice" / "session.scope").mkdir(parents=True)
    deep.mkdir(parents=True)
    for d in (deep, deep.parent, deep.parent.parent):
        (d / "cgroup.subtree_control").write_text("")
    monkeypatch.setattr(cg_rootless, "own_cgroup", lambda: "/user.slice/user@1.service/"
                        "app.slice/run.scope")
    # user.slice has no cgroup.subtree_control the caller can write: not owned
    assert cg_rootless.delegated_subtree(str(tmp_path)) == str(deep.parent.parent)
    # a session scope (no cgroup.subtree_control the caller may write): nothing,
    # even with user@1.service beside it
    monkeypatch.setattr(cg_rootless, "own_cgroup", lambda: "/user.slice/session.scope")
    assert cg_rootless.delegated_subtree(str(tmp_path)) is None


def test_the_decision_is_recorded(tmp_path: Path) -> None:
    none = Manager("/c1", [])
    none.delegated = cg_rootless.NONE
    assert cgroup_driver.from_state(none.to_state()) is None  # no cgroup: nothing to manage
    assert cg_rootless.has_none(none.to_state())
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    mgr = Manager("/c1", delegated_hierarchies(str(tmp_path)))
    mgr.delegated = str(tmp_path)
    again = cgroup_driver.from_state(mgr.to_state())
    assert again is not None
    assert again.dirs() == [str(tmp_path / "c1")]
    assert again.where == {"cpu": "v2", "memory": "v2", "pids": "v2", "devices": "v2", "": "v2"}
    assert not cg_rootless.has_none(mgr.to_state())


def test_limits_without_a_cgroup() -> None:
    from fire.spec.load import decode_spec

    spec = decode_spec(b'{"ociVersion": "1.3.0", "linux": {"resources": '
                         b'{"devices": [{"allow": false, "access": "rwm"}]}}}')
    stripped = cg_rootless.without_cgroup(spec)
    assert stripped.linux is not None
    assert stripped.linux.resources is None
    spec = decode_spec(b'{"ociVersion": "1.3.0", "linux": {"resources": '
                         b'{"memory": {"limit": 1048576}, "cpu": {"shares": 2}}}}')
    with pytest.raises(CgroupError, match=r"^\$\.linux\.resources\.cpu, "
                       r"\$\.linux\.resources\.memory: cannot apply"):
        cg_rootless.without_cgroup(spec)
