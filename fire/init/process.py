"""The container's process: find the program, then become it.

``find_program`` runs at create time (a missing binary fails ``create`` with runc's
wording); ``become`` runs after ``start``: rlimits, identity, capabilities,
no_new_privs, seccomp, cwd, fds, and finally ``execve``.

Order, and why:
1. rlimits, personality, scheduler… while still fully privileged.
2. The bounding set is dropped while CAP_SETPCAP is still effective.
3. uid/gid change with PR_SET_KEEPCAPS, so permitted survives it; then ``capset``.
4. seccomp is loaded as late as possible so that Fire's own calls are not filtered:
   with no_new_privs, right before ``execve``; without it the kernel wants
   CAP_SYS_ADMIN to load a filter, so CAP_SYS_ADMIN is kept in the effective set
   until the filter is in and then dropped with one last ``capset`` — the only call,
   besides ``execve``, that runs under the container's filter.
5. cwd is entered through ``openat2(RESOLVE_IN_ROOT|NO_MAGICLINKS)`` (never a
   ``/proc/self/fd/N`` of a host directory) and checked with ``getcwd``.
6. Every fd above 2 (and the preserved ones) is made close-on-exec; ignored signals
   (Python ignores SIGPIPE and SIGXFSZ) are reset, the signal mask cleared.
"""

from __future__ import annotations

import _signal
import errno
import os
import posixpath
import resource
import stat

from fire.errors import InitError
from fire.init.paths import open_in_root
from fire.syscalls import KernelError
from fire.syscalls import proc as p
from fire.syscalls.tty import set_controlling

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import ProcessPlan

CAP_SYS_ADMIN = 21
CAP_LAST = 40
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def env_value(env: list[str], key: str) -> str | None:
    prefix = key + "="
    for entry in reversed(env):
        if entry.startswith(prefix):
            return entry[len(prefix):]
    return None


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


def _enter_cwd(rootfd: int, cwd: str) -> None:
    fd = open_in_root(rootfd, cwd, os.O_PATH | os.O_DIRECTORY)
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


def _set_identity(proc: ProcessPlan) -> None:
    # Without a capabilities object the kernel's own rule applies: a switch away
    # from uid 0 clears the capabilities (no KEEPCAPS).
    keep = proc["caps"] is not None
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


def become(rootfd: int, proc: ProcessPlan, program: str, slave: int) -> None:
    """Apply the process attributes and execve the program.  Does not return."""
    for res, soft, hard in proc["rlimits"]:
        resource.setrlimit(res, (_rlim(soft), _rlim(hard)))
    if proc["personality"] is not None:
        p.personality(proc["personality"])

    env = list(proc["env"])
    if env_value(env, "HOME") is None:
        env.append("HOME=" + home_of(rootfd, proc["uid"]))

    caps = proc["caps"]
    seccomp = proc["seccomp"]
    nnp = proc["no_new_privileges"]
    if caps is not None:
        _drop_bounding(caps["bounding"])
    _set_identity(proc)
    # Entering cwd as the container's user: its permissions are what count.
    _enter_cwd(rootfd, proc["cwd"])
    os.close(rootfd)

    keep_admin = (seccomp is not None and not nnp and caps is not None
                  and not caps["effective"] & (1 << CAP_SYS_ADMIN))
    if caps is not None:
        admin = (1 << CAP_SYS_ADMIN) if keep_admin else 0
        p.capset(caps["effective"] | admin, caps["permitted"] | admin, caps["inheritable"])
        p.ambient_clear_all()
        _raise_ambient(caps["ambient"])
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

    if seccomp is not None:
        p.seccomp_load(seccomp["bpf"], seccomp["flags"])
        if keep_admin and caps is not None:
            p.capset(caps["effective"], caps["permitted"], caps["inheritable"])
    try:
        os.execve(program, proc["args"], _env_dict(env))
    except OSError as exc:
        raise InitError('exec: "{name}": {reason}', stage="exec", name=proc["args"][0],
                        reason=os.strerror(exc.errno or 0).lower()) from None


def _rlim(value: int) -> int:
    return resource.RLIM_INFINITY if value >= 2**64 - 1 else value


def _env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in env:
        key, _, value = entry.partition("=")
        out[key] = value
    return out
