"""Rootless podman (Debian's 4.3, with conmon) using Fire as its runtime.

The session's user runs podman with its storage in its home and its run root in
its runtime directory, under the session's directory; ``--network none`` (no
slirp4netns needed).  podman runs the runtime as uid 0 of its own user namespace
(made by newuidmap/newgidmap from the user's sub-id ranges), so this is Fire's
"root in a user namespace" rootless case: no cgroup on this host (v1), device
nodes bound, state under ``$XDG_RUNTIME_DIR/fire``.  The runtime is a wrapper
script that logs every call (tests/engines/conftest.py's shape): each test checks
that Fire, not runc or crun, ran its container.  ``FIRE_TEST_RUNTIME=runc`` runs
the same tests with runc.
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import REPO
from tests.engines.conftest import CONTAINERS_CONF, PODMAN_IMAGE
from tests.engines.images import rootfs_tar
from tests.rootless.conftest import RUNTIME

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Result
    from tests.rootless.conftest import User

pytestmark = pytest.mark.engines

WRAPPER = """\
#!{python}
import json, os, sys
sys.path.insert(0, {repo!r})
from fire.cli import main
argv, rc = sys.argv[1:], 1
try:
    rc = main()
finally:
    with open({log!r}, "a") as log:
        log.write(json.dumps({{"argv": argv, "rc": rc, "euid": os.geteuid()}}) + "\\n")
sys.exit(rc)
"""


class RootlessPodman:
    def __init__(self, user: User, workdir: Path) -> None:
        self.user = user
        self.dir = workdir
        workdir.mkdir()
        self.calls_file = workdir / "calls.jsonl"
        if RUNTIME == "fire":
            runtime = workdir / "fire"
            runtime.write_text(WRAPPER.format(python=sys.executable, repo=str(REPO),
                                              log=str(self.calls_file)))
            runtime.chmod(0o755)
        else:
            runtime = Path(shutil.which(RUNTIME) or RUNTIME)
        self.conf = workdir / "containers.conf"
        self.conf.write_text(CONTAINERS_CONF.format(dir=workdir, fire=runtime))
        user.chown(workdir)
        self.argv = ["podman", "--root", str(user.home / "storage"), "--runroot",
                     str(user.runtime_dir / "pr")]  # podman: at most 50 characters

    def __call__(self, *args: str, timeout: float = 120) -> Result:
        return self.user.run(*self.argv, *args, cwd=self.dir, timeout=timeout,
                             env={"CONTAINERS_CONF": str(self.conf)})

    def check(self, *args: str) -> str:
        r = self(*args)
        assert r.code == 0, f"podman {' '.join(args)}: {r}"
        return r.out

    def calls(self) -> list[dict[str, Any]]:
        try:
            text = self.calls_file.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def assert_fire_ran(self, full_id: str) -> None:
        if RUNTIME != "fire":
            return
        verbs = [c["argv"] for c in self.calls() if full_id in c["argv"]]
        assert any("create" in argv for argv in verbs), verbs
        assert all(c["rc"] == 0 for c in self.calls() if full_id in c["argv"]
                   and "create" in c["argv"]), self.calls()
        # uid 0 of podman's user namespace: not the host's root
        assert all(c["euid"] == 0 for c in self.calls()), self.calls()


@pytest.fixture(scope="session")
def podman(user: User, area: Path) -> Iterator[RootlessPodman]:
    if shutil.which("podman") is None or shutil.which("conmon") is None:
        pytest.skip("podman and conmon are not installed (bin/setup --dev installs them)")
    engine = RootlessPodman(user, area / f"podman-{user.name}")
    layer = Path(rootfs_tar(str(engine.dir)))
    user.chown(engine.dir)
    engine.check("import", "--change", "CMD=/bin/sh", str(layer), PODMAN_IMAGE)
    yield engine
    engine("rm", "--all", "--force", "--time", "0")
    engine("system", "reset", "--force")


def test_run_rm(podman: RootlessPodman, user: User) -> None:
    name = f"rl-{uuid.uuid4().hex[:8]}"
    r = podman("run", "--rm", "--name", name, "--network", "none", PODMAN_IMAGE,
               "sh", "-c", "id -u; cat /proc/self/uid_map; echo hello; exit 3")
    assert r.code == 3, r
    lines = r.out.split("\n")
    assert lines[0] == "0", r
    assert lines[-2] == "hello", r
    sub_uid, count = user.subuid
    assert r.out.split()[1:7] == ["0", str(user.uid), "1", "1", str(sub_uid), str(count)], r
    assert RUNTIME != "fire" or any("create" in c["argv"] for c in podman.calls())
    assert podman.check("ps", "-a", "-q", "--filter", f"name={name}").strip() == ""


def test_detached_exec_logs_stop_rm(podman: RootlessPodman) -> None:
    name = f"rl-{uuid.uuid4().hex[:8]}"
    full_id = podman.check("run", "-d", "--name", name, "--network", "none", PODMAN_IMAGE,
                           "sh", "-c", "echo started; sleep 100").strip()
    try:
        r = podman("exec", name, "sh", "-c", "echo in-exec; id -u; exit 4")
        assert (r.code, r.out) == (4, "in-exec\n0\n"), r
        assert podman.check("logs", name) == "started\n"
        podman.check("stop", "-t", "1", name)
        state = json.loads(podman.check("inspect", name))[0]["State"]
        assert state["Status"] == "exited", state
        podman.assert_fire_ran(full_id)
    finally:
        podman("rm", "--force", "--time", "0", name)
    assert podman.check("ps", "-a", "-q", "--filter", f"name={name}").strip() == ""
    if RUNTIME == "fire":
        assert not (podman.user.runtime_dir / "fire" / full_id).exists()
