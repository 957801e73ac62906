"""podman's ``container checkpoint/restore`` with Fire as its runtime, unchanged, in
the systemd VM (podman's storage on a tmpfs there: overlayfs does not stack on the
guest's throw-away overlay).  podman and Fire are set up as in tests/engines
(tests.engines.conftest: the call-logging ``fire`` script, a private podman root)."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.checkpoint.conftest import COUNTER
from tests.engines.conftest import PODMAN_IMAGE, Podman, Runtime
from tests.engines.images import rootfs_tar

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.engines, pytest.mark.slow,
              pytest.mark.usefixtures("criu_modules"), pytest.mark.timeout(1200)]


@pytest.fixture
def podman_on_tmpfs() -> Iterator[Podman]:
    work = Path(tempfile.mkdtemp(prefix="fire-podman-ckpt-"))
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(work)], check=True)
    engine = None
    try:
        runtime = Runtime(work)
        engine = Podman(work / "podman", runtime)
        engine.check("import", "--change", "CMD=/bin/sh", rootfs_tar(str(work)), PODMAN_IMAGE)
        yield engine
    finally:
        if engine is not None:
            engine.cleanup()
        subprocess.run(["umount", "-l", str(work)], check=False)


def podman_count(engine: Podman, name: str) -> int:
    return int(engine.check("exec", name, "cat", "/tmp/count").strip())


def test_podman_checkpoint_and_restore_on_fire(podman_on_tmpfs: Podman) -> None:
    engine = podman_on_tmpfs
    name = "ckpt-counter"
    engine.check("run", "-d", "--network", "none", "--name", name, PODMAN_IMAGE,
                 "sh", "-c", COUNTER)
    deadline = time.monotonic() + 120
    while engine("exec", name, "cat", "/tmp/count").code != 0:
        assert time.monotonic() < deadline
        time.sleep(1)
    r = engine("container", "checkpoint", name, timeout=600)
    assert r.code == 0, r
    assert engine.check("inspect", "--format", "{{.State.Status}}", name).strip() == "exited"
    r = engine("container", "restore", name, timeout=600)
    assert r.code == 0, r
    assert engine.check("inspect", "--format", "{{.State.Status}}", name).strip() == "running"
    before = podman_count(engine, name)
    time.sleep(2)
    assert podman_count(engine, name) > before
    verbs = engine.runtime.verbs(engine.full_id(name))
    assert "checkpoint" in verbs, verbs
    assert "restore" in verbs, verbs
    engine.check("rm", "--force", "--time", "0", name)
