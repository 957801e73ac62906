"""The container process's environment and file descriptors (issue #2 §5):
exactly ``process.env`` (+HOME), ``--preserve-fds``, LISTEN_FDS/LISTEN_PID as runc
passes them, and no other fd of the runtime."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.conftest import REPO
from tests.integration.core_support import sh

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

# pid 1's environment as it was exec'd (the shell adds PWD/SHLVL to its own copy).
ENVIRON = "tr '\\0' '\\n' < /proc/1/environ; true"
# pid 1's open fds ("; true" keeps the shell as pid 1 rather than exec'ing ls).
FDS = "ls /proc/1/fd; true"


def environ(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_env_is_exactly_process_env_plus_home(fire: Fire, bundle: Bundle) -> None:
    bundle.process["env"] = ["PATH=/bin:/usr/bin", "ONE=1", "EMPTY=", "SPACED=a b  c"]
    out = sh(fire, bundle, ENVIRON)
    assert environ(out) == ["PATH=/bin:/usr/bin", "ONE=1", "EMPTY=", "SPACED=a b  c",
                            "HOME=/root"]


def test_runtime_environment_does_not_leak(fire: Fire, bundle: Bundle) -> None:
    bundle.process["env"] = ["PATH=/bin"]
    bundle.args("sh", "-c", ENVIRON).write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id(),
             env={"FIRE_LEAK_CHECK": "1", "LD_PRELOAD": "", "PYTHONPATH": str(REPO)})
    assert r.code == 0, r
    assert environ(r.out) == ["PATH=/bin", "HOME=/root"]


def test_home_comes_from_the_containers_passwd(fire: Fire, bundle: Bundle) -> None:
    bundle.process["env"] = ["PATH=/bin"]
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    assert "HOME=/home/user" in environ(sh(fire, bundle, ENVIRON))
    bundle.process["user"] = {"uid": 4242, "gid": 4242}  # not in /etc/passwd
    assert "HOME=/" in environ(sh(fire, bundle, ENVIRON))


def test_home_in_process_env_is_kept(fire: Fire, bundle: Bundle) -> None:
    bundle.process["env"] = ["PATH=/bin", "HOME=/srv"]
    assert environ(sh(fire, bundle, ENVIRON)) == ["PATH=/bin", "HOME=/srv"]


def test_no_env_at_all(fire: Fire, bundle: Bundle) -> None:
    bundle.process.pop("env")
    bundle.args("/bin/sh", "-c", ENVIRON).write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    assert environ(r.out) == ["HOME=/root"]


def test_only_stdio_reaches_the_container(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    """An fd the runtime itself has open (inherited, not close-on-exec) does not
    reach the container."""
    path = tmp_path / "held"
    path.write_text("")
    fd = os.open(path, os.O_RDONLY)
    try:
        bundle.args("sh", "-c", FDS).write()
        r = fire("run", "-b", str(bundle.path), fire.unique_id(), pass_fds=(fd,))
    finally:
        os.close(fd)
    assert r.code == 0, r
    assert r.out.split() == ["0", "1", "2"]


def _fire_with_fds(fire: Fire, tmp_path: Path, args: list[str], listen: bool) -> str:
    """Run fire from a shell that opens fds 3 and 4 (and exports LISTEN_* for itself)."""
    (tmp_path / "three").write_text("three\n")
    (tmp_path / "four").write_text("four\n")
    argv = " ".join(f"'{a}'" for a in [sys.executable, "-m", "fire", "--root", str(fire.root),
                                        *args])
    prelude = "export LISTEN_PID=$$ LISTEN_FDS=2; " if listen else ""
    script = f"{prelude}exec 3<'{tmp_path}/three' 4<'{tmp_path}/four'; exec {argv}"
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                          env=fire.env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_preserve_fds(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.args("sh", "-c", FDS + "; cat <&3; cat <&4; " + ENVIRON).write()
    out = _fire_with_fds(fire, tmp_path, ["run", "--preserve-fds", "2", "-b", str(bundle.path),
                                          fire.unique_id()], listen=False)
    lines = out.splitlines()
    assert lines[:5] == ["0", "1", "2", "3", "4"]
    assert lines[5:7] == ["three", "four"]
    assert not any(line.startswith("LISTEN_") for line in lines[7:])


def test_preserve_fds_counts_only_what_is_asked(fire: Fire, bundle: Bundle, tmp_path: Path
                                               ) -> None:
    bundle.args("sh", "-c", FDS).write()
    out = _fire_with_fds(fire, tmp_path, ["run", "--preserve-fds=1", "-b", str(bundle.path),
                                          fire.unique_id()], listen=False)
    assert out.split() == ["0", "1", "2", "3"]


def test_listen_fds_are_passed_on_as_runc_does(fire: Fire, bundle: Bundle, tmp_path: Path
                                               ) -> None:
    """systemd socket activation: fds 3.. of LISTEN_FDS reach the container, with
    LISTEN_FDS=N and LISTEN_PID=1 in its environment."""
    bundle.process["env"] = ["PATH=/bin"]
    bundle.args("sh", "-c", FDS + "; cat <&3; " + ENVIRON).write()
    out = _fire_with_fds(fire, tmp_path, ["run", "-b", str(bundle.path), fire.unique_id()],
                         listen=True)
    lines = out.splitlines()
    assert lines[:5] == ["0", "1", "2", "3", "4"]
    assert lines[5] == "three"
    assert lines[6:] == ["PATH=/bin", "LISTEN_FDS=2", "LISTEN_PID=1", "HOME=/root"]


def test_listen_fds_for_another_pid_are_ignored(fire: Fire, bundle: Bundle, tmp_path: Path
                                                ) -> None:
    bundle.process["env"] = ["PATH=/bin"]
    bundle.args("sh", "-c", FDS + "; " + ENVIRON).write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id(),
             env={"LISTEN_FDS": "2", "LISTEN_PID": "1"})
    assert r.code == 0, r
    assert r.out.split() == ["0", "1", "2", "PATH=/bin", "HOME=/root"]


def test_cwd_and_umask(fire: Fire, bundle: Bundle) -> None:
    bundle.process["cwd"] = "/tmp/made/for/me"
    bundle.process["user"] = {"uid": 0, "gid": 0, "umask": 0o027}
    bundle.config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    out = sh(fire, bundle, "pwd; umask")
    assert out.split() == ["/tmp/made/for/me", "0027"]
