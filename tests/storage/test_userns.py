"""Fire's storage with a user namespace (docs/network-storage.md §5.4).

The upper layer and the named volumes live under ``--root`` (mode 0700, below
pytest's own 0700 directory here): the container's root, an unprivileged host
uid, cannot reach them; the runtime makes the mounts detached and the init only
attaches them (fire.storage.detached).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from typing import TYPE_CHECKING

import pytest

from tests.integration.core_support import userns
from tests.storage.test_storage import tree_digest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

HOST_ID = 100000


@pytest.fixture
def lower(rootfs: Path) -> Iterator[str]:
    """A private copy of the rootfs the container's root can reach (the bundle's
    rootfs must be reachable in a user namespace, as with runc), owned by the
    container's root as an image for a user namespace is."""
    base = tempfile.mkdtemp(prefix="fire-usst-lower-")
    os.chmod(base, 0o755)
    dest = os.path.join(base, "rootfs")
    shutil.copytree(rootfs, dest, symlinks=True)
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in [*dirnames, *filenames, "."]:
            os.lchown(os.path.join(dirpath, name), HOST_ID, HOST_ID)
    yield dest
    shutil.rmtree(base, ignore_errors=True)


def with_userns(bundle: Bundle, lower: str, readonly: bool = False) -> None:
    userns(bundle, lower, HOST_ID)
    bundle.config["root"]["readonly"] = readonly


def _mounts_mentioning(*texts: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if any(t in line for t in texts)]


def test_overlay_in_a_user_namespace(fire: Fire, bundle: Bundle, lower: str) -> None:
    with_userns(bundle, lower)
    before = tree_digest(lower)  # type: ignore[arg-type]
    bundle.args("sh", "-c", "echo new > /new-file && echo changed >> /etc/passwd "
                "&& id -u > /whoami && sleep 100")
    bundle.config["annotations"] = {"run.fire.overlay": "true"}
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-d", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    upper = fire.root / cid / "overlay" / "upper"
    deadline = time.monotonic() + 10
    while not (upper / "whoami").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (upper / "new-file").read_text() == "new\n", "the write landed in the upper layer"
    assert (upper / "whoami").read_text() == "0\n"
    st = os.stat(upper / "new-file")
    assert (st.st_uid, st.st_gid) == (HOST_ID, HOST_ID), "owned by the container's root"
    assert "changed" in (upper / "etc" / "passwd").read_text()
    assert tree_digest(lower) == before, "the lower layer changed"  # type: ignore[arg-type]
    assert not _mounts_mentioning(cid, lower), "the host sees the overlay"
    pid = fire.state(cid)["pid"]
    with open(f"/proc/{pid}/mountinfo") as f:
        root_line = next(line for line in f if line.split()[4] == "/")
    assert " - overlay " in root_line
    assert fire("delete", "--force", cid).code == 0
    assert not _mounts_mentioning(cid, lower, str(fire.root)), "a mount was left behind"
    assert not (fire.root / cid).exists()
    assert tree_digest(lower) == before  # type: ignore[arg-type]


def test_kept_overlay_in_a_user_namespace(fire: Fire, bundle: Bundle, lower: str) -> None:
    with_userns(bundle, lower)
    cid = fire.unique_id()
    bundle.config["annotations"] = {"run.fire.overlay.keep": "true"}
    bundle.args("sh", "-c", "echo $$ > /kept && cat /kept").write()
    first = fire("run", "-b", str(bundle.path), cid)
    assert first.code == 0, first
    bundle.args("cat", "/kept").write()
    second = fire("run", "-b", str(bundle.path), cid)
    assert second.code == 0, second
    assert second.out == first.out
    assert not os.path.exists(os.path.join(lower, "kept"))


def test_named_volume_in_a_user_namespace(fire: Fire, bundle: Bundle, lower: str) -> None:
    userns(bundle, lower, HOST_ID)
    name = "vol-" + uuid.uuid4().hex[:8]
    # The image has /var: the mount point is made on a scratch overlay of it.
    bundle.config["annotations"] = {"run.fire.volumes": json.dumps([f"{name}:/var/lib/db"])}
    bundle.args("sh", "-c", "echo persisted > /var/lib/db/data").write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    data = fire.root / "@volumes" / name / "data"
    assert data.read_text() == "persisted\n"
    assert (os.stat(data).st_uid, os.stat(data.parent).st_uid) == (HOST_ID, HOST_ID)
    bundle.args("cat", "/var/lib/db/data").write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert r.out == "persisted\n"
    assert not os.path.exists(os.path.join(lower, "var", "lib", "db"))


def test_volume_options_apply_to_the_detached_clone(
        fire: Fire, bundle: Bundle, lower: str) -> None:
    """A named volume mounted ``ro`` beside an overlay and a tmpfs volume: the
    options still apply to the runtime's detached clone."""
    with_userns(bundle, lower)
    name = "vol-" + uuid.uuid4().hex[:8]
    bundle.config["annotations"] = {
        "run.fire.overlay": "true",
        "run.fire.volumes": json.dumps([f"{name}:/data:ro", "tmpfs:/scratch"])}
    bundle.args("sh", "-c", "touch /data/x 2>/dev/null && echo writable; "
                "touch /scratch/y && echo scratch-ok; grep ' /data ' /proc/mounts").write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert "writable" not in r.out
    assert "scratch-ok" in r.out
    assert " ro," in r.out.splitlines()[-1]


def test_a_failing_init_leaves_the_detached_mounts_nowhere(fire: Fire, bundle: Bundle,
                                                          lower: str) -> None:
    """The runtime cloned the volume, the init fails before attaching it (a top-level
    mount point in a read-only root): one line, and nothing left (no_leaks)."""
    with_userns(bundle, lower, readonly=True)
    name = "vol-" + uuid.uuid4().hex[:8]
    bundle.config["annotations"] = {"run.fire.volumes": f"{name}:/newtop"}
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "use an overlay rootfs" in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert fire("state", cid).code == 1
    assert not _mounts_mentioning(str(fire.root), lower)
