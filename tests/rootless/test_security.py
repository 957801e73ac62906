"""The security matrix's cases that make sense rootless (tests/security/test_matrix.py):
the same checks hold when an ordinary user runs the container, and the user gains
no privilege it did not have (every capability is one of the container's user
namespace, none of the host's)."""

from __future__ import annotations

import hashlib
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from tests.rootless.conftest import RUNTIME

if TYPE_CHECKING:
    from tests.rootless.conftest import Runtime, User, UserBundle

EVERY_CAP = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
             "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
             "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_SYS_ADMIN",
             "CAP_SYS_MODULE", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_TIME"]


def tree(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in sorted(path.rglob("*"))}


def test_no_host_file_reachable_through_symlinks(runtime: Runtime, ubundle: UserBundle,
                                                 user: User, area: Path) -> None:
    """Cases 10-11 rootless: a mount destination that is a symlink out of the rootfs
    (absolute, and a ``../`` chain) lands inside it; the host directory it names,
    which the user could write itself, is untouched."""
    canary = area / f"canary-{uuid.uuid4().hex[:8]}"
    canary.mkdir()
    (canary / "keep").write_text("host data\n")
    user.chown(canary)
    before = tree(canary)
    rootfs = ubundle.own_rootfs(Path(ubundle.config["root"]["path"]))
    (rootfs / "abs").symlink_to(canary)
    (rootfs / "rel").symlink_to("../../../../../../../.." + str(canary))
    user.chown(rootfs)
    ubundle.config["mounts"] += [
        {"destination": "/abs", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/rel/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
    ]
    ubundle.args("sh", "-c", "echo x > /abs/written; mkdir -p /rel/sub && "
                 "echo x > /rel/sub/written; ls /abs").write()
    r = runtime("run", "-b", str(ubundle.path), runtime.unique_id())
    if RUNTIME == "fire":
        assert r.code == 0, r
        assert "written" in r.out.split(), r  # a fresh tmpfs inside the rootfs
    assert tree(canary) == before


def test_no_capability_outside_the_user_namespace(runtime: Runtime, ubundle: UserBundle,
                                                  user: User, area: Path) -> None:
    """Every capability, granted: each one works on what the user namespace owns,
    none on the host's (a root-only file, device nodes, the host's name)."""
    secret = area / f"secret-{uuid.uuid4().hex[:8]}"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    ubundle.config["process"]["capabilities"] = {
        k: list(EVERY_CAP) for k in ("bounding", "effective", "permitted")}
    ubundle.config["process"]["noNewPrivileges"] = False
    ubundle.config["mounts"].append({"destination": "/secret", "type": "none",
                                     "source": str(secret), "options": ["bind", "ro"]})
    script = ("grep CapEff /proc/self/status; "
              "cat /secret && echo READ; "
              "mknod /dev/x c 1 3 && echo MKNOD; "
              "hostname inside && echo UTS")
    ubundle.args("sh", "-c", script).write()
    host_name = socket.gethostname()
    r = runtime("run", "-b", str(ubundle.path), runtime.unique_id())
    assert r.code == 0, r
    assert "UTS" in r.out  # CAP_SYS_ADMIN of the container's own namespaces works
    for host_only in ("READ", "MKNOD", "root only"):
        assert host_only not in r.out, r
    assert secret.read_text() == "root only\n"
    assert socket.gethostname() == host_name


def test_only_stdio_reaches_the_container(runtime: Runtime, ubundle: UserBundle) -> None:
    """Case 18 rootless: fds 0-2, and ls's own directory fd."""
    ubundle.args("ls", "/proc/self/fd").write()
    r = runtime("run", "-b", str(ubundle.path), runtime.unique_id())
    assert r.code == 0, r
    assert r.out.split() == ["0", "1", "2", "3"], r
