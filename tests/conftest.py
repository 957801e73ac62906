"""Shared fixtures: a busybox rootfs, bundles, a private ``--root``, and a check that
each test leaves the host as it found it.

Tests drive the real ``fire`` command (``python -m fire``) on the real kernel, the
way an engine does.  ``FIRE_TEST_RUNTIME=runc`` runs the conformance tests that
accept it against another runtime, to compare (crun's ``tests_utils`` idea).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0
IN_V2_VM = os.environ.get("V2RUN_GUEST") == "1"
# The cgroup2 VM booted with systemd as PID 1 (V2RUN_SYSTEMD=1: tests/run-v2.sh --systemd)
IN_SYSTEMD_VM = IN_V2_VM and os.path.isdir("/run/systemd/system")

needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "root" in item.keywords and not IS_ROOT:
            item.add_marker(pytest.mark.skip(reason="needs root"))
        if "cgroup2" in item.keywords and not IN_V2_VM:
            item.add_marker(pytest.mark.skip(reason="runs in the cgroup v2 VM "
                                             "(tests/run-v2.sh)"))
        # The marker itself: "systemd" in item.keywords is also true of a test whose
        # module imports fire.cgroup.systemd (a module's names are keywords).
        if item.get_closest_marker("systemd") is not None and not IN_SYSTEMD_VM:
            item.add_marker(pytest.mark.skip(reason="runs in the cgroup v2 VM booted with "
                                             "systemd (tests/run-v2.sh --systemd)"))


# --------------------------------------------------------------------------- rootfs


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only-by-convention busybox rootfs shared by the session's bundles."""
    from fire.bundle import make_rootfs

    path = tmp_path_factory.mktemp("busybox") / "rootfs"
    make_rootfs(str(path))
    return path


def base_config(args: list[str] | None = None) -> dict[str, Any]:
    """runc spec's default, not interactive: each test mutates its own copy."""
    from fire.spec.default import default_spec

    cfg = default_spec(args=args or ["true"], terminal=False)
    return copy.deepcopy(cfg)


class Bundle:
    def __init__(self, path: Path, rootfs: Path) -> None:
        self.path = path
        self.rootfs = rootfs
        self.config: dict[str, Any] = base_config()
        self.config["root"] = {"path": str(rootfs), "readonly": True}

    def write(self) -> Path:
        (self.path / "config.json").write_text(json.dumps(self.config))
        return self.path

    def own_rootfs(self) -> Path:
        """A private, writable copy of the rootfs (for tests that change it)."""
        dest = self.path / "rootfs"
        if not dest.exists():
            shutil.copytree(self.rootfs, dest, symlinks=True)
        self.rootfs = dest
        self.config["root"] = {"path": "rootfs", "readonly": False}
        return dest

    @property
    def process(self) -> dict[str, Any]:
        return self.config["process"]  # type: ignore[no-any-return]

    def args(self, *argv: str) -> Bundle:
        self.process["args"] = list(argv)
        return self


@pytest.fixture
def bundle(tmp_path: Path, rootfs: Path) -> Bundle:
    path = tmp_path / "bundle"
    path.mkdir()
    return Bundle(path, rootfs)


# --------------------------------------------------------------------------- fire


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


class Fire:
    """Runs the runtime under test with a private ``--root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ids: list[str] = []  # every id unique_id() gave out (for the leak checks)
        runtime = os.environ.get("FIRE_TEST_RUNTIME", "fire")
        self.name = runtime
        self.argv = ([sys.executable, "-m", "fire"] if runtime == "fire" else [runtime])

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO)
        env.pop("LANG", None)
        env.pop("LC_ALL", None)
        env.pop("LC_MESSAGES", None)
        env.update(extra or {})
        return env

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60,
                 env: dict[str, str] | None = None, check: bool = False,
                 pass_fds: tuple[int, ...] = ()) -> Result:
        # Files, not pipes: a created container keeps the runtime's stdout and stderr
        # (they become its own), so a pipe would never reach EOF.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run([*self.argv, "--root", str(self.root), *args], input=input,
                                  stdout=out, stderr=err, text=True, timeout=timeout,
                                  env=self.env(env), pass_fds=pass_fds)
            out.seek(0)
            err.seek(0)
            proc.stdout, proc.stderr = out.read(), err.read()
        result = Result(proc)
        if check and result.code != 0:
            raise AssertionError(f"fire {' '.join(args)} failed: {result}")
        return result

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.argv, "--root", str(self.root), *args], text=True,
                                env=self.env(kw.pop("env", None)), **kw)

    def unique_id(self, prefix: str = "t") -> str:
        cid = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def state(self, cid: str) -> dict[str, Any]:
        r = self(*("state", cid), check=True)
        return r.json()  # type: ignore[no-any-return]

    def wait_status(self, cid: str, status: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(cid)
            if st["status"] == status or time.monotonic() > deadline:
                return st
            time.sleep(0.02)

    def cleanup(self) -> None:
        if not self.root.exists():
            return
        for cid in os.listdir(self.root):
            if cid.startswith("@"):
                continue
            self("delete", "--force", cid)


@pytest.fixture
def fire(tmp_path: Path) -> Iterator[Fire]:
    root = tmp_path / "root"
    f = Fire(root)
    yield f
    f.cleanup()


# --------------------------------------------------------------------------- leaks


def _mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def _cgroup_dirs(name_part: str) -> list[str]:
    found: list[str] = []
    base = "/sys/fs/cgroup"
    try:
        entries = os.listdir(base)
    except OSError:
        return found
    for ctrl in entries:
        d = os.path.join(base, ctrl)
        try:
            for sub in os.listdir(d):
                if name_part in sub and os.path.isdir(os.path.join(d, sub)):
                    found.append(os.path.join(d, sub))
        except OSError:
            continue
    return found


def _children() -> set[int]:
    from fire.procfs import children

    return set(children(os.getpid()))


@pytest.fixture
def no_leaks(tmp_path: Path, fire: Fire) -> Iterator[None]:
    """After the test (and `delete --force` of what it left): no mount under the
    test's directory, no state directory, no cgroup named after one of the test's
    container ids, no process of ours and no process in such a cgroup left."""
    before_mounts = len(_mounts_mentioning(str(tmp_path)))
    before_children = _children()
    yield
    fire.cleanup()  # what a test leaves on purpose goes through `delete --force`
    assert len(_mounts_mentioning(str(tmp_path))) == before_mounts, "a mount was left behind"
    if fire.root.exists():
        left = [d for d in os.listdir(fire.root) if not d.startswith("@")]
        assert left == [], f"state directories left: {left}"
    deadline = time.monotonic() + 5
    while _children() - before_children and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children() - before_children == set(), "a child process was left behind"
    left_cgroups = [d for cid in fire.ids for d in cgroup_dirs_of(cid)]
    assert left_cgroups == [], f"cgroups left behind: {left_cgroups}"


def cgroup_dirs_of(cid: str) -> list[str]:
    """Every host cgroup directory named after ``cid`` (default cgroupsPath /<id>)."""
    return [d for d in _cgroup_dirs(cid) if os.path.basename(d) == cid]
