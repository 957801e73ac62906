"""The container's filesystem: mounts, masked and read-only paths, pivot_root,
--no-pivot, root.readonly, rootfsPropagation, cgroup mounts, sysctls (issue #2 §5).

What the container sees is read from its own ``/proc/self/mountinfo``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from tests.conftest import Bundle, Fire, cgroup_dirs_of
from tests.integration.core_support import mountinfo, sh

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

MOUNTINFO = "cat /proc/self/mountinfo"


def host_cgroup_hierarchies() -> dict[str, str]:
    """Directory name under /sys/fs/cgroup -> fstype, for this host's hierarchies."""
    out: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            point = left.split()[4]
            fstype = right.split()[0]
            if fstype in ("cgroup", "cgroup2") and point.startswith("/sys/fs/cgroup/"):
                out[point.rsplit("/", 1)[1]] = fstype
    return out


# ----------------------------------------------------------------------------- default mounts


def test_default_mounts_in_mountinfo(fire: Fire, bundle: Bundle) -> None:
    mi = mountinfo(sh(fire, bundle, MOUNTINFO))
    assert mi["/"].options >= {"ro"}, "root.readonly"
    assert mi["/proc"].fstype == "proc"
    dev = mi["/dev"]
    assert dev.fstype == "tmpfs"
    assert "nosuid" in dev.options
    assert {"mode=755", "size=65536k"} <= dev.super
    pts = mi["/dev/pts"]
    assert pts.fstype == "devpts"
    assert {"nosuid", "noexec"} <= pts.options
    assert {"gid=5", "mode=620", "ptmxmode=666"} <= pts.super
    shm = mi["/dev/shm"]
    assert shm.fstype == "tmpfs"
    assert {"nosuid", "noexec", "nodev"} <= shm.options
    assert mi["/dev/mqueue"].fstype == "mqueue"
    sysfs = mi["/sys"]
    assert sysfs.fstype == "sysfs"
    assert {"ro", "nosuid", "noexec", "nodev"} <= sysfs.options


def test_masked_and_readonly_paths(fire: Fire, bundle: Bundle) -> None:
    linux = bundle.config["linux"]
    linux["maskedPaths"] = ["/proc/keys", "/proc/acpi", "/sys/firmware", "/proc/no-such-path"]
    linux["readonlyPaths"] = ["/proc/sys", "/proc/bus", "/proc/no-such-path"]
    out = sh(fire, bundle, MOUNTINFO + "; echo ---; cat /proc/keys | wc -c; ls /sys/firmware | wc -l;"
             " echo 1 > /proc/sys/kernel/ns_last_pid 2>&1 || echo refused")
    info, _, rest = out.partition("---\n")
    mi = mountinfo(info)
    keys = mi["/proc/keys"]
    assert keys.root == "/null", "a file is masked by /dev/null bound over it"
    assert keys.fstype == "tmpfs", "the container's /dev/null, on its /dev tmpfs"
    for directory in ("/proc/acpi", "/sys/firmware"):
        assert mi[directory].fstype == "tmpfs", directory
        assert "ro" in mi[directory].options
        assert "ro" in mi[directory].super, "a read-only tmpfs, as runc mounts it"
    for path in ("/proc/sys", "/proc/bus"):
        assert mi[path].fstype == "proc"
        assert "ro" in mi[path].options, path
    assert "/proc/no-such-path" not in mi, "a missing path is skipped"
    size, firmware, written = rest.split()
    assert size == "0"
    assert firmware == "0"
    assert written == "refused"


def test_host_files_are_invisible_after_pivot_root(fire: Fire, bundle: Bundle, tmp_path: Path
                                                   ) -> None:
    marker = tmp_path / "host-marker"
    marker.write_text("host")
    out = sh(fire, bundle, f"test -e {marker} && echo visible || echo invisible; "
             "cat /proc/self/mountinfo")
    first, _, info = out.partition("\n")
    assert first == "invisible"
    points = set(mountinfo(info))
    # Nothing of the host's tree remains mounted: every mount is the config's.
    allowed = ("/", "/proc", "/dev", "/sys")
    assert all(p == "/" or p.startswith(allowed[1:]) for p in points), points
    assert not any(str(tmp_path) in p for p in points)


def test_no_pivot_moves_the_root(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    marker = tmp_path / "host-marker"
    marker.write_text("host")
    out = sh(fire, bundle, f"test -e {marker} && echo visible || echo invisible; ls /; "
             "cat /proc/self/mountinfo", extra=("--no-pivot",))
    lines = out.splitlines()
    assert lines[0] == "invisible"
    assert "bin" in lines[1:]
    assert "proc" in lines[1:]
    mi = mountinfo("\n".join(lines))
    assert mi["/"].root == str(bundle.rootfs), "the rootfs is moved onto / (MS_MOVE + chroot)"


def test_root_readonly_and_writable(fire: Fire, bundle: Bundle) -> None:
    out = sh(fire, bundle, "touch /new 2>/dev/null && echo wrote || echo refused")
    assert out.strip() == "refused"
    rootfs = bundle.own_rootfs()
    out = sh(fire, bundle, "touch /new && echo wrote")
    assert out.strip() == "wrote"
    assert (rootfs / "new").exists()


# ----------------------------------------------------------------------------- config mounts


def test_bind_mounts_with_options(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "file").write_text("payload\n")
    single = tmp_path / "single"
    single.write_text("one file\n")
    bundle.config["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(data),
         "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]},
        {"destination": "/rw", "type": "none", "source": str(data), "options": ["bind", "rw"]},
        {"destination": "/etc/single", "source": str(single), "options": ["bind", "ro"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
         "options": ["size=1m", "mode=700", "noatime"]},
    ]
    out = sh(fire, bundle, "cat /data/file /etc/single; touch /data/x 2>/dev/null || echo ro;"
             " touch /rw/written && echo rw; stat -c %a /scratch; echo ---; " + MOUNTINFO)
    head, _, info = out.partition("---\n")
    assert head.split("\n") == ["payload", "one file", "ro", "rw", "700", ""]
    assert (data / "written").exists()
    mi = mountinfo(info)
    assert {"ro", "nosuid", "nodev", "noexec"} <= mi["/data"].options
    assert "ro" not in mi["/rw"].options
    assert "ro" in mi["/etc/single"].options
    scratch = mi["/scratch"]
    assert scratch.fstype == "tmpfs"
    assert "noatime" in scratch.options
    assert {"size=1024k", "mode=700"} <= scratch.super


def test_relative_bind_source_is_relative_to_the_bundle(fire: Fire, bundle: Bundle) -> None:
    (bundle.path / "local").mkdir()
    (bundle.path / "local" / "hello").write_text("from the bundle\n")
    bundle.config["mounts"].append({"destination": "/local", "type": "bind", "source": "local",
                                    "options": ["bind"]})
    assert sh(fire, bundle, "cat /local/hello") == "from the bundle\n"


def test_mounts_apply_in_the_listed_order(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "from-a").write_text("")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "from-b").write_text("")
    bundle.config["mounts"] += [
        {"destination": "/stack", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/stack/inner", "source": str(tmp_path / "a"), "options": ["bind"]},
        {"destination": "/stack/inner", "source": str(tmp_path / "b"), "options": ["bind"]},
    ]
    assert sh(fire, bundle, "ls /stack/inner").split() == ["from-b"]


def test_recursive_readonly(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    """``rro`` makes every submount of an rbind read-only; ``ro`` only the top."""
    outer = tmp_path / "outer"
    inner = outer / "inner"
    inner.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(inner)], check=True)
    try:
        bundle.config["mounts"] += [
            {"destination": "/rro", "source": str(outer), "options": ["rbind", "rro"]},
            {"destination": "/ro", "source": str(outer), "options": ["rbind", "ro"]},
        ]
        mi = mountinfo(sh(fire, bundle, MOUNTINFO))
    finally:
        subprocess.run(["umount", str(inner)], check=True)
    assert "ro" in mi["/rro"].options
    assert "ro" in mi["/rro/inner"].options
    assert "ro" in mi["/ro"].options
    assert "ro" not in mi["/ro/inner"].options


def test_destination_symlink_cannot_escape_the_rootfs(fire: Fire, bundle: Bundle,
                                                      tmp_path: Path) -> None:
    rootfs = bundle.own_rootfs()
    outside = tmp_path / "outside"
    outside.mkdir()
    # An absolute symlink in the rootfs that names a host directory.
    os.symlink(str(outside), rootfs / "escape")
    os.symlink("../../../../../../../../..", rootfs / "dotdot")
    bundle.config["mounts"] += [
        {"destination": "/escape", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/dotdot/x", "type": "tmpfs", "source": "tmpfs"},
    ]
    out = sh(fire, bundle, "touch /escape/inside; ls /escape; echo; " + MOUNTINFO)
    assert out.startswith("inside")
    assert not (outside / "inside").exists()
    assert list(outside.iterdir()) == []
    # The symlinks resolve inside the rootfs: the mounts land under it.
    assert (rootfs / str(outside).lstrip("/")).is_dir()
    assert (rootfs / "x").is_dir()
    mi = mountinfo(out)
    assert str(outside) in mi
    assert "/x" in mi


def test_mount_on_proc_must_be_proc(fire: Fire, bundle: Bundle) -> None:
    bundle.config["mounts"].append({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"})
    bundle.args("true").write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 1
    assert "/proc" in r.err
    assert "Traceback" not in r.err


def test_tmpcopyup_copies_the_image_content(fire: Fire, bundle: Bundle) -> None:
    rootfs = bundle.own_rootfs()
    (rootfs / "etc" / "conf.d").mkdir()
    (rootfs / "etc" / "conf.d" / "a.conf").write_text("kept\n")
    bundle.config["mounts"].append({"destination": "/etc/conf.d", "type": "tmpfs",
                                    "source": "tmpfs", "options": ["tmpcopyup"]})
    out = sh(fire, bundle, "cat /etc/conf.d/a.conf; grep ' /etc/conf.d ' /proc/self/mountinfo")
    assert out.startswith("kept\n")
    assert " - tmpfs " in out


# ----------------------------------------------------------------------------- cgroup mount


def test_cgroup_mount_with_a_cgroup_namespace(fire: Fire, bundle: Bundle) -> None:
    """As runc on a v1/hybrid host: a tmpfs, one mount per hierarchy, showing "/"."""
    mi = mountinfo(sh(fire, bundle, MOUNTINFO))
    top = mi["/sys/fs/cgroup"]
    assert top.fstype == "tmpfs"
    assert "ro" in top.options  # runc 1.1.5 leaves the tmpfs rw; Fire makes it ro too
    for name, fstype in host_cgroup_hierarchies().items():
        sub = mi[f"/sys/fs/cgroup/{name}"]
        assert sub.fstype == fstype, name
        assert sub.root == "/", f"{name}: the namespace's root is the container's cgroup"
        assert "ro" in sub.options


def test_cgroup_mount_without_a_cgroup_namespace(fire: Fire, bundle: Bundle) -> None:
    """runc binds the container's own cgroup directory of each hierarchy."""
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "cgroup"]
    cid = fire.unique_id()
    bundle.args("sh", "-c", MOUNTINFO + "; echo ---; cat /sys/fs/cgroup/pids/cgroup.procs").write()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    info, _, procs = r.out.partition("---\n")
    mi = mountinfo(info)
    for name in host_cgroup_hierarchies():
        assert mi[f"/sys/fs/cgroup/{name}"].root == f"/{cid}", name
    assert "1" in procs.split(), "the container's own cgroup: its pid 1 is listed"


def test_cgroup_mount_matches_runc(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    """The same bundle through Debian's runc 1.1.5: the same hierarchies and roots."""
    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    bundle.args("cat", "/proc/self/mountinfo").write()
    r = fire("run", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 0, r
    ours = mountinfo(r.out)
    root = tmp_path / "runc-root"
    runc = subprocess.run(["runc", "--root", str(root), "run", "-b", str(bundle.path),
                           fire.unique_id("runc")], capture_output=True, text=True, timeout=60)
    assert runc.returncode == 0, runc.stderr
    theirs = mountinfo(runc.stdout)
    for point, line in theirs.items():
        if not point.startswith("/sys/fs/cgroup"):
            continue
        assert point in ours, point
        assert ours[point].fstype == line.fstype, point
        assert ours[point].root == line.root, point
        assert ours[point].options - {"ro", "rw"} == line.options - {"ro", "rw"}, point
    # Fire also mounts the hybrid host's cgroup2 hierarchy ("unified"); runc 1.1.5 skips it.
    extra = {p for p in ours if p.startswith("/sys/fs/cgroup")} - set(theirs)
    assert extra <= {"/sys/fs/cgroup/unified"}


# ----------------------------------------------------------------------------- propagation


def test_rootfs_propagation_shared(fire: Fire, bundle: Bundle) -> None:
    bundle.config["linux"]["rootfsPropagation"] = "shared"
    mi = mountinfo(sh(fire, bundle, MOUNTINFO))
    assert any(o.startswith("shared:") for o in mi["/"].optional), mi["/"].optional


def test_rootfs_propagation_private(fire: Fire, bundle: Bundle) -> None:
    bundle.config["linux"]["rootfsPropagation"] = "private"
    mi = mountinfo(sh(fire, bundle, MOUNTINFO))
    assert mi["/"].optional == []


def test_rootfs_propagation_unbindable(fire: Fire, bundle: Bundle) -> None:
    """An unbindable "/" cannot be bound anywhere (runtime-tools binds it and
    expects EINVAL); the container still gets its masked and read-only paths,
    which are binds made before "/" turns unbindable."""
    bundle.config["linux"]["rootfsPropagation"] = "unbindable"
    bundle.config["linux"]["maskedPaths"] = ["/proc/keys"]
    bundle.config["linux"]["readonlyPaths"] = ["/proc/sys", "/etc"]
    mi = mountinfo(sh(fire, bundle, MOUNTINFO))
    assert "unbindable" in mi["/"].optional, mi["/"].optional
    assert "/etc" in mi, [*mi]
    assert "/proc/keys" in mi, [*mi]


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


@pytest.mark.parametrize(("propagation", "seen"), [("rslave", True), ("slave", True),
                                                   ("rprivate", False)])
def test_rootfs_propagation_receives_host_mounts(fire: Fire, bundle: Bundle, tmp_path: Path,
                                                 propagation: str, seen: bool) -> None:
    """A mount made on the host under the rootfs after start reaches a slave root,
    not a private one.  The container waits for a plain file (visible either way)
    that the host writes once its mount is made."""
    shared = tmp_path / "shared"
    shared.mkdir()
    _mount("-t", "tmpfs", "tmpfs", str(shared))
    try:
        _mount("--make-shared", str(shared))
        rootfs = shared / "rootfs"
        shutil.copytree(bundle.rootfs, rootfs, symlinks=True)
        (rootfs / "probe").mkdir()
        bundle.config["root"] = {"path": str(rootfs), "readonly": True}
        bundle.config["linux"]["rootfsPropagation"] = propagation
        bundle.args("sh", "-c", "while [ ! -e /done ]; do sleep 0.05; done; "
                    "[ -e /probe/flag ] && echo seen || echo unseen").write()
        out_path = tmp_path / "out"
        with open(out_path, "w") as out:
            proc = fire.popen("run", "-b", str(bundle.path), fire.unique_id(), stdout=out)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not _running_under(fire):
                time.sleep(0.02)
            probe = rootfs / "probe"
            _mount("-t", "tmpfs", "tmpfs", str(probe))
            (probe / "flag").write_text("")
            (rootfs / "done").write_text("")
            assert proc.wait(timeout=60) == 0
        subprocess.run(["umount", str(probe)], check=True)
        assert out_path.read_text().strip() == ("seen" if seen else "unseen")
    finally:
        subprocess.run(["umount", "-R", "-l", str(shared)], check=False)


def _running_under(fire: Fire) -> bool:
    r = fire("list", "--format", "json")
    return r.code == 0 and any(c["status"] == "running" for c in r.json())


# ----------------------------------------------------------------------------- sysctl


def test_namespaced_sysctls(fire: Fire, bundle: Bundle) -> None:
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_forward = f.read()
    with open("/proc/sys/kernel/shmmni") as f:
        host_shmmni = f.read()
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234",
                                        "net.ipv4.ping_group_range": "0 0"}
    out = sh(fire, bundle, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni")
    assert out.split() == ["1", "1234"]
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read() == host_forward
    with open("/proc/sys/kernel/shmmni") as f:
        assert f.read() == host_shmmni


def test_a_host_sysctl_is_refused(fire: Fire, bundle: Bundle) -> None:
    bundle.config["linux"]["sysctl"] = {"vm.swappiness": "10"}
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1
    assert "$.linux.sysctl.vm.swappiness" in r.err
    assert cgroup_dirs_of(cid) == []


def _use_network_namespace(bundle: Bundle, path: str) -> None:
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "network"
    ] + [{"type": "network", "path": path}]


def test_net_sysctls_in_a_joined_network_namespace(fire: Fire, bundle: Bundle) -> None:
    """A Kubernetes pod's sandbox joins the network namespace the CNI set up (by
    path) and sets the pod's net.* sysctls in it: that namespace is not the host's."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "100"])
    try:
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline, "unshare --net did not run"
            time.sleep(0.01)
        _use_network_namespace(bundle, f"/proc/{holder.pid}/ns/net")
        bundle.config["linux"]["sysctl"] = {"net.ipv4.ping_group_range": "0 0"}
        out = sh(fire, bundle, "cat /proc/sys/net/ipv4/ping_group_range")
        assert out.split() == ["0", "0"]
        # /proc/sys/net shows the reader's network namespace: read it from inside.
        seen = subprocess.run(["nsenter", f"--net=/proc/{holder.pid}/ns/net", "cat",
                               "/proc/sys/net/ipv4/ping_group_range"],
                              capture_output=True, text=True, check=True).stdout
        assert seen.split() == ["0", "0"]
    finally:
        holder.kill()
        holder.wait()


def test_net_sysctls_in_the_hosts_network_namespace_are_refused(fire: Fire, bundle: Bundle
                                                                ) -> None:
    with open("/proc/sys/net/ipv4/ping_group_range") as f:
        host_range = f.read()
    _use_network_namespace(bundle, f"/proc/{os.getpid()}/ns/net")
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ping_group_range": "0 0"}
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 1, r
    assert r.err.strip().endswith("$.linux.sysctl.net.ipv4.ping_group_range: not allowed in "
                                  "the runtime's own network namespace"), r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert cgroup_dirs_of(cid) == []
    assert fire("state", cid).code != 0
    with open("/proc/sys/net/ipv4/ping_group_range") as f:
        assert f.read() == host_range
