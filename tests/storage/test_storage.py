"""Overlay rootfs and volumes end to end."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import TYPE_CHECKING

import pytest

from fire.lifecycle.stages import CREATE, order

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def tree_digest(root: Path) -> str:
    """Names, types, modes, owners, link targets and contents of a whole tree."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            h.update(f"{os.path.relpath(path, root)} {st.st_mode} {st.st_uid} {st.st_gid} "
                     f"{st.st_mtime_ns}\n".encode())
            if os.path.islink(path):
                h.update(os.readlink(path).encode())
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


WRITES = ("echo new > /new-file && echo changed >> /etc/passwd && rm /bin/true "
          "&& mkdir -p /var/lib/x && echo y > /var/lib/x/y && cat /new-file")


# --------------------------------------------------------------------------- overlay


@pytest.mark.parametrize("readonly_lower", [False, True])
def test_overlay_writes_are_gone_and_the_lower_layer_is_untouched(
        fire: Fire, bundle: Bundle, readonly_lower: bool) -> None:
    rootfs = bundle.own_rootfs()
    if readonly_lower:
        os.chmod(rootfs, 0o555)  # even a lower dir nobody may write works
    before = tree_digest(rootfs)
    bundle.args("sh", "-c", WRITES)
    bundle.config["annotations"] = {"run.fire.overlay": "true"}
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    assert r.out == "new\n"
    assert tree_digest(rootfs) == before, "the lower layer changed"
    assert not (rootfs / "new-file").exists()
    assert not os.path.exists(os.path.join(fire.root, cid))
    assert not os.path.exists(os.path.join(fire.root, "@overlay", cid))


def test_the_host_never_sees_the_overlay(fire: Fire, bundle: Bundle) -> None:
    bundle.own_rootfs()
    bundle.args("sleep", "100")
    bundle.config["annotations"] = {"run.fire.overlay": "true"}
    bundle.write()
    cid = fire.unique_id()
    assert fire("run", "-d", "-b", str(bundle.path), cid).code == 0
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if str(bundle.path) in line or cid in line]
    pid = fire.state(cid)["pid"]
    with open(f"/proc/{pid}/mountinfo") as f:
        root_line = next(line for line in f if line.split()[4] == "/")
    assert " - overlay " in root_line
    assert fire("delete", "--force", cid).code == 0


def test_kept_upper_layer_survives_and_comes_back(fire: Fire, bundle: Bundle) -> None:
    rootfs = bundle.own_rootfs()
    before = tree_digest(rootfs)
    cid = fire.unique_id()
    bundle.config["annotations"] = {"run.fire.overlay": "true", "run.fire.overlay.keep": "true"}
    bundle.args("sh", "-c", "echo $$ > /kept && cat /kept").write()
    first = fire("run", "-b", str(bundle.path), cid)
    assert first.code == 0, first
    kept = fire.root / "@overlay" / cid / "upper" / "kept"
    assert kept.read_text() == first.out
    bundle.args("cat", "/kept").write()
    second = fire("run", "-b", str(bundle.path), cid)
    assert second.code == 0, second
    assert second.out == first.out, "the next container of that id sees the kept layer"
    assert kept.exists()
    assert tree_digest(rootfs) == before


def test_keep_overlay_flag(fire: Fire, bundle: Bundle) -> None:
    """The session's shared rootfs is the lower layer: it must not change."""
    bundle.config["root"]["readonly"] = False
    bundle.args("sh", "-c", "touch /from-flag").write()
    cid = fire.unique_id()
    assert fire("run", "--keep-overlay", "-b", str(bundle.path), cid).code == 0
    assert (fire.root / "@overlay" / cid / "upper" / "from-flag").exists()
    assert not (bundle.rootfs / "from-flag").exists()


# --------------------------------------------------------------------------- volumes


def test_named_volume_outlives_its_container(fire: Fire, bundle: Bundle) -> None:
    name = "vol-" + uuid.uuid4().hex[:8]
    bundle.config["annotations"] = {"run.fire.volumes": json.dumps([f"{name}:/var/lib/db"])}
    bundle.args("sh", "-c", "echo persisted > /var/lib/db/data").write()
    assert fire("run", "-b", str(bundle.path), fire.unique_id()).code == 0
    assert (fire.root / "@volumes" / name / "data").read_text() == "persisted\n"
    bundle.args("cat", "/var/lib/db/data").write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert r.out == "persisted\n"
    assert not (bundle.rootfs / "var" / "lib" / "db").exists(), "the read-only image was written"


def test_bind_volume_read_only_and_tmpfs_with_a_size(fire: Fire, bundle: Bundle,
                                                    tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "app.conf").write_text("setting=1\n")
    bundle.args("sh", "-c", "cat /etc/app/app.conf; touch /etc/app/x 2>/dev/null && echo writable; "
                "grep ' /scratch ' /proc/mounts; touch /scratch/ok && echo scratch-ok")
    bundle.write()
    r = fire("run", "-v", f"{conf}:/etc/app:ro", "-v", "tmpfs:/scratch:size=16m",
             "--overlay", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0] == "setting=1"
    assert "writable" not in lines
    assert "tmpfs /scratch tmpfs" in r.out
    assert "size=16384k" in r.out
    assert "nosuid" in r.out
    assert "nodev" in r.out
    assert lines[-1] == "scratch-ok"
    assert sorted(os.listdir(conf)) == ["app.conf"]


def test_mount_point_in_a_read_only_image_is_made_on_a_tmpfs(fire: Fire, bundle: Bundle,
                                                            tmp_path: Path) -> None:
    """/etc exists in the image, /etc/app does not, the root is read-only and there
    is no overlay: the image is not written, /etc stays read-only."""
    before = tree_digest(bundle.rootfs)
    bundle.args("sh", "-c", "ls /etc/app; touch /etc/other 2>/dev/null || echo etc-read-only; "
                "cat /etc/passwd | head -1")
    bundle.config["annotations"] = {"run.fire.volumes": "tmpfs:/etc/app"}
    bundle.write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert "etc-read-only" in r.out
    assert "root:x:0:0" in r.out, "the image's /etc shows through"
    assert tree_digest(bundle.rootfs) == before


def test_top_level_mount_point_in_a_read_only_image_asks_for_an_overlay(
        fire: Fire, bundle: Bundle) -> None:
    bundle.config["annotations"] = {"run.fire.volumes": "tmpfs:/newtop"}
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "use an overlay rootfs" in r.err
    assert not (bundle.rootfs / "newtop").exists()
    assert fire("state", cid).code == 1


def test_volume_destination_cannot_escape_through_a_symlink(fire: Fire, bundle: Bundle,
                                                           tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    rootfs = bundle.own_rootfs()
    os.symlink("../../../../../../../../.." + str(outside), rootfs / "escape")
    bundle.args("sh", "-c", "grep ' /escape' /proc/mounts; grep -c tmpfs /proc/mounts")
    bundle.config["annotations"] = {"run.fire.volumes": "tmpfs:/escape/sub"}
    bundle.write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert list(outside.iterdir()) == [], "a mount point was made outside the rootfs"
    assert (rootfs / str(outside).lstrip("/") / "sub").is_dir(), "resolved inside the rootfs"


@pytest.mark.parametrize(("volume", "message"), [
    ("relative/path:/x", "the source must be"),
    ("data:relative", "must be an absolute path"),
    ("/nonexistent-" + uuid.uuid4().hex + ":/x", "No such file or directory"),
    ("data:/x:size=1m", "unknown option"),
    ("data:/", "cannot replace the root"),
])
def test_bad_volumes(fire: Fire, bundle: Bundle, volume: str, message: str) -> None:
    bundle.config["annotations"] = {"run.fire.volumes": volume}
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert message in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert fire("state", cid).code == 1


# --------------------------------------------------------------------------- failed create


@pytest.mark.parametrize("stage", order(CREATE))
def test_a_failure_at_any_stage_leaves_no_overlay_and_no_mount(fire: Fire, bundle: Bundle,
                                                               stage: str) -> None:
    """The undo of the storage stage (by its name, fire.container.create) runs
    whatever stage fails after it: no upper layer, no mount, no state directory; a
    named volume stays (volumes are never removed)."""
    bundle.own_rootfs()
    name = f"v{uuid.uuid4().hex[:8]}"
    bundle.config["annotations"] = {"run.fire.overlay": "true",
                                    "run.fire.volumes": json.dumps([f"{name}:/data"])}
    # hooks:createContainer is a stage only when there are such hooks.
    bundle.config["hooks"] = {"createContainer": [{"path": "/bin/sh",
                                                   "args": ["sh", "-c", "exit 0"]}]}
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid, env={"FIRE_TEST_FAIL_AT": stage})
    assert r.code == 1, r
    assert r.err == f"fire: {stage}: failure injected (FIRE_TEST_FAIL_AT)\n"
    assert not (fire.root / cid).exists()
    assert not (fire.root / "@overlay" / cid).exists()
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if str(bundle.path) in line or cid in line
                    or str(fire.root) in line]
