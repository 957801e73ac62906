"""seccomp in real containers: the filter the kernel runs is the one the config
describes, it is in place before the program's first instruction, and Fire's own
calls after loading it are the ones the runtime checked."""

from __future__ import annotations

import errno
import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from tests.security.helpers import SeccompAgent, caps_of

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def with_seccomp(bundle: Bundle, *rules: dict[str, Any], **extra: Any) -> Bundle:
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                         "syscalls": list(rules), **extra}
    return bundle


def run(fire: Fire, bundle: Bundle, *argv: str) -> Any:
    bundle.args(*argv).write()
    return fire("run", "-b", str(bundle.path), fire.unique_id())


def test_argument_conditions_are_applied_by_the_kernel(fire: Fire, bundle: Bundle) -> None:
    # kill(pid, 0) is refused, any other signal is not.
    with_seccomp(bundle, {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": errno.EXDEV,
                          "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]})
    r = run(fire, bundle, "sh", "-c", "kill -0 $$ && echo zero-ok; kill -CONT $$ && echo cont-ok")
    assert r.code == 0, r
    assert "cont-ok" in r.out
    assert "zero-ok" not in r.out
    assert os.strerror(errno.EXDEV) in r.err


@pytest.mark.parametrize("nnp", [True, False])
def test_the_filter_is_in_before_the_program_and_no_capability_is_added(
        fire: Fire, bundle: Bundle, nnp: bool) -> None:
    """Without no_new_privs the init keeps CAP_SYS_ADMIN to load the filter: the
    program, here uid 1000 and uid 0, must not have it."""
    with_seccomp(bundle, {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"})
    bundle.process["noNewPrivileges"] = nnp
    for uid in (1000, 0):
        bundle.process["user"] = {"uid": uid, "gid": uid}
        r = run(fire, bundle, "cat", "/proc/self/status")
        assert r.code == 0, r
        caps = caps_of(r.out)
        assert caps["Seccomp"] == "2"
        assert caps["NoNewPrivs"] == ("1" if nnp else "0")
        expected = "0000000000000000" if uid else "0000000020000420"  # runc spec's three
        assert caps["CapEff"] == caps["CapPrm"] == expected, (uid, caps)
        assert caps["CapBnd"] == "0000000020000420"
        assert caps["CapAmb"] == "0000000000000000"


def test_kill_process_exit_code(fire: Fire, bundle: Bundle) -> None:
    with_seccomp(bundle, {"names": ["getcwd"], "action": "SCMP_ACT_KILL_PROCESS"})
    assert run(fire, bundle, "pwd").code == 128 + 31


def test_log_action_and_flags_let_the_call_through(fire: Fire, bundle: Bundle) -> None:
    with_seccomp(bundle, {"names": ["getcwd"], "action": "SCMP_ACT_LOG"},
                 flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                        "SECCOMP_FILTER_FLAG_TSYNC"])
    r = run(fire, bundle, "pwd")
    assert (r.code, r.out) == (0, "/\n"), r


def test_unknown_syscalls_warn_and_the_rest_applies(fire: Fire, bundle: Bundle) -> None:
    with_seccomp(bundle, {"names": ["frobnicate", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"})
    bundle.config["root"]["readonly"] = False
    bundle.own_rootfs()
    r = run(fire, bundle, "mkdir", "/tmp/x")
    assert r.code == 1
    assert "unknown system call frobnicate, skipped" in r.err
    assert "Operation not permitted" in r.err
    assert not (bundle.rootfs / "tmp/x").exists()


def test_a_docker_sized_allow_list(fire: Fire, bundle: Bundle) -> None:
    from tests.security.test_seccomp_compile import all_native_syscalls

    allowed = [n for n in all_native_syscalls() if n not in ("mkdir", "mkdirat")]
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]}
    r = run(fire, bundle, "sh", "-c", "echo in; mkdir /tmp/y")
    assert r.out == "in\n", r
    assert os.strerror(errno.ENOSYS) in r.err


def test_a_filter_that_would_block_execve_fails_create(fire: Fire, bundle: Bundle) -> None:
    with_seccomp(bundle, {"names": ["execve"], "action": "SCMP_ACT_ERRNO"})
    r = run(fire, bundle, "true")
    assert r.code == 1
    assert "execve" in r.err
    assert "$.linux.seccomp" in r.err


def test_notify_hands_the_listener_and_state_to_listener_path(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    sock = tmp_path / "agent.sock"
    agent = SeccompAgent(sock, errno.EXDEV)
    try:
        with_seccomp(bundle, {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"},
                     listenerPath=str(sock), listenerMetadata="MKNOD=/dev/null")
        bundle.config["annotations"] = {"k": "v"}
        bundle.args("sh", "-c", "mkdir /tmp/n; echo done").write()
        cid = fire.unique_id()
        r = fire("run", "-b", str(bundle.path), cid)
    finally:
        agent.close()
    assert r.code == 0, r
    assert os.strerror(errno.EXDEV) in r.err, "the agent answered the notified mkdir"
    assert agent.notified, "the agent received the notification"
    state = agent.state
    assert state is not None
    assert state["fds"] == ["seccompFd"]
    assert agent.received_fds == 1
    assert state["metadata"] == "MKNOD=/dev/null"
    assert state["ociVersion"] == "1.3.0"
    assert state["state"]["id"] == cid
    assert state["state"]["pid"] == state["pid"] > 0
    assert state["state"]["bundle"] == str(bundle.path)
    assert state["state"]["annotations"] == {"k": "v"}


def test_notify_without_an_agent_fails_start_and_leaves_nothing(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    with_seccomp(bundle, {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                 listenerPath=str(tmp_path / "nobody.sock"))
    bundle.args("true").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    r = fire("start", cid)
    assert r.code == 1
    assert "listenerPath" in r.err
    assert "nobody.sock" in r.err
    _stopped_and_deleted(fire, cid)


@pytest.mark.parametrize("filtered", [True, False])
def test_an_execve_failure_after_the_filter_is_reported(fire: Fire, bundle: Bundle,
                                                        filtered: bool) -> None:
    """The program vanishes between create and start: the init reports the failed
    execve with the one call it may still make under the filter (sendmsg)."""
    if filtered:
        with_seccomp(bundle, {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"})
    rootfs = bundle.own_rootfs()
    os.link(rootfs / "bin/busybox", rootfs / "prog")
    bundle.args("/prog", "true").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    (rootfs / "prog").unlink()
    r = fire("start", cid)
    assert r.code == 1
    assert 'exec: "/prog": no such file or directory' in r.err, r
    _stopped_and_deleted(fire, cid)


def _stopped_and_deleted(fire: Fire, cid: str) -> None:
    """After a failed start the container is kept, stopped, for ``delete`` (as runc and
    crun keep it: docs/conformance.md, start #8); delete then leaves nothing."""
    r = fire("state", cid)
    assert r.code == 0, r
    assert json.loads(r.out)["status"] == "stopped"
    assert fire("delete", cid).code == 0
    assert fire("state", cid).code == 1


def test_a_non_root_user_without_a_capabilities_object(fire: Fire, bundle: Bundle) -> None:
    """No capabilities object: the kernel's rule (uid 1000 ends with none), and the
    filter still loads without no_new_privs."""
    with_seccomp(bundle, {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"})
    bundle.process["noNewPrivileges"] = False
    del bundle.process["capabilities"]
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    r = run(fire, bundle, "cat", "/proc/self/status")
    assert r.code == 0, r
    caps = caps_of(r.out)
    assert caps["Seccomp"] == "2"
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapAmb"] == "0000000000000000", caps
