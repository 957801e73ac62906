"""Every mount option Fire accepts (fire/spec/mountopts.py, `fire features`) does what
it says, on a filesystem mount and on a bind mount; idmapped and overlay mounts
(issue #2 §5).  Seen in the container's /proc/self/mountinfo."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from fire.spec import mountopts
from tests.integration.core_support import MountLine, mountinfo, open_rootfs, sh, userns

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

__all__ = ["open_rootfs"]

# option -> (per-mount options that must show, that must not show)
PER_MOUNT: dict[str, tuple[set[str], set[str]]] = {
    "ro": ({"ro"}, set()), "rw": ({"rw"}, {"ro"}),
    "nosuid": ({"nosuid"}, set()), "suid": (set(), {"nosuid"}),
    "nodev": ({"nodev"}, set()), "dev": (set(), {"nodev"}),
    "noexec": ({"noexec"}, set()), "exec": (set(), {"noexec"}),
    "noatime": ({"noatime"}, {"relatime"}), "atime": ({"relatime"}, {"noatime"}),
    "strictatime": (set(), {"relatime", "noatime"}),
    "nostrictatime": ({"relatime"}, {"noatime"}),
    "relatime": ({"relatime"}, {"noatime"}), "norelatime": ({"relatime"}, {"noatime"}),
    "nodiratime": ({"nodiratime"}, set()), "diratime": (set(), {"nodiratime"}),
    "nosymfollow": ({"nosymfollow"}, set()), "symfollow": (set(), {"nosymfollow"}),
}
RECURSIVE_TWIN = {f"r{name}": name for name in PER_MOUNT if f"r{name}" in mountopts.RECURSIVE}
RECURSIVE_TWIN["rrw"] = "rw"
RECURSIVE_TWIN["rro"] = "ro"
# Superblock flags: shown in the super options of a new filesystem.
SUPER = {"sync": "sync", "dirsync": "dirsync", "lazytime": "lazytime"}
# Accepted, with no visible per-mount effect here.
QUIET = {"async", "nolazytime", "mand", "nomand", "iversion", "noiversion", "silent", "loud",
         "defaults", "remount"}
PROPAGATION = {"shared": "shared:", "rshared": "shared:", "unbindable": "unbindable",
               "runbindable": "unbindable", "private": None, "rprivate": None, "slave": None,
               "rslave": None}
ELSEWHERE = {"bind", "rbind", "tmpcopyup", "idmap", "ridmap"}  # tested on their own


def test_every_option_is_covered_here() -> None:
    known = {*PER_MOUNT, *RECURSIVE_TWIN, *SUPER, *QUIET, *PROPAGATION, *ELSEWHERE}
    assert set(mountopts.all_options()) == known


def name_of(option: str) -> str:
    return "/o/" + option


def check(line: MountLine, option: str) -> None:
    base = RECURSIVE_TWIN.get(option, option)
    if base in PER_MOUNT:
        must, must_not = PER_MOUNT[base]
        assert must <= line.options, (option, line.options)
        assert not must_not & line.options, (option, line.options)
    elif option in PROPAGATION:
        tag = PROPAGATION[option]
        if tag is None:
            assert not any(o.startswith(("shared:", "master:")) for o in line.optional), option
        else:
            assert any(o.startswith(tag) for o in line.optional), (option, line.optional)


def test_options_on_a_filesystem_mount(fire: Fire, bundle: Bundle) -> None:
    options = sorted({*PER_MOUNT, *RECURSIVE_TWIN, *SUPER, *QUIET, *PROPAGATION})
    bundle.config["mounts"].append({"destination": "/o", "type": "tmpfs", "source": "tmpfs"})
    for option in options:
        bundle.config["mounts"].append({"destination": name_of(option), "type": "tmpfs",
                                        "source": "tmpfs", "options": [option, "size=16k"]})
    mi = mountinfo(sh(fire, bundle, "cat /proc/self/mountinfo"))
    for option in options:
        line = mi[name_of(option)]
        assert line.fstype == "tmpfs"
        check(line, option)
        if option in SUPER:
            assert SUPER[option] in line.super, (option, line.super)


@pytest.fixture
def restricted(tmp_path: Path) -> Iterator[Path]:
    """A host tmpfs with every per-mount restriction set: binds of it show what an
    option clears."""
    path = tmp_path / "restricted"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,nosuid,nodev,noexec,noatime,nodiratime,"
                    "nosymfollow,size=16k", "tmpfs", str(path)], check=True)
    yield path
    subprocess.run(["umount", str(path)], check=True)


def test_options_on_a_bind_mount(fire: Fire, bundle: Bundle, tmp_path: Path,
                                 restricted: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    options = sorted({*PER_MOUNT, *RECURSIVE_TWIN, *QUIET, *PROPAGATION, *SUPER})
    clearing = {o for o in options if RECURSIVE_TWIN.get(o, o) in PER_MOUNT
                and not PER_MOUNT[RECURSIVE_TWIN.get(o, o)][0] - {"rw", "relatime"}}
    bundle.config["mounts"].append({"destination": "/o", "type": "tmpfs", "source": "tmpfs"})
    for option in options:
        source = restricted if option in clearing else plain
        bundle.config["mounts"].append({"destination": name_of(option), "type": "bind",
                                        "source": str(source), "options": ["bind", option]})
    mi = mountinfo(sh(fire, bundle, "cat /proc/self/mountinfo"))
    for option in options:
        line = mi[name_of(option)]
        check(line, option)
    # What an option does not name is kept from the source.
    assert {"nosuid", "nodev", "noexec"} <= mi[name_of("rw")].options
    assert "ro" in mi[name_of("suid")].options


# ----------------------------------------------------------------------------- idmap


@pytest.fixture
def owned(tmp_path: Path) -> Path:
    """A host directory with files of three owners."""
    path = tmp_path / "owned"
    (path / "sub").mkdir(parents=True)
    for name, uid in (("root-file", 0), ("user-file", 1000), ("sub/deep", 1000)):
        (path / name).write_text("")
        os.chown(path / name, uid, uid + 5 if uid else 0)
    return path


def owners(text: str) -> dict[str, tuple[int, int]]:
    out = {}
    for line in text.splitlines():
        name, uid, gid = line.split()
        out[name] = (int(uid), int(gid))
    return out


STAT_OWNED = "stat -c '%n %u %g' /idm/root-file /idm/user-file /idm/sub/deep"


def test_idmapped_bind_mount(fire: Fire, bundle: Bundle, owned: Path) -> None:
    bundle.config["mounts"].append({
        "destination": "/idm", "type": "bind", "source": str(owned), "options": ["bind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]})
    out = sh(fire, bundle, STAT_OWNED + "; grep ' /idm ' /proc/self/mountinfo")
    got = owners("\n".join(out.splitlines()[:3]))
    assert got["/idm/root-file"] == (100000, 200000)
    assert got["/idm/user-file"] == (101000, 201005)
    assert "idmapped" in out.splitlines()[3]
    assert os.stat(owned / "root-file").st_uid == 0, "the source is untouched"


def test_idmap_uses_the_containers_maps(fire: Fire, bundle: Bundle, owned: Path,
                                        open_rootfs: str) -> None:
    """In a user namespace, files owned by host root show as the container's root,
    and what the container's root writes is owned by host root."""
    userns(bundle, open_rootfs)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["type"] != "cgroup"]
    os.chmod(owned.parent, 0o755)
    bundle.config["mounts"].append({"destination": "/idm", "type": "bind", "source": str(owned),
                                    "options": ["rbind", "ridmap"]})
    out = sh(fire, bundle, STAT_OWNED + "; touch /idm/made-inside")
    got = owners(out)
    assert got["/idm/root-file"] == (0, 0)
    assert got["/idm/user-file"] == (1000, 1005)
    made = os.stat(owned / "made-inside")
    assert (made.st_uid, made.st_gid) == (0, 0)


def test_ridmap_is_recursive_and_idmap_is_not(fire: Fire, bundle: Bundle, owned: Path) -> None:
    inner = owned / "sub"
    subprocess.run(["mount", "--bind", str(inner), str(inner)], check=True)
    try:
        maps = {"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}
        bundle.config["mounts"] += [
            {"destination": "/idm", "source": str(owned), "options": ["rbind", "ridmap"], **maps},
            {"destination": "/top", "source": str(owned), "options": ["rbind", "idmap"], **maps},
        ]
        out = sh(fire, bundle, "stat -c '%n %u %g' /idm/sub/deep /top/root-file /top/sub/deep")
    finally:
        subprocess.run(["umount", str(inner)], check=True)
    got = owners(out)
    assert got["/idm/sub/deep"] == (101000, 101005)
    assert got["/top/root-file"] == (100000, 100000)
    assert got["/top/sub/deep"] == (1000, 1005), "idmap: only the top mount is mapped"


@pytest.mark.parametrize(("mount", "expected"), [
    ({"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]},
     "$.mounts[7].options"),
    ({"destination": "/x", "source": "/tmp", "options": ["bind", "idmap"]},
     "$.mounts[7].uidMappings"),
    ({"destination": "/x", "source": "/tmp", "options": ["bind"],
      "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]},
     "$.mounts[7].gidMappings"),
    ({"destination": "/x", "source": "/tmp", "options": ["bind", "idmap"],
      "uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}],
      "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]},
     "$.mounts[7].uidMappings[0].size"),
])
def test_bad_idmapped_mounts(fire: Fire, bundle: Bundle, mount: dict[str, object],
                             expected: str) -> None:
    bundle.config["mounts"].append(mount)
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert expected in r.err
    assert len(r.err.splitlines()) == 1
    assert fire("state", cid).code == 1


# ----------------------------------------------------------------------------- overlay


def test_overlay_mount(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    for d in ("lower1", "lower2", "upper", "work"):
        (tmp_path / d).mkdir()
    (tmp_path / "lower1" / "a").write_text("from lower1\n")
    (tmp_path / "lower2" / "a").write_text("hidden\n")
    (tmp_path / "lower2" / "b").write_text("from lower2\n")
    bundle.config["mounts"].append({
        "destination": "/merged", "type": "overlay", "source": "overlay",
        "options": [f"lowerdir={tmp_path}/lower1:{tmp_path}/lower2",
                    f"upperdir={tmp_path}/upper", f"workdir={tmp_path}/work", "nodev"]})
    out = sh(fire, bundle, "cat /merged/a /merged/b; echo new > /merged/c; rm /merged/b; "
             "grep ' /merged ' /proc/self/mountinfo")
    lines = out.splitlines()
    assert lines[:2] == ["from lower1", "from lower2"]
    assert " - overlay " in lines[2]
    assert "nodev" in lines[2].split()[5]
    assert (tmp_path / "upper" / "c").read_text() == "new\n"
    assert (tmp_path / "lower2" / "b").exists(), "a lower layer is never written"


def test_overlay_paths_relative_to_the_bundle(fire: Fire, bundle: Bundle) -> None:
    for d in ("lower", "upper", "work"):
        (bundle.path / d).mkdir()
    (bundle.path / "lower" / "file").write_text("relative\n")
    bundle.config["mounts"].append({
        "destination": "/merged", "type": "overlay", "source": "overlay",
        "options": ["lowerdir=lower", "upperdir=upper", "workdir=work"]})
    assert sh(fire, bundle, "cat /merged/file") == "relative\n"


def test_overlay_read_only_without_upper(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    for d in ("l1", "l2"):
        (tmp_path / d).mkdir()
        (tmp_path / d / d).write_text(d)
    bundle.config["mounts"].append({
        "destination": "/ro", "type": "overlay", "source": "overlay",
        "options": [f"lowerdir={tmp_path}/l1:{tmp_path}/l2", "ro"]})
    out = sh(fire, bundle, "ls /ro; touch /ro/x 2>/dev/null || echo refused")
    assert out.split() == ["l1", "l2", "refused"]
