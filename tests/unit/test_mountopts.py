"""Mount options to kernel flags (fire.spec.mountopts): pure, no root."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fire import mountflags as fl
from fire.spec import mountopts as mo


def test_flags_and_data() -> None:
    opts = mo.parse(["nosuid", "nodev", "ro", "mode=755", "size=64k"], "tmpfs")
    assert opts.flags == fl.MS_NOSUID | fl.MS_NODEV | fl.MS_RDONLY
    assert opts.data == ["mode=755", "size=64k"]
    assert not opts.is_bind


def test_later_options_win() -> None:
    assert mo.parse(["ro", "rw"]).flags & fl.MS_RDONLY == 0
    assert mo.parse(["rw", "ro"]).flags & fl.MS_RDONLY
    opts = mo.parse(["ro", "rw"])
    assert opts.cleared & fl.MS_RDONLY, "rw is remembered as an explicit clear"
    assert not mo.parse(["rw", "ro"]).cleared & fl.MS_RDONLY


def test_bind_forms() -> None:
    assert mo.parse(["bind"]).is_bind
    assert not mo.parse(["bind"]).recursive_bind
    assert mo.parse(["rbind"]).recursive_bind
    assert mo.parse([], "bind").is_bind, "type bind without a bind option"


def test_propagation_is_kept_in_order() -> None:
    opts = mo.parse(["rshared", "private", "unbindable"])
    assert opts.propagation == [fl.MS_SHARED | fl.MS_REC, fl.MS_PRIVATE, fl.MS_UNBINDABLE]
    assert opts.flags == 0


def test_recursive_attributes() -> None:
    opts = mo.parse(["rro", "rnosuid", "rnoexec"])
    assert opts.attr_set == fl.MOUNT_ATTR_RDONLY | fl.MOUNT_ATTR_NOSUID | fl.MOUNT_ATTR_NOEXEC
    assert opts.attr_clear == 0
    opts = mo.parse(["rrw", "rsuid"])
    assert opts.attr_clear == fl.MOUNT_ATTR_RDONLY | fl.MOUNT_ATTR_NOSUID
    assert opts.attr_set == 0


@pytest.mark.parametrize(("options", "attr_set"), [
    (["rnoatime"], fl.MOUNT_ATTR_NOATIME),
    (["rstrictatime"], fl.MOUNT_ATTR_STRICTATIME),
    (["rrelatime"], fl.MOUNT_ATTR_RELATIME),
    (["ratime"], 0),
    (["rnoatime", "rstrictatime"], fl.MOUNT_ATTR_STRICTATIME),
    (["rstrictatime", "rnostrictatime"], 0),
])
def test_recursive_atime_is_one_field(options: list[str], attr_set: int) -> None:
    opts = mo.parse(options)
    assert opts.attr_clear & fl.MOUNT_ATTR__ATIME == fl.MOUNT_ATTR__ATIME
    assert opts.attr_set & fl.MOUNT_ATTR__ATIME == attr_set


def test_extensions() -> None:
    opts = mo.parse(["tmpcopyup"])
    assert opts.tmpcopyup
    assert opts.data == []
    assert mo.parse(["idmap"]).idmap
    assert not mo.parse(["idmap"]).recursive_idmap
    assert mo.parse(["ridmap"]).recursive_idmap


@pytest.mark.parametrize(("options", "attr_set", "attr_clr"), [
    ([], 0, 0),
    (["bind"], 0, 0),
    (["ro", "nosuid"], fl.MOUNT_ATTR_RDONLY | fl.MOUNT_ATTR_NOSUID, 0),
    (["rw"], 0, fl.MOUNT_ATTR_RDONLY),
    (["suid", "dev", "exec"], 0, fl.MOUNT_ATTR_NOSUID | fl.MOUNT_ATTR_NODEV
     | fl.MOUNT_ATTR_NOEXEC),
    (["noatime"], fl.MOUNT_ATTR_NOATIME, fl.MOUNT_ATTR__ATIME),
    (["strictatime"], fl.MOUNT_ATTR_STRICTATIME, fl.MOUNT_ATTR__ATIME),
    (["relatime"], 0, fl.MOUNT_ATTR__ATIME),
    (["atime"], 0, fl.MOUNT_ATTR__ATIME),
    (["nodiratime", "nosymfollow"], fl.MOUNT_ATTR_NODIRATIME | fl.MOUNT_ATTR_NOSYMFOLLOW, 0),
    (["sync", "lazytime", "dirsync"], 0, 0),  # superblock flags: not per mount
])
def test_mount_attrs_of_a_bind(options: list[str], attr_set: int, attr_clr: int) -> None:
    opts = mo.parse(options)
    assert mo.mount_attrs(opts.flags, opts.cleared) == (attr_set, attr_clr)


def test_all_options_lists_every_table() -> None:
    names = set(mo.all_options())
    assert {"ro", "rbind", "rshared", "rro", "tmpcopyup", "idmap", "ridmap"} <= names
    assert len(names) == len(mo.FLAGS) + len(mo.PROPAGATION) + len(mo.RECURSIVE) + len(
        mo.EXTENSIONS)


@given(st.lists(st.sampled_from([*mo.all_options(), "mode=755", "size=1m", "x=y"]),
                max_size=12))
def test_any_combination_is_consistent(options: list[str]) -> None:
    opts = mo.parse(options)
    attr_set, attr_clr = mo.mount_attrs(opts.flags, opts.cleared)
    assert not attr_set & attr_clr & ~fl.MOUNT_ATTR__ATIME, "never set and clear one attribute"
    # atime is one field: at most one value set, and only with the field cleared
    atime = attr_set & fl.MOUNT_ATTR__ATIME
    assert atime in (0, fl.MOUNT_ATTR_NOATIME, fl.MOUNT_ATTR_STRICTATIME)
    if atime:
        assert attr_clr & fl.MOUNT_ATTR__ATIME == fl.MOUNT_ATTR__ATIME
    rec = opts.attr_set & fl.MOUNT_ATTR__ATIME
    assert rec in (0, fl.MOUNT_ATTR_NOATIME, fl.MOUNT_ATTR_STRICTATIME)
    assert set(opts.data) <= {"mode=755", "size=1m", "x=y"}
