"""Compiling ``linux.seccomp`` to a BPF program, in the runtime, with libseccomp.

The runtime does all the work: names become numbers, rules become one classic-BPF
program (``seccomp_export_bpf``), and the init later loads those bytes with a
single ``seccomp(2)`` call: it never imports libseccomp, and nothing of the
container's filesystem is involved.

Rules, as runtime-spec 1.3 and runc have them:

* ``errnoRet``/``defaultErrnoRet`` default to EPERM, and are an error on an action
  that returns no errno.
* An unknown system call name is a warning and is skipped (libseccomp would only
  say EINVAL); a rule whose action equals the default action is skipped (libseccomp
  refuses it, and it changes nothing).
* Several conditions on the *same* argument are ORed (one rule each, as runc
  does); conditions on different arguments are ANDed (one rule).
* ``SCMP_CMP_MASKED_EQ`` compares ``arg & value`` with ``valueTwo``.
* ``flags``: LOG, SPEC_ALLOW and WAIT_KILLABLE_RECV go to seccomp(2); TSYNC is
  accepted and has nothing to do (the init is single-threaded).  An unknown flag,
  or one this kernel does not support, is an error naming it.

Finally the program is asked (``fire.seccomp.bpf``) what it does to the calls the
init makes *after* loading it (see ``fire.init.process``): ``execve`` always, and
``sendmsg``/``recvfrom`` when a notify listener is handed over.  A filter that
would break them is refused here, at create, with the call named, rather than
failing half-way through ``start``.
"""

from __future__ import annotations

import os
import sys

# The create path has msgspec loaded already (the config model): no extra cost.
import msgspec

from fire.errors import ConfigError
from fire.i18n import message
from fire.seccomp import bpf
from fire.seccomp import names as n

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from fire.init.plan import SeccompPlan
    from fire.spec.config import Seccomp, SeccompArg, Spec

# The kernel's limit on a classic BPF program (BPF_MAXINSNS).
MAX_INSTRUCTIONS = 4096

# What the init calls once the filter is in: execve; and, to hand a notify listener
# over on exec.sock, sendmsg then recv (recvfrom).  fire.init.process uses exactly
# these.
CALLS_AFTER_LOAD = ("execve",)
CALLS_FOR_LISTENER = ("sendmsg", "recvfrom")
_OK_AFTER_LOAD = {n.RET_ALLOW, n.RET_LOG}


class Compiled:
    """A compiled filter: the program, the seccomp(2) flags, and whether it has a
    notify listener to hand over."""

    __slots__ = ("bpf", "flags", "notify", "warnings")

    def __init__(self, program: bytes, flags: int, notify: bool, warnings: list[str]) -> None:
        self.bpf = program
        self.flags = flags
        self.notify = notify
        self.warnings = warnings


def _pyseccomp() -> Any:
    """Import pyseccomp (20 ms of the create path: only when a config has seccomp)."""
    import pyseccomp

    return pyseccomp


def default_action(seccomp: Seccomp, where: str) -> int:
    name = seccomp.default_action
    if seccomp.default_errno_ret is not None and name not in n.WITH_ERRNO:
        raise ConfigError(f"{where}.defaultErrnoRet",
                          "{action} returns no errno; defaultErrnoRet cannot be used with it",
                          action=name)
    if seccomp.default_errno_ret is not None and seccomp.default_errno_ret > n.RET_DATA:
        raise ConfigError(f"{where}.defaultErrnoRet", "{value} does not fit in 16 bits",
                          value=seccomp.default_errno_ret)
    if name == "SCMP_ACT_NOTIFY":
        raise ConfigError(f"{where}.defaultAction",
                          "SCMP_ACT_NOTIFY cannot be the default action: every system call, "
                          "including the ones that hand the listener over, would wait for it")
    return n.action_value(name, seccomp.default_errno_ret)


def filter_flags(seccomp: Seccomp, where: str, notify: bool) -> int:
    from fire.syscalls.proc import seccomp_flags_supported

    flags = 0
    for i, name in enumerate(seccomp.flags or []):
        value = n.FLAGS.get(name)
        if value is None:
            raise ConfigError(f"{where}.flags[{i}]",
                              "unknown seccomp flag {flag!r} (Fire knows {known})", flag=name,
                              known=", ".join(n.FLAGS))
        if value == n.FLAG_TSYNC:
            continue
        probe = value | (n.FLAG_NEW_LISTENER if value == n.FLAG_WAIT_KILLABLE_RECV else 0)
        if not seccomp_flags_supported(probe):
            raise ConfigError(f"{where}.flags[{i}]", "{flag} is not supported by this kernel",
                              flag=name)
        if value == n.FLAG_WAIT_KILLABLE_RECV and not notify:
            continue  # only meaningful with a listener; the kernel refuses it alone
        flags |= value
    if notify:
        flags |= n.FLAG_NEW_LISTENER
    return flags


def compile_seccomp(seccomp: Seccomp, where: str = "$.linux.seccomp") -> Compiled:
    """Compile ``linux.seccomp``; raises ``ConfigError`` naming the JSON path."""
    warnings: list[str] = []
    default = default_action(seccomp, where)
    sc = _pyseccomp()
    try:
        filt = sc.SyscallFilter(default)
    except OSError as exc:
        raise ConfigError(f"{where}.defaultAction", "libseccomp refuses {action}: {reason}",
                          action=seccomp.default_action, reason=exc.strerror) from None
    for i, arch in enumerate(seccomp.architectures or []):
        token = n.ARCHES.get(arch)
        if token is None:
            raise ConfigError(f"{where}.architectures[{i}]", "unknown architecture {arch!r}",
                              arch=arch)
        try:
            filt.add_arch(token)
        except OSError as exc:
            if exc.errno != 17:  # EEXIST: the native one is always there
                raise ConfigError(f"{where}.architectures[{i}]",
                                  "libseccomp cannot add {arch}: {reason}", arch=arch,
                                  reason=exc.strerror) from None
    notify = False
    for i, rule in enumerate(seccomp.syscalls or []):
        at = f"{where}.syscalls[{i}]"
        if rule.errno_ret is not None and rule.action not in n.WITH_ERRNO:
            raise ConfigError(f"{at}.errnoRet",
                              "{action} returns no errno; errnoRet cannot be used with it",
                              action=rule.action)
        if rule.errno_ret is not None and rule.errno_ret > n.RET_DATA:
            raise ConfigError(f"{at}.errnoRet", "{value} does not fit in 16 bits",
                              value=rule.errno_ret)
        if not rule.names:
            raise ConfigError(f"{at}.names", "must name at least one system call")
        action = n.action_value(rule.action, rule.errno_ret)
        if action == default:
            continue
        notify = notify or rule.action == "SCMP_ACT_NOTIFY"
        conditions = _conditions(sc, rule.args or [], at, warnings)
        for j, name in enumerate(rule.names):
            nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
            if nr == -1:  # __NR_SCMP_ERROR: no architecture knows the name
                warnings.append(message("{where}: unknown system call {name}, skipped",
                                        where=f"{at}.names[{j}]", name=name))
                continue
            for group in conditions:
                try:
                    filt.add_rule(action, nr, *group)
                except OSError as exc:
                    raise ConfigError(at, "libseccomp refuses the rule for {name}: {reason}",
                                      name=name, reason=exc.strerror) from None
    if notify and not seccomp.listener_path:
        raise ConfigError(f"{where}.listenerPath",
                          "SCMP_ACT_NOTIFY is used: a listenerPath must receive the listener")
    if seccomp.listener_metadata and not seccomp.listener_path:
        raise ConfigError(f"{where}.listenerMetadata", "must not be set without listenerPath")
    flags = filter_flags(seccomp, where, notify)
    program = _export(filt)
    if len(program) // 8 > MAX_INSTRUCTIONS:
        raise ConfigError(where, "the compiled filter has {count} instructions; the kernel "
                          "accepts {limit} at most", count=len(program) // 8,
                          limit=MAX_INSTRUCTIONS)
    check_calls_after_load(sc, program, notify, where)
    return Compiled(program, flags, notify, warnings)


def _conditions(sc: Any, args: list[SeccompArg], at: str, warnings: list[str]
                ) -> list[tuple[Any, ...]]:
    """The argument conditions as groups, one rule per group (see the module doc)."""
    built: list[tuple[int, Any]] = []
    for k, arg in enumerate(args):
        op = n.OPERATORS[arg.op]
        if arg.op == "SCMP_CMP_MASKED_EQ":
            cond = sc.Arg(arg.index, op, arg.value, arg.value_two)
        else:
            if arg.value_two:
                warnings.append(message("{where}: only SCMP_CMP_MASKED_EQ uses it; ignored",
                                        where=f"{at}.args[{k}].valueTwo"))
            cond = sc.Arg(arg.index, op, arg.value)
        built.append((arg.index, cond))
    if not built:
        return [()]
    indexes = [index for index, _ in built]
    if len(set(indexes)) != len(indexes):
        return [(cond,) for _, cond in built]
    return [tuple(cond for _, cond in built)]


class _Fd:
    """What ``export_bpf`` writes to: anything with ``fileno()``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


def _export(filt: Any) -> bytes:
    # A memfd, not a pipe: a large program would fill a pipe and block the writer.
    fd = os.memfd_create("fire-seccomp", os.MFD_CLOEXEC)
    try:
        filt.export_bpf(_Fd(fd))
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def check_calls_after_load(sc: Any, program: bytes, notify: bool, where: str) -> None:
    arch = sc.system_arch()
    calls = CALLS_AFTER_LOAD + (CALLS_FOR_LISTENER if notify else ())
    for name in calls:
        nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
        if nr < 0:
            continue
        result = bpf.run(program, nr, arch)
        full = result & n.RET_ACTION_FULL
        if full in _OK_AFTER_LOAD:
            continue
        if name == "execve" and full == n.RET_USER_NOTIF:
            continue  # the agent has the listener before the init calls execve
        if name == "execve":
            raise ConfigError(where, "the filter answers {call} with {action}, but Fire calls "
                              "{call} after loading it to start the container's program",
                              call=name, action=n.action_name(result))
        raise ConfigError(where, "the filter answers {call} with {action}, but Fire calls "
                          "{call} after loading it to hand the notify listener over",
                          call=name, action=n.action_name(result))


# ----------------------------------------------------------------------------- cache
#
# Engines pass the same profile to every create (podman's and containerd's defaults
# are ~350 rules): importing libseccomp and compiling cost ~22 ms here, as much as a
# whole runc create.  The result depends only on the profile, this compiler, and the
# kernel (the flags it accepts), so it is kept in ``--root/@seccomp/<sha256>``:
# root-only like the rest of --root, written atomically, pruned to CACHE_LIMIT
# entries.  Only successful compilations are kept; a damaged entry is recompiled.

CACHE_DIR = "@seccomp"
CACHE_LIMIT = 64


class _Record(msgspec.Struct, forbid_unknown_fields=True):
    """A cache entry."""

    bpf: bytes
    flags: int
    notify: bool
    warnings: list[str]


def _cache_key(seccomp: Seccomp) -> str:
    import hashlib

    from fire import __version__
    from fire.seccomp import features

    h = hashlib.sha256(b"fire-seccomp-cache-1\0" + __version__.encode())
    for module in (bpf, n, features, sys.modules[__name__]):
        with open(module.__file__ or "", "rb") as f:
            h.update(f.read())
    uname = os.uname()
    h.update(f"\0{uname.release}\0{uname.version}\0{uname.machine}\0".encode())
    h.update(msgspec.json.encode(seccomp))
    return h.hexdigest()


def _cache_read(path: str) -> Compiled | None:
    try:
        with open(path, "rb") as f:
            raw = msgspec.json.decode(f.read(), type=_Record)
    except (OSError, msgspec.DecodeError):
        return None
    return Compiled(raw.bpf, raw.flags, raw.notify, list(raw.warnings))


def _cache_write(directory: str, path: str, compiled: Compiled) -> None:
    record = _Record(bpf=compiled.bpf, flags=compiled.flags, notify=compiled.notify,
                     warnings=compiled.warnings)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        entries = sorted(os.scandir(directory), key=lambda e: e.stat().st_mtime)
        for entry in entries[: max(0, len(entries) - CACHE_LIMIT + 1)]:
            os.unlink(entry.path)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(msgspec.json.encode(record))
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time


def compile_cached(seccomp: Seccomp, root: str | None) -> Compiled:
    """``compile_seccomp`` through the cache in ``root`` (None: no cache)."""
    if root is None:
        return compile_seccomp(seccomp)
    directory = os.path.join(root, CACHE_DIR)
    path = os.path.join(directory, _cache_key(seccomp))
    cached = _cache_read(path)
    if cached is not None:
        return cached
    compiled = compile_seccomp(seccomp)
    _cache_write(directory, path, compiled)
    return compiled


def seccomp_plan(spec: Spec, bundle: str, cache_root: str | None = None
                 ) -> tuple[SeccompPlan | None, list[str]]:
    """The init's seccomp plan for ``spec`` (None without ``linux.seccomp``), and
    warnings to log."""
    linux = spec.linux
    if linux is None or linux.seccomp is None:
        return None, []
    seccomp = linux.seccomp
    compiled = compile_cached(seccomp, cache_root)
    path = ""
    if compiled.notify:
        assert seccomp.listener_path  # checked by compile_seccomp
        path = os.path.normpath(os.path.join(bundle, seccomp.listener_path))
    plan: SeccompPlan = {"bpf": compiled.bpf, "flags": compiled.flags, "listener_path": path,
                         "listener_metadata": seccomp.listener_metadata or ""}
    return plan, compiled.warnings
