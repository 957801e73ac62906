"""/dev inside the container: default devices, linux.devices, the standard links
(issue #2 §5).  Seen with ``stat`` from inside."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from tests.integration.core_support import open_rootfs, sh, userns

if TYPE_CHECKING:
    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

__all__ = ["open_rootfs"]

# name, kind, major, minor (busybox stat: %t/%T are hexadecimal)
DEFAULTS = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
            ("urandom", 1, 9), ("tty", 5, 0)]
STAT = "stat -c '%n|%F|%t|%T|%a|%u|%g'"


def stats(text: str) -> dict[str, tuple[str, int, int, str, int, int]]:
    out = {}
    for line in text.splitlines():
        name, kind, major, minor, mode, uid, gid = line.split("|")
        out[name] = (kind, int(major, 16), int(minor, 16), mode, int(uid), int(gid))
    return out


def test_default_devices(fire: Fire, bundle: Bundle) -> None:
    paths = " ".join(f"/dev/{name}" for name, _, _ in DEFAULTS)
    got = stats(sh(fire, bundle, f"{STAT} {paths}"))
    for name, major, minor in DEFAULTS:
        assert got[f"/dev/{name}"] == ("character special file", major, minor, "666", 0, 0), name


def test_default_devices_work(fire: Fire, bundle: Bundle) -> None:
    out = sh(fire, bundle, "head -c 4 /dev/zero | od -An -tx1; head -c 16 /dev/urandom | wc -c;"
             " echo x > /dev/full 2>/dev/null || echo full; echo gone > /dev/null && echo null")
    assert out.split() == ["00", "00", "00", "00", "16", "full", "null"]


def test_standard_links(fire: Fire, bundle: Bundle) -> None:
    out = sh(fire, bundle, "for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l);"
             " done")
    links = dict(line.split() for line in out.splitlines())
    assert links == {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
                     "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
                     "ptmx": "pts/ptmx"}


def test_no_console_without_a_terminal(fire: Fire, bundle: Bundle) -> None:
    assert sh(fire, bundle, "test -e /dev/console && echo yes || echo no").strip() == "no"


def test_linux_devices(fire: Fire, bundle: Bundle) -> None:
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640,
         "uid": 1000, "gid": 1001},
        {"path": "/dev/loop-test", "type": "b", "major": 7, "minor": 99, "fileMode": 0o600},
        {"path": "/dev/sub/dir/node", "type": "c", "major": 1, "minor": 3},
        {"path": "/dev/fifo", "type": "p"},
        # A config device replaces a default one of the same path.
        {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600,
         "uid": 5, "gid": 6},
    ]
    got = stats(sh(fire, bundle, f"{STAT} /dev/fuse /dev/loop-test /dev/sub/dir/node "
                   "/dev/fifo /dev/null"))
    assert got["/dev/fuse"] == ("character special file", 10, 229, "640", 1000, 1001)
    assert got["/dev/loop-test"] == ("block special file", 7, 99, "600", 0, 0)
    assert got["/dev/sub/dir/node"] == ("character special file", 1, 3, "666", 0, 0)
    assert got["/dev/fifo"][0] == "fifo"
    assert got["/dev/null"] == ("character special file", 1, 3, "600", 5, 6)


def inside_id(host_id: int, base: int = 100000, size: int = 65536) -> int:
    return host_id - base if base <= host_id < base + size else 65534


def test_devices_in_a_user_namespace_are_host_binds(fire: Fire, bundle: Bundle,
                                                    open_rootfs: str) -> None:
    """mknod is not allowed in a user namespace: the host's nodes are bound (runc too)."""
    userns(bundle, open_rootfs)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["type"] != "cgroup"]
    out = sh(fire, bundle, f"{STAT} /dev/null /dev/zero; echo ok > /dev/null && echo wrote; "
             "grep ' /dev/null ' /proc/self/mountinfo")
    lines = out.splitlines()
    got = stats("\n".join(lines[:2]))
    assert got["/dev/null"][:3] == ("character special file", 1, 3)
    host = os.stat("/dev/null")
    assert got["/dev/null"][4:] == (inside_id(host.st_uid), inside_id(host.st_gid)), \
        "the host's node itself, its owner seen through the id map"
    assert got["/dev/zero"][:3] == ("character special file", 1, 5)
    assert lines[2] == "wrote"
    assert " /dev/null " in lines[3], "a bind mount"


def test_bound_dev_keeps_the_hosts_nodes(fire: Fire, bundle: Bundle) -> None:
    """With /dev bound from the host, Fire adds no default device of its own."""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if not m["destination"].startswith("/dev")]
    bundle.config["mounts"].append({"destination": "/dev", "type": "bind", "source": "/dev",
                                    "options": ["rbind", "nosuid", "noexec"]})
    out = sh(fire, bundle, "grep ' /dev ' /proc/self/mountinfo; test -c /dev/null && echo null")
    assert "devtmpfs" in out
    assert out.splitlines()[-1] == "null"
