"""The container's process: find the program, then become it.

``early`` runs first in the init (``oomScoreAdj``, while still in the host's user
namespace, where lowering it is judged); ``prepare`` runs before ``pivot_root``
(it opens the LSM label files through the host's procfs); ``find_program`` runs at
create time (a missing binary fails ``create`` with runc's wording), and so does
``set_rlimits``, just before the init reports ready (runc sets them then: a limit
the kernel refuses fails ``create``, not ``start``); ``become`` runs after
``start`` and ends in ``execve``.

The order in ``become``, and why:

1. rlimits, personality, CPU affinity, memory policy, I/O priority, scheduler,
   LSM labels: while still fully privileged (real-time classes and priorities need
   CAP_SYS_NICE/CAP_SYS_ADMIN); affinity before the scheduler, because a
   SCHED_DEADLINE task may not change its affinity.
2. The bounding set is dropped while CAP_SETPCAP is still effective.
3. uid/gid change with PR_SET_KEEPCAPS, so permitted survives it; then ``capset``.
4. The cwd is entered as the container's user, through
   ``openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)`` — a ``/proc/self/fd/N`` of a
   host directory is refused, not followed (CVE-2024-21626) — and checked with
   ``getcwd``.
5. Every fd above 2 (and the preserved ones) becomes close-on-exec; the signals
   Python ignores (SIGPIPE, SIGXFSZ) are reset, the mask cleared.
6. seccomp is loaded last, so that the container's filter judges as few of Fire's
   own calls as possible: after it only ``execve`` (and, with a notify listener,
   one ``sendmsg`` and one ``recv`` on exec.sock) — the runtime runs the compiled
   program on exactly those calls at create (``fire.seccomp.compile``) and refuses
   a filter that would break them.  Loading a filter needs no_new_privs or
   CAP_SYS_ADMIN: with ``noNewPrivileges`` the bit is already set; without it
   CAP_SYS_ADMIN is kept in the effective and permitted sets until the filter is
   in.  It needs no dropping afterwards: ``execve`` recomputes the sets from the
   bounding, inheritable and ambient sets (none of which holds it unless the config
   asks) — for uid 0 as for any other uid — so no call under the filter can leave
   the program with a capability the config did not grant.
"""

from __future__ import annotations

import _signal
import _socket
import errno
import marshal
import os
import posixpath
import resource
import stat
import sys

from fire.errors import InitError
from fire.i18n import N_
from fire.init.paths import open_in_root
from fire.security import lsm
from fire.spec.names import RLIMITS
from fire.syscalls import KernelError
from fire.syscalls import proc as p
from fire.syscalls.tty import set_controlling

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from fire.init.plan import ProcessPlan

SCHED_FIFO, SCHED_RR = 1, 2
CAP_SYS_ADMIN = 21
CAP_LAST = 40
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OOM_SCORE_ADJ = "/proc/self/oom_score_adj"


def env_value(env: list[str], key: str) -> str | None:
    prefix = key + "="
    for entry in reversed(env):
        if entry.startswith(prefix):
            return entry[len(prefix):]
    return None


# ----------------------------------------------------------------------------- early


def early(proc: ProcessPlan | None, path: str = OOM_SCORE_ADJ) -> None:
    """``oomScoreAdj``, before any namespace: inherited by every child, and judged
    in the host's user namespace (lowering it below the current value needs
    CAP_SYS_RESOURCE there).  Unset: left untouched."""
    if proc is None or proc["oom_score_adj"] is None:
        return
    value = proc["oom_score_adj"]
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise InitError("oomScoreAdj: {path}: {reason}", stage="oomScoreAdj", path=path,
                        reason=exc.strerror) from None
    try:
        current = os.read(fd, 32).decode().strip()
        try:
            os.write(fd, str(value).encode())
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise InitError("oomScoreAdj: cannot set oom_score_adj to {value}: lowering "
                                "it below the current {current} needs CAP_SYS_RESOURCE, which "
                                "this runtime does not have", stage="oomScoreAdj", value=value,
                                current=current) from None
            raise InitError("oomScoreAdj: cannot set oom_score_adj to {value}: {reason}",
                            stage="oomScoreAdj", value=value, reason=exc.strerror) from None
    finally:
        os.close(fd)


class Prepared:
    """What ``prepare`` opened before ``pivot_root``: (lsm, fd, label) to write."""

    def __init__(self) -> None:
        self.labels: list[tuple[str, int, str]] = []

    def close(self) -> None:
        for _, fd, _ in self.labels:
            os.close(fd)
        self.labels = []


def prepare(proc: ProcessPlan | None, procfs: str = "/proc") -> Prepared:
    """Open this process's exec-label files while ``/proc`` is still the host's
    (see fire.security.lsm).  Call it in the process that will ``execve``."""
    out = Prepared()
    if proc is None:
        return out
    for name, label in ((lsm.APPARMOR, proc["apparmor"]), (lsm.SELINUX, proc["selinux"])):
        if not label:
            continue
        try:
            fd = lsm.open_exec_attr(name, procfs)
        except OSError as exc:
            out.close()
            raise InitError("{lsm}: cannot open the exec label file: {reason}", stage=name,
                            lsm=name, reason=exc.strerror) from None
        out.labels.append((name, fd, label))
    return out


# ----------------------------------------------------------------------------- create


def _is_program(rootfd: int, path: str) -> int:
    """0 if ``path`` is an executable file inside the root, else an errno."""
    try:
        fd = open_in_root(rootfd, path)
    except KernelError as exc:
        return exc.errno or errno.ENOENT
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if stat.S_ISDIR(st.st_mode):
        return errno.EISDIR
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
        return errno.EACCES
    return 0


def find_program(rootfd: int, proc: ProcessPlan) -> str:
    """Resolve ``args[0]`` on the container's PATH (runc's ``LookPath`` rules)."""
    name = proc["args"][0]
    if "/" in name:
        path = name if name.startswith("/") else posixpath.join(proc["cwd"], name)
        err = _is_program(rootfd, path)
        if err:
            raise InitError('exec: "{name}": stat {name}: {reason}', stage="exec", name=name,
                            reason=os.strerror(err).lower())
        return name
    search = env_value(proc["env"], "PATH")
    if search is None:
        search = DEFAULT_PATH
    for directory in search.split(":"):
        candidate = posixpath.join(directory or ".", name)
        if not candidate.startswith("/"):
            candidate = posixpath.join(proc["cwd"], candidate)
        if _is_program(rootfd, candidate) == 0:
            return candidate
    raise InitError('exec: "{name}": executable file not found in $PATH', stage="exec",
                    name=name)


def home_of(rootfd: int, uid: int) -> str:
    """HOME for ``uid`` from the container's /etc/passwd (parsed here: no NSS)."""
    try:
        fd = open_in_root(rootfd, "/etc/passwd", os.O_RDONLY)
    except KernelError:
        return "/"
    try:
        data = b""
        while len(data) < (1 << 20) and (chunk := os.read(fd, 65536)):
            data += chunk
    finally:
        os.close(fd)
    for line in data.decode(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 6 and fields[2].isdigit() and int(fields[2]) == uid:
            return fields[5] or "/"
    return "/"


# ----------------------------------------------------------------------------- start


def _enter_cwd(rootfd: int, cwd: str) -> None:
    try:
        fd = open_in_root(rootfd, cwd, os.O_PATH | os.O_DIRECTORY)
    except KernelError as exc:
        raise InitError("cwd {cwd}: {reason}", stage="cwd", cwd=cwd,
                        reason=exc.strerror) from None
    try:
        os.fchdir(fd)
    finally:
        os.close(fd)
    try:
        here = os.getcwd()
    except OSError:
        here = ""
    if not here.startswith("/"):
        raise InitError("cwd {cwd} is not inside the container", stage="cwd", cwd=cwd)


def _set_identity(proc: ProcessPlan, keep: bool) -> None:
    # Without a capabilities object the kernel's own rule applies: a switch away
    # from uid 0 clears the capabilities (no KEEPCAPS) — unless CAP_SYS_ADMIN must
    # survive to load the seccomp filter (``keep``; become() narrows the sets).
    if keep:
        p.prctl(p.PR_SET_KEEPCAPS, 1, what="prctl(PR_SET_KEEPCAPS)")
    groups = proc["additional_gids"]
    try:
        os.setgroups(groups)
    except PermissionError:
        # In a user namespace with setgroups denied; fine when no groups are asked.
        if groups:
            raise
    os.setresgid(proc["gid"], proc["gid"], proc["gid"])
    os.setresuid(proc["uid"], proc["uid"], proc["uid"])
    if keep:
        p.prctl(p.PR_SET_KEEPCAPS, 0, what="prctl(PR_SET_KEEPCAPS)")


def _drop_bounding(bounding: int) -> None:
    for cap in range(CAP_LAST + 1):
        if bounding & (1 << cap):
            continue
        try:
            p.capbset_drop(cap)
        except KernelError as exc:
            if exc.errno != errno.EINVAL:  # a capability this kernel does not know
                raise


def _raise_ambient(ambient: int) -> None:
    for cap in range(CAP_LAST + 1):
        if ambient & (1 << cap):
            try:
                p.ambient_raise(cap)
            except KernelError:
                pass  # validated by the runtime; the kernel may still refuse: skip


def _reset_signals() -> None:
    for sig in range(1, _signal.NSIG):
        if sig in (_signal.SIGKILL, _signal.SIGSTOP):
            continue
        try:
            _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def _scheduling(proc: ProcessPlan) -> None:
    """Affinity, memory policy, I/O priority, scheduler (see the module doc)."""
    final = proc["cpu_affinity"][1]
    if final:
        try:
            os.sched_setaffinity(0, final)
        except OSError as exc:
            raise InitError("execCPUAffinity: cannot run on CPUs {cpus}: {reason}",
                            stage="execCPUAffinity", cpus=",".join(map(str, final)),
                            reason=exc.strerror) from None
    if proc["memory_policy"] is not None:
        mode, nodes = proc["memory_policy"]
        try:
            p.set_mempolicy(mode, nodes)
        except KernelError as exc:
            raise InitError("memoryPolicy: set_mempolicy: {reason}", stage="memoryPolicy",
                            reason=exc.strerror) from None
    if proc["io_priority"] is not None:
        try:
            p.ioprio_set(proc["io_priority"])
        except KernelError as exc:
            raise InitError("ioPriority: ioprio_set: {reason}", stage="ioPriority",
                            reason=exc.strerror) from None
    if proc["scheduler"] is not None:
        policy, flags, nice, priority, runtime, deadline, period = proc["scheduler"]
        try:
            p.sched_setattr(policy, flags=flags, nice=nice, priority=priority,
                            runtime=runtime, deadline=deadline, period=period)
        except KernelError as exc:
            if exc.errno == errno.EPERM and policy in (SCHED_FIFO, SCHED_RR):
                raise InitError("scheduler: sched_setattr: {reason} (a real-time policy needs "
                                "CAP_SYS_NICE and, with cgroup v1 real-time group scheduling, "
                                "a budget: linux.resources.cpu.realtimeRuntime)",
                                stage="scheduler", reason=exc.strerror) from None
            raise InitError("scheduler: sched_setattr: {reason}", stage="scheduler",
                            reason=exc.strerror) from None


def _write_labels(prepared: Prepared | None) -> None:
    if prepared is None:
        return
    try:
        for name, fd, label in prepared.labels:
            try:
                lsm.write_exec_label(fd, name, label)
            except OSError as exc:
                raise InitError("{lsm}: cannot set the exec label {label!r}: {reason}",
                                stage=name, lsm=name, label=label,
                                reason=exc.strerror) from None
    finally:
        prepared.close()


def become(rootfd: int, proc: ProcessPlan, program: str, slave: int,
           conn: _socket.socket | None = None, prepared: Prepared | None = None) -> None:
    """Apply the process attributes and execve the program.  Does not return.

    ``conn`` is the ``fire start`` connection (exec.sock): a seccomp notify
    listener is handed over on it.
    """
    set_rlimits(proc)  # again: an exec'd process has had none (the same values: no-op)
    if proc["personality"] is not None:
        p.personality(proc["personality"])
    _scheduling(proc)
    _write_labels(prepared)

    env = list(proc["env"])
    if env_value(env, "HOME") is None:
        env.append("HOME=" + home_of(rootfd, proc["uid"]))

    caps = proc["caps"]
    seccomp = proc["seccomp"]
    nnp = proc["no_new_privileges"]
    # Loading a filter without no_new_privs needs CAP_SYS_ADMIN: kept until the
    # filter is in; execve drops it (module doc).
    admin = (1 << CAP_SYS_ADMIN) if seccomp is not None and not nnp else 0
    if caps is not None:
        _drop_bounding(caps["bounding"])
    _set_identity(proc, keep=caps is not None or bool(admin))
    # Entering cwd as the container's user: its permissions are what count.
    _enter_cwd(rootfd, proc["cwd"])
    os.close(rootfd)

    if caps is not None:
        p.capset(caps["effective"] | admin, caps["permitted"] | admin, caps["inheritable"])
        p.ambient_clear_all()
        _raise_ambient(caps["ambient"])
    elif admin and proc["uid"] != 0:
        # No capabilities object and a non-root user: what the kernel's rule would
        # leave (nothing), plus CAP_SYS_ADMIN for the filter.
        p.capset(admin, admin, p.capget()[2])
    if nnp:
        p.prctl(p.PR_SET_NO_NEW_PRIVS, 1, what="prctl(PR_SET_NO_NEW_PRIVS)")
    if proc["umask"] is not None:
        os.umask(proc["umask"])
    else:
        os.umask(0o022)

    if slave >= 0:
        set_controlling(slave)  # we are a session leader since the init started
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
    p.cloexec_from(3 + proc["preserve_fds"])
    for fd in range(3, 3 + proc["preserve_fds"]):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass
    _reset_signals()

    args = proc["args"]
    environ = _env_dict(env)
    if seccomp is not None:
        _load_seccomp(seccomp["bpf"], seccomp["flags"], bool(seccomp["listener_path"]), conn)
    try:
        os.execve(program, args, environ)
    except OSError as exc:
        _fail_after_load(conn, seccomp is not None, N_('exec: "{name}": {reason}'),
                         name=args[0], reason=os.strerror(exc.errno or 0).lower())
    # A filter answering execve with SCMP_ACT_ERRNO and errnoRet 0 fakes success.
    _fail_after_load(conn, seccomp is not None,
                     N_('exec: "{name}": execve returned without running the program'), name=args[0])


def _load_seccomp(program: bytes, flags: int, listener: bool, conn: _socket.socket | None
                  ) -> None:
    try:
        fd = p.seccomp_load(program, flags)
    except KernelError as exc:
        raise InitError("seccomp: loading the filter: {reason}", stage="seccomp",
                        reason=exc.strerror) from None
    if not listener:
        return
    # Under the filter now: sendmsg and recv only (checked at create).
    if conn is None:
        _fail_after_load(conn, True, N_("seccomp: no connection to hand the listener over"))
    assert conn is not None
    try:
        conn.sendmsg([b"N\n"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                 fd.to_bytes(4, sys.byteorder, signed=True))],
                     _socket.MSG_NOSIGNAL)
        reply = conn.recv(64)
    except OSError as exc:
        _fail_after_load(conn, True, N_("seccomp: handing the listener over: {reason}"),
                         reason=exc.strerror or "")
    if reply != b"ok\n":
        _fail_after_load(conn, True, N_("seccomp: the runtime could not hand the listener to "
                                        "listenerPath"))
    # The listener is close-on-exec (the kernel makes it so): execve closes our copy.


def _fail_after_load(conn: _socket.socket | None, filtered: bool, template: str,
                     **params: object) -> NoReturn:
    """Report an error once the filter may be in: with ``sendmsg`` (the one call
    checked against it besides execve; the template for the runtime to translate,
    then the English line, as fire.init.main reports), then exit."""
    error = InitError(template, stage="exec", **params)
    if not filtered:
        raise error
    if conn is not None:
        lines = (b"T " + marshal.dumps((template, params)).hex().encode() + b"\n"
                 + b"E " + str(error).replace("\n", " ").encode() + b"\n")
        try:
            conn.sendmsg([lines], [], _socket.MSG_NOSIGNAL)
        except OSError:
            pass
    os._exit(1)


RLIMIT_NAMES = {number: name for name, number in RLIMITS.items()}


def set_rlimits(proc: ProcessPlan) -> None:
    """Apply ``process.rlimits``; a limit the kernel refuses (a hard limit raised
    without CAP_SYS_RESOURCE, a nofile above fs.nr_open) is an error naming it."""
    for index, (res, soft, hard) in enumerate(proc["rlimits"]):
        try:
            resource.setrlimit(res, (_rlim(soft), _rlim(hard)))
        except (ValueError, OSError) as exc:
            # CPython reports EPERM and EINVAL as ValueError, with a sentence.
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise InitError("$.process.rlimits[{index}]: cannot set {type} to {soft}:{hard}: "
                            "{reason}", stage="process", index=index,
                            type=RLIMIT_NAMES.get(res, str(res)), soft=soft, hard=hard,
                            reason=reason) from None


def _rlim(value: int) -> int:
    return resource.RLIM_INFINITY if value >= 2**64 - 1 else value


def _env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in env:
        key, _, value = entry.partition("=")
        out[key] = value
    return out
