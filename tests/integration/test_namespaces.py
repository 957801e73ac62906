"""Each namespace, seen from inside the container (issue #2 §5)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import Bundle, Fire
from tests.integration.core_support import HOST_NS, host_ns, open_rootfs, sh, userns

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

__all__ = ["open_rootfs"]  # a fixture used here

PRINT_NS = "for n in " + " ".join(HOST_NS) + "; do echo $n $(readlink /proc/self/ns/$n); done"


def ns_inside(text: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in text.splitlines() if line)


def test_default_namespaces_differ_from_the_hosts(fire: Fire, bundle: Bundle) -> None:
    inside = ns_inside(sh(fire, bundle, PRINT_NS))
    # The default config: pid, network, ipc, uts, mount, cgroup are new.
    for kind in ("pid", "net", "mnt", "ipc", "uts", "cgroup"):
        assert inside[kind] != host_ns(kind), kind
    # user and time are not asked for: shared with the host.
    assert inside["user"] == host_ns("user")
    assert inside["time"] == host_ns("time")


def test_no_namespaces_but_mount_shares_the_hosts(fire: Fire, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"] = [{"type": "mount"}]
    bundle.config.pop("hostname")
    # The cgroup mount needs a cgroup namespace or binds the host's: keep it simple.
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["type"] not in ("cgroup", "sysfs")]
    inside = ns_inside(sh(fire, bundle, PRINT_NS))
    assert inside["mnt"] != host_ns("mnt")
    for kind in ("net", "ipc", "uts", "user", "cgroup", "time"):
        assert inside[kind] == host_ns(kind), kind


def _host_mounts_under(path: str) -> list[str]:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == real or p.startswith(real + "/")]


def test_no_namespaces_at_all_inherits_every_one(fire: Fire, bundle: Bundle) -> None:
    """The spec: an omitted namespace is the runtime's.  Without a mount namespace
    the rootfs and its mounts are made in the host's (the process is chrooted into
    it, as runc does); unlike runc, delete takes them all away again."""
    rootfs = str(bundle.own_rootfs())
    bundle.config["root"]["readonly"] = True  # a remount of its own bind, not the host's
    bundle.config["linux"]["namespaces"] = []
    bundle.config["linux"]["rootfsPropagation"] = "unbindable"
    bundle.config.pop("hostname")
    bundle.args("sh", "-c", PRINT_NS + "; ls -di / ; exec sleep 100").write()
    host_root = _root_line()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    assert _root_line() == host_root, "the host's / is left as it was"
    mounted = _host_mounts_under(rootfs)
    assert os.path.realpath(rootfs) + "/proc" in mounted, mounted
    assert fire("start", cid).code == 0
    pid = fire.state(cid)["pid"]
    for kind in HOST_NS:
        assert os.readlink(f"/proc/{pid}/ns/{kind}") == host_ns(kind), kind
    assert os.stat(f"/proc/{pid}/root").st_ino == os.stat(rootfs).st_ino
    r = fire("exec", cid, "ls", "-di", "/")
    assert r.code == 0, r
    assert r.out.split()[0] == str(os.stat(rootfs).st_ino), "exec is in the container's root"
    assert fire("exec", cid, "touch", "/x").code == 1, "the container's / is read-only"
    assert fire("delete", "--force", cid).code == 0
    assert _host_mounts_under(rootfs) == [], "delete unmounts what create mounted"
    assert _root_line() == host_root
    (bundle.rootfs / "x").write_text("")  # the host's rootfs directory is writable again


def _root_line() -> str:
    """The host's "/" in its mountinfo: options and propagation."""
    with open("/proc/self/mountinfo") as f:
        return next(" ".join(line.split()[4:]) for line in f if line.split()[4] == "/")


def test_no_mount_namespace_a_failed_create_leaves_no_mount(fire: Fire, bundle: Bundle
                                                            ) -> None:
    rootfs = str(bundle.own_rootfs())
    bundle.config["linux"]["namespaces"] = []
    bundle.config.pop("hostname")
    bundle.args("/no/such/program").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 1
    assert _host_mounts_under(rootfs) == []


def test_the_process_is_pid_1(fire: Fire, bundle: Bundle) -> None:
    out = sh(fire, bundle, "echo $$; echo /proc/[0-9]*")
    pid, procs = out.splitlines()
    assert pid == "1"
    assert procs == "/proc/1", "only the shell lives in the new pid namespace"


def test_hostname_and_domainname(fire: Fire, bundle: Bundle) -> None:
    bundle.config["hostname"] = "box-one"
    bundle.config["domainname"] = "example.test"
    out = sh(fire, bundle, "hostname; cat /proc/sys/kernel/domainname")
    assert out.split() == ["box-one", "example.test"]
    assert os.uname().nodename != "box-one"


def test_loopback_is_up_in_a_new_network_namespace(fire: Fire, bundle: Bundle) -> None:
    out = sh(fire, bundle, "cat /sys/class/net/lo/flags; ls /sys/class/net")
    flags, *links = out.split()
    assert int(flags, 16) & 0x1, "IFF_UP"
    assert links == ["lo"]


def test_joining_namespaces_by_path(fire: Fire, bundle: Bundle) -> None:
    first = fire.unique_id()
    bundle.config["hostname"] = "first"
    bundle.args("sleep", "60").write()
    assert fire("run", "-d", "-b", str(bundle.path), first).code == 0
    pid = fire.state(first)["pid"]
    other = Bundle(bundle.path.parent / "other", bundle.rootfs)
    other.path.mkdir()
    other.config.pop("hostname")
    other.config["linux"]["namespaces"] = [
        {"type": "mount"}, {"type": "pid"}, {"type": "cgroup"}, {"type": "ipc"},
        {"type": "network", "path": f"/proc/{pid}/ns/net"},
        {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
    ]
    out = sh(fire, other, "hostname; for n in net uts ipc; do readlink /proc/self/ns/$n; done")
    hostname, net, uts, ipc = out.split()
    assert hostname == "first"
    assert net == os.readlink(f"/proc/{pid}/ns/net")
    assert uts == os.readlink(f"/proc/{pid}/ns/uts")
    assert ipc != os.readlink(f"/proc/{pid}/ns/ipc")
    assert fire("delete", "--force", first).code == 0


def test_joining_a_pid_namespace_and_naming_a_joined_uts_by_path(fire: Fire, bundle: Bundle
                                                                  ) -> None:
    """setns(CLONE_NEWPID) moves only the caller's children: the init forks after
    joining, so the program lives in the joined pid namespace, beside the first
    container's processes (runtime-tools' linux_ns_path).  The hostname is set in a
    joined uts namespace, as runc does."""
    first = fire.unique_id()
    bundle.args("sleep", "60").write()
    assert fire("run", "-d", "-b", str(bundle.path), first).code == 0
    pid = fire.state(first)["pid"]
    other = Bundle(bundle.path.parent / "other", bundle.rootfs)
    other.path.mkdir()
    other.config["hostname"] = "joined"
    other.config["linux"]["namespaces"] = [
        {"type": "mount"}, {"type": "cgroup"}, {"type": "ipc"}, {"type": "network"},
        {"type": "pid", "path": f"/proc/{pid}/ns/pid"},
        {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
    ]
    out = sh(fire, other, "readlink /proc/self/ns/pid; cat /proc/1/cmdline | tr '\\0' ' '; "
                          "echo; echo $$; hostname")
    ns, first_cmdline, own_pid, hostname = out.splitlines()
    assert ns == os.readlink(f"/proc/{pid}/ns/pid") != host_ns("pid")
    assert first_cmdline.split() == ["sleep", "60"], "pid 1 is the first container's"
    assert int(own_pid) > 1
    assert hostname == "joined"
    assert os.uname().nodename != "joined"
    assert fire("delete", "--force", first).code == 0


def test_cgroup_namespace_shows_the_container_cgroup_as_root(fire: Fire, bundle: Bundle
                                                             ) -> None:
    out = sh(fire, bundle, "cat /proc/self/cgroup")
    paths = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in out.splitlines()}
    assert paths["memory"] == "/"
    assert paths["pids"] == "/"


def test_without_a_cgroup_namespace_the_host_path_shows(fire: Fire, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "cgroup"]
    cid = fire.unique_id()
    bundle.args("sh", "-c", "cat /proc/self/cgroup").write()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    paths = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in r.out.splitlines()}
    assert paths["memory"].endswith("/" + cid)


def test_user_namespace_maps_seen_from_the_host(fire: Fire, bundle: Bundle, open_rootfs: str
                                                ) -> None:
    userns(bundle, open_rootfs, host_id=100000, size=65536)
    cid = fire.unique_id()
    bundle.args("sleep", "60").write()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    pid = fire.state(cid)["pid"]
    with open(f"/proc/{pid}/uid_map") as f:
        assert f.read().split() == ["0", "100000", "65536"]
    with open(f"/proc/{pid}/gid_map") as f:
        assert f.read().split() == ["0", "100000", "65536"]
    assert os.readlink(f"/proc/{pid}/ns/user") != host_ns("user")
    assert os.stat(f"/proc/{pid}").st_uid == 100000, "the container's root is host uid 100000"
    assert fire("delete", cid).code == 0


def test_user_namespace_from_inside(fire: Fire, bundle: Bundle, open_rootfs: str) -> None:
    userns(bundle, open_rootfs)
    out = sh(fire, bundle, "id -u; cat /proc/self/uid_map; stat -c '%u %g' /bin/busybox")
    uid, *rest = out.split()
    assert uid == "0"
    assert rest[:3] == ["0", "100000", "65536"]
    # host root is not mapped: files it owns show as the overflow id.
    assert rest[3:] == ["65534", "65534"]


def test_time_namespace_with_offsets(fire: Fire, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"monotonic": {"secs": 86400, "nanosecs": 5},
                                             "boottime": {"secs": 172800}}
    with open("/proc/uptime") as f:
        host_uptime = float(f.read().split()[0])
    out = sh(fire, bundle, "readlink /proc/self/ns/time; cat /proc/self/timens_offsets "
             "/proc/uptime")
    lines = out.splitlines()
    assert lines[0] != host_ns("time")
    offsets = {line.split()[0]: line.split()[1:] for line in lines[1:3]}
    assert offsets == {"monotonic": ["86400", "5"], "boottime": ["172800", "0"]}
    inside_uptime = float(lines[3].split()[0])
    assert 172800 <= inside_uptime - host_uptime < 172800 + 60


def test_time_namespace_in_a_user_namespace(fire: Fire, bundle: Bundle, open_rootfs: str
                                            ) -> None:
    userns(bundle, open_rootfs)
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 1000}}
    out = sh(fire, bundle, "cat /proc/self/timens_offsets")
    assert "boottime" in out
    assert "1000" in out.split()


def test_ipc_namespace_is_private(fire: Fire, bundle: Bundle) -> None:
    """A System V segment made on the host is not visible inside."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ipc_private, ipc_creat, ipc_rmid = 0, 0o1000, 0
    shmid = libc.shmget(ipc_private, 4096, ipc_creat | 0o600)
    assert shmid >= 0
    try:
        with open("/proc/sysvipc/shm") as f:
            assert any(line.split()[1] == str(shmid) for line in f.readlines()[1:])
        out = sh(fire, bundle, "tail -n +2 /proc/sysvipc/shm | wc -l")
        assert int(out) == 0
    finally:
        libc.shmctl(shmid, ipc_rmid, None)
