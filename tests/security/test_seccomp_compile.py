"""Compiling ``linux.seccomp``: each rule of runtime-spec checked on the compiled
program itself, run by ``fire.seccomp.bpf`` (no kernel needed, no root)."""

from __future__ import annotations

import errno
from typing import Any

import msgspec
import pyseccomp
import pytest

from fire.errors import ConfigError
from fire.seccomp import bpf
from fire.seccomp import names as n
from fire.seccomp.compile import Compiled, compile_seccomp
from fire.seccomp.features import seccomp_features
from fire.spec.config import Seccomp

NATIVE = pyseccomp.system_arch()
X86 = n.ARCHES["SCMP_ARCH_X86"]


def compiled(doc: dict[str, Any]) -> Compiled:
    return compile_seccomp(msgspec.convert(doc, Seccomp))


def verdict(c: Compiled, name: str, *args: int, arch: int = NATIVE) -> str:
    nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name) if arch == NATIVE else \
        pyseccomp.resolve_syscall(arch, name)
    return n.action_name(bpf.run(c.bpf, nr, arch, args))


def refused(doc: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        compiled(doc)
    return info.value


def allow_with(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules), **extra}


def test_errno_defaults_to_eperm_and_errno_ret_is_used() -> None:
    c = compiled(allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                            {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 100}))
    assert verdict(c, "mkdir") == f"SCMP_ACT_ERRNO({errno.EPERM})"
    assert verdict(c, "mkdirat") == "SCMP_ACT_ERRNO(100)"
    assert verdict(c, "read") == "SCMP_ACT_ALLOW"


def test_mkdir_does_not_cover_mkdirat() -> None:
    c = compiled(allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}))
    assert verdict(c, "mkdirat") == "SCMP_ACT_ALLOW"


def test_default_errno_ret() -> None:
    c = compiled({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                  "syscalls": [{"names": ["read", "execve"], "action": "SCMP_ACT_ALLOW"}]})
    assert verdict(c, "write") == "SCMP_ACT_ERRNO(38)"
    assert verdict(c, "read") == "SCMP_ACT_ALLOW"


@pytest.mark.parametrize(("action", "expected"), [
    ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"),
    ("SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_THREAD"),
    ("SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_PROCESS"),
    ("SCMP_ACT_TRAP", "SCMP_ACT_TRAP"),
    ("SCMP_ACT_LOG", "SCMP_ACT_LOG"),
    ("SCMP_ACT_TRACE", "SCMP_ACT_TRACE(1)"),
])
def test_actions(action: str, expected: str) -> None:
    c = compiled(allow_with({"names": ["getcwd"], "action": action}))
    assert verdict(c, "getcwd") == expected


@pytest.mark.parametrize(("op", "value", "hits", "misses"), [
    ("SCMP_CMP_EQ", 5, [5], [4, 6, 5 | 1 << 32]),
    ("SCMP_CMP_NE", 5, [4, 5 | 1 << 32], [5]),
    ("SCMP_CMP_LT", 5, [0, 4], [5, 1 << 40]),
    ("SCMP_CMP_LE", 5, [5], [6]),
    ("SCMP_CMP_GE", 1 << 33, [1 << 33, 1 << 40], [(1 << 33) - 1]),
    ("SCMP_CMP_GT", 1 << 33, [(1 << 33) + 1], [1 << 33, 7]),
])
def test_argument_comparisons_are_64_bit(op: str, value: int, hits: list[int],
                                          misses: list[int]) -> None:
    c = compiled(allow_with({"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                             "args": [{"index": 0, "value": value, "op": op}]}))
    for arg in hits:
        assert verdict(c, "personality", arg) == "SCMP_ACT_ERRNO(1)", (op, arg)
    for arg in misses:
        assert verdict(c, "personality", arg) == "SCMP_ACT_ALLOW", (op, arg)


def test_masked_eq_compares_the_masked_argument_with_value_two() -> None:
    c = compiled(allow_with({"names": ["clone"], "action": "SCMP_ACT_ERRNO",
                             "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0x20000,
                                       "op": "SCMP_CMP_MASKED_EQ"}]}))
    assert verdict(c, "clone", 0x20000) == "SCMP_ACT_ERRNO(1)"
    assert verdict(c, "clone", 0x20000 | 0x11) == "SCMP_ACT_ERRNO(1)"  # bits outside the mask
    assert verdict(c, "clone", 0x20000 | 0x10000000) == "SCMP_ACT_ALLOW"
    assert verdict(c, "clone", 0) == "SCMP_ACT_ALLOW"


def test_conditions_on_one_argument_are_ored_on_different_arguments_anded() -> None:
    same = compiled(allow_with({"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}))
    assert verdict(same, "personality", 1) == verdict(same, "personality", 2) == \
        "SCMP_ACT_ERRNO(1)"
    assert verdict(same, "personality", 3) == "SCMP_ACT_ALLOW"
    both = compiled(allow_with({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
        {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}))
    assert verdict(both, "kill", 1, 9) == "SCMP_ACT_ERRNO(1)"
    assert verdict(both, "kill", 1, 15) == "SCMP_ACT_ALLOW"
    assert verdict(both, "kill", 2, 9) == "SCMP_ACT_ALLOW"


def test_value_two_without_masked_eq_is_a_warning() -> None:
    c = compiled(allow_with({"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                             "args": [{"index": 0, "value": 1, "valueTwo": 3,
                                       "op": "SCMP_CMP_EQ"}]}))
    assert any("valueTwo" in w for w in c.warnings)
    assert verdict(c, "personality", 1) == "SCMP_ACT_ERRNO(1)"


def test_unknown_syscall_is_a_warning_and_the_others_still_apply() -> None:
    c = compiled(allow_with({"names": ["no_such_call", "mkdir"], "action": "SCMP_ACT_ERRNO"}))
    assert c.warnings == ["$.linux.seccomp.syscalls[0].names[0]: unknown system call "
                          "no_such_call, skipped"]
    assert verdict(c, "mkdir") == "SCMP_ACT_ERRNO(1)"


def test_a_rule_equal_to_the_default_action_is_skipped() -> None:
    c = compiled({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},  # = default: libseccomp refuses it
        {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 17},  # not the default
        {"names": ["execve", "read"], "action": "SCMP_ACT_ALLOW"}]})
    assert verdict(c, "mkdir") == "SCMP_ACT_ERRNO(1)"
    assert verdict(c, "mkdirat") == "SCMP_ACT_ERRNO(17)"


def test_socketcall_style_names_of_other_architectures_are_accepted() -> None:
    c = compiled(allow_with({"names": ["socketcall", "mkdir"], "action": "SCMP_ACT_ERRNO"},
                            architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]))
    assert c.warnings == []
    assert verdict(c, "socketcall", arch=X86) == "SCMP_ACT_ERRNO(1)"
    assert verdict(c, "mkdir", arch=X86) == "SCMP_ACT_ERRNO(1)"


def test_an_architecture_not_listed_is_killed() -> None:
    c = compiled(allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}))
    assert n.action_name(bpf.run(c.bpf, 39, X86)) == "SCMP_ACT_KILL_THREAD"


@pytest.mark.parametrize(("doc", "where", "words"), [
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}),
     "$.linux.seccomp.syscalls[0].errnoRet", "returns no errno"),
    ({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1},
     "$.linux.seccomp.defaultErrnoRet", "returns no errno"),
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}),
     "$.linux.seccomp.syscalls[0].errnoRet", "16 bits"),
    (allow_with({"names": [], "action": "SCMP_ACT_ERRNO"}),
     "$.linux.seccomp.syscalls[0].names", "at least one"),
    (allow_with(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]),
     "$.linux.seccomp.architectures[1]", "SCMP_ARCH_Z80"),
    (allow_with(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TURBO"]),
     "$.linux.seccomp.flags[1]", "SECCOMP_FILTER_FLAG_TURBO"),
    ({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"},
     "$.linux.seccomp.defaultAction", "cannot be the default"),
    (allow_with({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}),
     "$.linux.seccomp.listenerPath", "listenerPath"),
    (allow_with(listenerMetadata="x"), "$.linux.seccomp.listenerMetadata", "listenerPath"),
])
def test_errors_name_the_field(doc: dict[str, Any], where: str, words: str) -> None:
    err = refused(doc)
    assert err.where == where
    assert words in str(err)


@pytest.mark.parametrize("call", ["execve"])
@pytest.mark.parametrize("action", ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"])
def test_a_filter_that_breaks_execve_is_refused_at_create(call: str, action: str) -> None:
    err = refused(allow_with({"names": [call], "action": action}))
    assert f"Fire calls {call} after loading it" in str(err)


@pytest.mark.parametrize("call", ["sendmsg", "recvfrom"])
def test_a_filter_that_breaks_the_listener_hand_over_is_refused(call: str) -> None:
    err = refused(allow_with({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                             {"names": [call], "action": "SCMP_ACT_NOTIFY"},
                             listenerPath="/run/agent.sock"))
    assert f"answers {call} with SCMP_ACT_NOTIFY" in str(err)
    # Without a listener to hand over, the same calls do not matter to Fire.
    compiled(allow_with({"names": [call], "action": "SCMP_ACT_ERRNO"}))


def test_notify_asks_for_a_listener_and_may_judge_execve() -> None:
    c = compiled(allow_with({"names": ["mkdir", "execve"], "action": "SCMP_ACT_NOTIFY"},
                            listenerPath="/run/agent.sock"))
    assert c.notify
    assert c.flags & n.FLAG_NEW_LISTENER
    assert verdict(c, "execve") == "SCMP_ACT_NOTIFY"


def test_flags() -> None:
    c = compiled(allow_with(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                   "SECCOMP_FILTER_FLAG_TSYNC",
                                   "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]))
    # TSYNC has nothing to do (one thread); WAIT_KILLABLE_RECV needs a listener.
    assert c.flags == 0x2 | 0x4


def all_native_syscalls() -> list[str]:
    names = []
    for nr in range(0, 1000):
        try:
            names.append(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, nr).decode())
        except ValueError:
            continue
    return names


def test_a_docker_sized_allow_list_compiles() -> None:
    allowed = [name for name in all_native_syscalls() if name not in ("mount", "reboot")]
    assert len(allowed) > 300
    c = compiled({"defaultAction": "SCMP_ACT_ERRNO",
                  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                  "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]})
    assert verdict(c, "read") == "SCMP_ACT_ALLOW"
    assert verdict(c, "mount") == "SCMP_ACT_ERRNO(1)"
    assert len(c.bpf) // 8 <= 4096


def test_features_report_what_the_compiler_and_kernel_support() -> None:
    f: dict[str, Any] = seccomp_features()
    assert f["enabled"] is True
    assert set(f["actions"]) == set(n.ACTIONS)
    assert f["operators"] == sorted(n.OPERATORS)
    assert "SCMP_ARCH_X86_64" in f["archs"]
    assert set(f["supportedFlags"]) <= set(f["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_LOG" in f["supportedFlags"]
    assert f["knownFlags"] == sorted(n.FLAGS)


def test_compiled_filters_are_cached_by_content(tmp_path: Any) -> None:
    from fire.seccomp.compile import CACHE_DIR, compile_cached

    doc = allow_with({"names": ["mkdir", "no_such_call"], "action": "SCMP_ACT_ERRNO"})
    first = compile_cached(msgspec.convert(doc, Seccomp), str(tmp_path))
    entries = list((tmp_path / CACHE_DIR).iterdir())
    assert len(entries) == 1
    again = compile_cached(msgspec.convert(doc, Seccomp), str(tmp_path))
    assert (again.bpf, again.flags, again.warnings) == (first.bpf, first.flags, first.warnings)
    assert again.warnings, "warnings are replayed from the cache"
    entries[0].write_bytes(b"{damaged")
    repaired = compile_cached(msgspec.convert(doc, Seccomp), str(tmp_path))
    assert repaired.bpf == first.bpf
    other = compile_cached(msgspec.convert(allow_with({"names": ["mkdir"],
                                                       "action": "SCMP_ACT_KILL"}), Seccomp),
                           str(tmp_path))
    assert other.bpf != first.bpf
    assert len(list((tmp_path / CACHE_DIR).iterdir())) == 2
    with pytest.raises(ConfigError):  # errors are never cached
        compile_cached(msgspec.convert(allow_with({"names": ["execve"],
                                                   "action": "SCMP_ACT_KILL"}), Seccomp),
                       str(tmp_path))
    assert len(list((tmp_path / CACHE_DIR).iterdir())) == 2
