"""An ordinary user to run Fire as: created for the session, removed at its end.

The session (as root) creates a user with a unique name (``useradd``: it gets
subordinate id ranges in /etc/subuid and /etc/subgid, as any new Debian user
does), a home and a runtime directory (``XDG_RUNTIME_DIR``, 0700) under one
temporary directory, and a busybox rootfs it owns.  Every command of a test runs
as that user through ``runuser`` with a clean environment (PATH, HOME,
XDG_RUNTIME_DIR): the runtime under test finds its default state directory
there, as it would on a login.  ``FIRE_TEST_RUNTIME=runc`` runs the same tests
against runc (tests that runc cannot pass say so and skip).

Each test checks, after it, that the user has no process left and no container
in its state directory (``delete --force`` first, as the root suite does); at the
end the user's remaining processes (rootless podman's pause process) are killed
by pid, the user removed (``userdel``: its sub-id ranges go too) and the
directory deleted.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.access import reachable
from tests.conftest import REPO, Result, base_config

if TYPE_CHECKING:
    from collections.abc import Iterator

RUNTIME = os.environ.get("FIRE_TEST_RUNTIME", "fire")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

fire_only = pytest.mark.skipif(RUNTIME != "fire", reason="Fire's own behaviour "
                               "(runc has no equivalent)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.root)  # useradd, runuser


class User:
    """An ordinary user and what it owns: home, runtime dir, a rootfs."""

    def __init__(self, base: Path, name: str) -> None:
        self.base = base
        self.name = name
        self.home = base / f"home-{name}"
        subprocess.run(["useradd", "-m", "-d", str(self.home), "-s", "/bin/sh", name],
                       check=True, capture_output=True)
        pw = pwd.getpwnam(name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.runtime_dir = base / f"run-{name}"
        self.runtime_dir.mkdir(mode=0o700)
        os.chown(self.runtime_dir, self.uid, self.gid)
        self.wrap: list[str] = []  # what each command runs under (systemd-run --user …)
        self.subuid = _subids("/etc/subuid", name)
        self.subgid = _subids("/etc/subgid", name)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {"PATH": PATH, "HOME": str(self.home), "USER": self.name,
               "XDG_RUNTIME_DIR": str(self.runtime_dir), "PYTHONPATH": str(REPO)}
        env.update(extra or {})
        return env

    def argv(self, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        """``argv`` run as this user, in a clean environment."""
        pairs = [f"{k}={v}" for k, v in self.env(env).items()]
        return ["runuser", "-u", self.name, "--", "env", "-i", *pairs, *self.wrap, *argv]

    def run(self, *argv: str, cwd: Path | None = None, input: str | None = None,
            timeout: float = 60, env: dict[str, str] | None = None) -> Result:
        # Files, not pipes: a created container keeps the runtime's stdout and stderr.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.run(self.argv(list(argv), env), cwd=cwd or self.base,
                                  input=input, stdout=out, stderr=err, text=True,
                                  timeout=timeout)
            out.seek(0)
            err.seek(0)
            proc.stdout, proc.stderr = out.read(), err.read()
        return Result(proc)

    def chown(self, path: Path) -> None:
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(path)], check=True)

    def pids(self) -> list[int]:
        """Every process running as this user (real uid)."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == self.uid:
                        found.append(int(entry))
                except OSError:
                    continue
        return found

    def remove(self) -> None:
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        subprocess.run(["userdel", self.name], check=False, capture_output=True)


def _subids(path: str, name: str) -> tuple[int, int]:
    with open(path) as f:
        for line in f:
            user, start, count = line.strip().split(":")
            if user == name:
                return int(start), int(count)
    raise AssertionError(f"useradd gave {name} no range in {path}")


@pytest.fixture(scope="session")
def area() -> Iterator[Path]:
    """The session's directory, reachable by the test users (not pytest's 0700 one);
    and the checkout, whose interpreter and code they run."""
    base = Path(tempfile.mkdtemp(prefix="fire-rootless-", dir="/tmp"))
    base.chmod(0o755)
    opened = reachable(Path(sys.executable).parent, REPO)
    try:
        yield base
    finally:
        for path, mode in opened:
            path.chmod(mode)
        shutil.rmtree(base, ignore_errors=True)


def _new_user(area: Path) -> Iterator[User]:
    user = User(area, f"frl{uuid.uuid4().hex[:8]}")
    try:
        yield user
    finally:
        user.remove()


@pytest.fixture(scope="session")
def user(area: Path) -> Iterator[User]:
    yield from _new_user(area)


@pytest.fixture(scope="session")
def other_user(area: Path) -> Iterator[User]:
    yield from _new_user(area)


@pytest.fixture(scope="session")
def user_rootfs(area: Path, user: User) -> Path:
    from fire.bundle import make_rootfs

    path = area / "rootfs"
    make_rootfs(str(path))
    user.chown(path)
    return path


class Runtime:
    """The runtime under test, run as ``user`` with its default state directory."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.name = RUNTIME
        self.argv = [sys.executable, "-m", "fire"] if RUNTIME == "fire" else [RUNTIME]
        self.root = user.runtime_dir / RUNTIME  # runc's and Fire's default for a user
        self.ids: list[str] = []

    def __call__(self, *args: str, **kw: Any) -> Result:
        return self.user.run(*self.argv, *args, **kw)

    def unique_id(self, prefix: str = "rl") -> str:
        cid = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def state(self, cid: str) -> dict[str, Any]:
        r = self("state", cid)
        assert r.code == 0, r
        return json.loads(r.out)  # type: ignore[no-any-return]

    def listed(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [n for n in os.listdir(self.root) if not n.startswith("@")]


class UserBundle:
    """A bundle owned by the user: ``fire spec --rootless``'s shape, not interactive."""

    def __init__(self, path: Path, rootfs: Path, user: User) -> None:
        self.path = path
        self.user = user
        cfg = base_config()
        self.config: dict[str, Any] = cfg
        from fire.spec.default import default_spec

        rootless = default_spec(rootless=True, args=["true"], terminal=False)
        cfg.update(rootless)
        linux = cfg["linux"]
        linux["uidMappings"] = [{"containerID": 0, "hostID": user.uid, "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": user.gid, "size": 1}]
        cfg["root"] = {"path": str(rootfs), "readonly": True}

    def args(self, *argv: str) -> UserBundle:
        self.config["process"]["args"] = list(argv)
        return self

    def own_rootfs(self, source: Path) -> Path:
        """A private, writable copy of the rootfs, owned by the user."""
        dest = self.path / "rootfs"
        shutil.copytree(source, dest, symlinks=True)
        self.user.chown(dest)
        self.config["root"] = {"path": "rootfs", "readonly": False}
        return dest

    def write(self) -> Path:
        (self.path / "config.json").write_text(json.dumps(self.config))
        self.user.chown(self.path)
        return self.path


@pytest.fixture
def runtime(user: User) -> Iterator[Runtime]:
    """The runtime as ``user``; after the test: ``delete --force`` of what is left,
    then no container in its state directory and no process of the user."""
    rt = Runtime(user)
    before = set(user.pids())
    yield rt
    for cid in rt.listed():
        rt("delete", "--force", cid)
    assert rt.listed() == [], "containers left in the user's state directory"
    deadline = time.monotonic() + 5
    while set(user.pids()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(user.pids()) - before == set(), "a process of the user was left behind"


@pytest.fixture
def ubundle(area: Path, user: User, user_rootfs: Path) -> UserBundle:
    path = area / f"bundle-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return UserBundle(path, user_rootfs, user)
