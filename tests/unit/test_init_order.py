"""The order of the init's setup, checked without root through the syscall seam
(fire.syscalls.kernel) and its recording double (tests/unit/fakekernel.py).

The plan is built the way ``fire create`` builds it (fire.container.plan.build,
from the default config.json) against a temp-dir rootfs; the init's own setup
methods run with a ``FakeKernel``.  What the double cannot show (that the kernel
accepts these calls) the integration tests check as root.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import TYPE_CHECKING, Any

import pytest

from fire.container import plan as planner
from fire.errors import InitError
from fire.init import messages as msg
from fire.init.channel import Channel
from fire.init.main import Init, failure
from fire.spec.default import default_spec
from fire.spec.load import decode_spec
from fire.syscalls import KernelError
from tests.unit.fakekernel import FakeKernel

if TYPE_CHECKING:
    from pathlib import Path

MOUNT_OPS = ("mount", "move_mount", "pivot_root", "umount")


def make_plan(tmp: Path, edit: Any = None) -> Any:
    config = json.loads(json.dumps(default_spec(args=["true"], terminal=False)))
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    config["mounts"].append({"destination": "/data", "type": "bind", "source": str(data),
                             "options": ["rbind", "ro"]})
    config["mounts"].append({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                             "options": ["nosuid"]})
    config["hostname"] = "box"
    if edit is not None:
        edit(config)
    rootfs = tmp / "rootfs"
    for d in ("proc/acpi", "proc/bus", "proc/sys", "sys/firmware", "dev"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    (rootfs / "proc/sysrq-trigger").touch()
    cg = tmp / "cgroup"
    cg.mkdir(exist_ok=True)
    plan, _ = planner.build(decode_spec(json.dumps(config).encode()), cid="order",
                            bundle=str(tmp), state_dir=str(tmp), rootfs=str(rootfs),
                            cgroups=[{"name": "", "fstype": "cgroup2", "options": "",
                                      "host_path": str(cg), "links": []}])
    plan["bind_devices"] = False  # whatever namespace the test runs in: mknod
    return plan


@pytest.fixture
def chan() -> Any:
    ours, theirs = Channel.pair()
    other = Channel(theirs)
    yield ours, other
    ours.close()
    other.close()


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def run_setup(init: Init) -> None:
    """The init's setup from the namespaces to the read-only paths (Init.run
    without the fork, the runtime's hooks, the pty and execve)."""
    init.namespaces()
    rootfd = init.build_tree()
    rootfd = init.enter_tree(rootfd)
    try:
        init.seal_tree()
    finally:
        os.close(rootfd)


# ----------------------------------------------------------------- namespaces


def test_joined_user_namespace_first_then_setns_then_one_unshare(tmp_path: Path, chan: Any
                                                                  ) -> None:
    for name in ("userns", "netns"):
        (tmp_path / name).touch()

    def edit(config: dict[str, Any]) -> None:
        config["linux"]["namespaces"] = [
            {"type": "pid"}, {"type": "network", "path": str(tmp_path / "netns")},
            {"type": "mount"}, {"type": "uts"}, {"type": "user", "path": str(tmp_path / "userns")},
        ]

    k = FakeKernel(str(tmp_path / "rootfs"))
    before = open_fds()
    Init(chan[0], make_plan(tmp_path, edit), k=k).namespaces()
    assert k.calls == [
        ("open", str(tmp_path / "netns")), ("open", str(tmp_path / "userns")),
        ("setns", str(tmp_path / "userns")),
        ("setresgid", "0"), ("setresuid", "0"),
        ("setns", str(tmp_path / "netns")),
        ("unshare", "pid,mount,uts"),
    ]
    assert open_fds() == before  # the namespace files are closed


def test_new_user_namespace_waits_for_its_maps_then_unshares_the_rest(tmp_path: Path,
                                                                     chan: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["namespaces"].append({"type": "user"})

    k = FakeKernel(str(tmp_path / "rootfs"))
    msg.put(chan[1], msg.Ok())  # the runtime's answer once it wrote the maps
    Init(chan[0], make_plan(tmp_path, edit), k=k).namespaces()
    assert k.calls == [
        ("unshare", "user"),
        ("prctl(PR_SET_DUMPABLE)", "1"), ("prctl(PR_SET_DUMPABLE)", "0"),
        ("setresgid", "0"), ("setresuid", "0"),
        ("unshare", "pid,network,mount,ipc,uts,cgroup"),
        ("loopback_up", "lo"),
    ]
    sent, _ = msg.get(chan[1])
    assert isinstance(sent, msg.Idmap)


# ----------------------------------------------------------------- the tree


def test_mount_order_from_the_root_to_the_masks(tmp_path: Path, chan: Any) -> None:
    plan = make_plan(tmp_path)
    rootfs = plan["rootfs"]
    k = FakeKernel(rootfs)
    before = open_fds()
    run_setup(Init(chan[0], plan, k=k))
    assert open_fds() == before
    mounts = [(op, path) for op, path in k.calls if op in MOUNT_OPS]
    spec_mounts = [mp["dest"] for mp in plan["mounts"]]
    assert spec_mounts == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                           "/sys/fs/cgroup", "/data", "/run"]
    assert mounts == [
        ("mount", "/"), ("mount", rootfs),  # "/" rslave, the rootfs bound onto itself
        *[("mount", d) for d in spec_mounts[:7]],  # /sys/fs/cgroup: in its own cgroupns
        ("move_mount", "/data"),  # the bind: a clone of the source moved into place
        ("mount", "/run"),
        ("pivot_root", "."), ("mount", "old root"), ("umount", "."),
        # runc's order: read-only paths, then the masks
        ("move_mount", "/proc/bus"), ("move_mount", "/proc/sys"),
        ("move_mount", "/proc/sysrq-trigger"),
        ("move_mount", "/proc/acpi"), ("move_mount", "/sys/firmware"),
    ]
    # /dev between the mounts and pivot_root: its nodes, then its links
    first_dev = k.calls.index(("mknod", "/dev/null"))
    assert first_dev > k.calls.index(("mount", "/run"))
    assert first_dev < k.calls.index(("pivot_root", "."))
    assert [p for op, p in k.ops("mknod")] == ["/dev/null", "/dev/zero", "/dev/full",
                                               "/dev/random", "/dev/urandom", "/dev/tty"]
    assert k.ops("sethostname") == [("sethostname", "box")]
    assert k.calls.index(("sethostname", "box")) < k.calls.index(("pivot_root", "."))
    # a bind and the read-only paths are read-only before they move into place
    for dest in ("/data", "/proc/bus"):
        ro = k.calls.index(("mount_setattr", dest))
        assert k.calls[ro + 1:].index(("move_mount", dest)) >= 0
        assert k.calls.index(("move_mount", dest)) > ro
    # root.readonly: "/" is made read-only last, after the masks
    assert k.calls[-1] == ("mount_setattr", "/")


def test_chroot_without_a_mount_namespace(tmp_path: Path, chan: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["namespaces"] = [{"type": "pid"}]

    plan = make_plan(tmp_path, edit)
    k = FakeKernel(plan["rootfs"])
    run_setup(Init(chan[0], plan, k=k))
    assert k.ops("pivot_root", "chroot") == [("chroot", ".")]
    # the host's "/" is never touched: only the rootfs bind takes a propagation
    assert ("mount", "/") not in k.calls[:k.calls.index(("chroot", "."))]


# ----------------------------------------------------------------- fire.storage


def test_overlay_root_then_its_mount_points_then_the_config_mounts(tmp_path: Path, chan: Any
                                                                   ) -> None:
    plan = make_plan(tmp_path)
    rootfs = plan["rootfs"]
    plan["overlay"] = {"upper": str(tmp_path / "upper"), "work": str(tmp_path / "work"),
                       "userxattr": False, "tree": -1}
    plan["mountpoints"] = [("/vol", True)]
    k = FakeKernel(rootfs)
    run_setup(Init(chan[0], plan, k=k))
    proc = k.calls.index(("mount", "/proc"))
    assert [c for c in k.calls[:proc] if c[0] != "open" or c[1] in ("/vol", rootfs)] == [
        ("unshare", "pid,network,mount,ipc,uts,cgroup"), ("loopback_up", "lo"),
        ("mount", "/"),  # rslave before anything is mounted
        ("fsopen", "overlay"), ("fsconfig", f"lowerdir+={rootfs}"),
        ("fsconfig", f"upperdir={tmp_path}/upper"), ("fsconfig", f"workdir={tmp_path}/work"),
        ("fsconfig create", ""), ("fsmount", ""), ("move_mount", rootfs),  # on the rootfs path
        ("open", rootfs),
        # missing, so made in the (writable) overlay: mkdir -p looks, makes, opens
        ("open", "/vol"), ("open", "/vol"), ("open", "/vol"),
    ]


def test_read_only_image_gets_a_scratch_overlay_for_its_mount_points(tmp_path: Path,
                                                                      chan: Any) -> None:
    plan = make_plan(tmp_path)
    assert plan["root_readonly"]
    (tmp_path / "rootfs/etc").mkdir()
    plan["mountpoints"] = [("/etc/hosts", False)]
    k = FakeKernel(plan["rootfs"])
    run_setup(Init(chan[0], plan, k=k))
    proc = k.calls.index(("mount", "/proc"))
    bind = k.calls.index(("mount", plan["rootfs"]))
    assert [c for c in k.calls[bind + 1:proc] if c[0] != "open"] == [
        ("fsopen", "tmpfs"), ("fsconfig", "size=1m"), ("fsconfig", "mode=0755"),
        ("fsconfig create", ""), ("fsmount", ""),
        ("fsopen", "overlay"), ("fsconfig", "lowerdir+=/etc"),
        ("fsconfig", "upperdir=mount:/upper"), ("fsconfig", "workdir=mount:/work"),
        ("fsconfig create", ""), ("fsmount", ""), ("move_mount", "/etc"),
        ("mount_setattr", "/etc"),  # read-only again once the mount point is made
    ]
    assert (tmp_path / "rootfs/etc/hosts").is_file()


# ----------------------------------------------------------------- failures

# Failures the init tolerates by design: setresuid/setresgid (root not mapped:
# keep the namespace's capabilities), and reopen_null's open of /dev/null (no
# /dev/null in the container: stdio is left alone).
TOLERATED = {"setresuid", "setresgid"}


def test_a_failure_at_every_step_stops_the_setup_and_names_the_call(tmp_path: Path,
                                                                   chan: Any) -> None:
    for name in ("userns",):
        (tmp_path / name).touch()

    def edit(config: dict[str, Any]) -> None:
        config["linux"]["namespaces"].append({"type": "user", "path": str(tmp_path / "userns")})

    def make() -> Any:
        plan = make_plan(tmp_path, edit)
        (tmp_path / "rootfs/etc").mkdir()
        plan["mountpoints"] = [("/etc/hosts", False)]  # a scratch overlay on /etc
        return plan

    plan = make()
    clean = FakeKernel(plan["rootfs"])
    run_setup(Init(chan[0], plan, k=clean))
    reopen = max(i for i, c in enumerate(clean.calls) if c == ("open", "/dev/null"))
    assert len(clean.calls) > 60
    before = open_fds()
    for n, (op, path) in enumerate(clean.calls):
        shutil.rmtree(plan["rootfs"])  # each run from the same fresh rootfs
        k = FakeKernel(plan["rootfs"], fail_at=n)
        init = Init(chan[0], make(), k=k)
        if op in TOLERATED or n == reopen:
            run_setup(init)
            assert k.failed == (op, path)
            continue
        with pytest.raises((KernelError, InitError)) as info:
            run_setup(init)
        assert k.failed == (op, path), n
        assert k.calls == clean.calls[:n + 1], f"call {n} ({op} {path}): more calls after it"
        error = failure(init.stage, info.value)
        assert op in error.text, (n, error.text)
        assert path in error.text, (n, error.text)
        assert open_fds() == before, f"call {n} ({op} {path}): fds left open"


def test_fail_op_fails_the_first_call_of_that_op(tmp_path: Path, chan: Any) -> None:
    plan = make_plan(tmp_path)
    k = FakeKernel(plan["rootfs"], fail_op="pivot_root")
    init = Init(chan[0], plan, k=k)
    with pytest.raises(KernelError) as info:
        run_setup(init)
    assert k.calls[-1] == ("pivot_root", ".")
    error = failure(init.stage, info.value)
    assert (error.stage, error.errno, error.path) == ("pivot_root", 5, ".")
    assert error.text == "pivot_root: pivot_root .: Input/output error"


# ----------------------------------------------------------------- the runtime's turn


def test_the_init_does_not_wait_for_a_runtime_turn_with_nothing_to_do(tmp_path: Path,
                                                                      chan: Any) -> None:
    """No prestart/createRuntime hooks, no network devices: the runtime sends no
    answer (fire.container.create), so a waiting init would hang here."""
    plan = make_plan(tmp_path)
    assert plan["runtime_turn"] is False
    chan[0].sock.settimeout(2)
    Init(chan[0], plan, k=FakeKernel(plan["rootfs"])).runtime_turn()
    sent, _ = msg.get(chan[1])
    assert isinstance(sent, msg.Hooks)  # the runtime still reports its stages here


@pytest.mark.parametrize("edit", [
    lambda c: c.setdefault("hooks", {}).__setitem__("prestart", [{"path": "/bin/true"}]),
    lambda c: c.setdefault("hooks", {}).__setitem__("createRuntime", [{"path": "/bin/true"}]),
    lambda c: c["linux"].__setitem__("netDevices", {"dummy0": {}}),
], ids=["prestart", "createRuntime", "netDevices"])
def test_the_init_waits_for_a_runtime_turn_with_work(tmp_path: Path, chan: Any,
                                                     edit: Any) -> None:
    plan = make_plan(tmp_path, edit)
    assert plan["runtime_turn"] is True
    chan[0].sock.settimeout(0.2)
    init = Init(chan[0], plan, k=FakeKernel(plan["rootfs"]))
    with pytest.raises(TimeoutError):  # no answer yet: it waits
        init.runtime_turn()
    msg.put(chan[1], msg.Ok())
    chan[0].sock.settimeout(2)
    init.expect_ok()
