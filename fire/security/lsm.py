"""AppArmor and SELinux labels: the process's (``process.apparmorProfile``,
``process.selinuxLabel``) and the mounts' (``linux.mountLabel``).

Both LSMs label a process at its next ``execve`` when the process writes the label
to its own ``/proc/thread-self/attr`` file first: AppArmor takes ``exec <profile>``
in ``attr/apparmor/exec`` (``attr/exec`` on kernels without per-LSM directories),
SELinux takes the context in ``attr/exec``.  The init opens that file *before*
``pivot_root``, through the host's procfs: after it, ``/proc`` is the container's
mount, and a rootfs that managed to shadow it (CVE-2019-16884) would swallow the
write and leave the program unconfined.  The init writes the label just before it
drops its privileges, and the kernel applies it at ``execve``.

A process label asked for on a kernel without that LSM is an error at
``create``: running the container unconfined when the config asks for
confinement is the one outcome that must not happen silently.  (This machine has
neither LSM; the tests check that error and drive the writing code against a fake
``attr`` tree.)

``linux.mountLabel`` becomes a ``context="…"`` mount option on the filesystems
that accept one (not bind mounts, nor proc/sysfs/cgroup/mqueue, which do not).
On a kernel without SELinux it is left out, with a warning, as crun does (runc
passes it on and the kernel refuses the mount): a file label confines nothing
there — no policy reads it — so nothing runs less confined than asked, and a
config written on an SELinux host still runs.  A process label on the same
kernel is still refused, by the rule above.
"""

from __future__ import annotations

import os

from fire.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.spec.config import Spec

APPARMOR = "apparmor"
SELINUX = "selinux"

# Per LSM, the files to try, relative to a procfs root, first match wins.
EXEC_ATTR: dict[str, tuple[str, ...]] = {
    APPARMOR: ("thread-self/attr/apparmor/exec", "thread-self/attr/exec"),
    SELINUX: ("thread-self/attr/exec",),
}

SELINUX_MAGIC = 0xF97CFF8C
NO_CONTEXT_FS = {"proc", "sysfs", "cgroup", "cgroup2", "mqueue", "bind", "none"}


def apparmor_enabled(sys_root: str = "/sys") -> bool:
    """The kernel has AppArmor and it is on (what runc checks)."""
    try:
        with open(os.path.join(sys_root, "module/apparmor/parameters/enabled"), "rb") as f:
            return f.read(1) == b"Y"
    except OSError:
        return False


def selinux_enabled(sys_root: str = "/sys") -> bool:
    """selinuxfs is mounted (SELinux is active in this kernel)."""
    from fire.syscalls import KernelError
    from fire.syscalls.fs import fstatfs_type

    try:
        fd = os.open(os.path.join(sys_root, "fs/selinux"), os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fstatfs_type(fd) == SELINUX_MAGIC
    except KernelError:
        return False
    finally:
        os.close(fd)


def check(spec: Spec) -> list[str]:
    """Refuse process labels this kernel cannot apply (``ConfigError`` naming the
    field); the warnings to log (a mount label left out)."""
    proc = spec.process
    linux = spec.linux
    if proc is not None and proc.apparmor_profile and not apparmor_enabled():
        raise ConfigError("$.process.apparmorProfile",
                          "AppArmor is not enabled in this kernel: cannot confine the "
                          "container with profile {profile!r}", profile=proc.apparmor_profile)
    if proc is not None and proc.selinux_label and not selinux_enabled():
        raise ConfigError("$.process.selinuxLabel", "SELinux is not enabled in this kernel: "
                          "cannot apply the label")
    if linux is not None and linux.mount_label and not selinux_enabled():
        from fire.i18n import message

        return [message("$.linux.mountLabel: SELinux is not enabled in this kernel: the "
                        "mounts are not labelled")]
    return []


def mount_label(spec: Spec) -> str:
    """The ``context=`` label for the mounts: ``linux.mountLabel`` if SELinux is on."""
    label = (spec.linux.mount_label or "") if spec.linux else ""
    return label if label and selinux_enabled() else ""


def open_exec_attr(lsm: str, proc: str = "/proc") -> int:
    """An fd (write-only, close-on-exec) of this thread's exec-label file for ``lsm``
    under the procfs at ``proc``."""
    last: OSError | None = None
    for rel in EXEC_ATTR[lsm]:
        try:
            return os.open(os.path.join(proc, rel), os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            last = exc
    assert last is not None
    raise last


def exec_label(lsm: str, label: str) -> bytes:
    """What to write for ``label``: AppArmor wants a command, SELinux the context."""
    if lsm == APPARMOR:
        return b"exec " + label.encode()
    return label.encode()


def write_exec_label(fd: int, lsm: str, label: str) -> None:
    data = exec_label(lsm, label)
    written = os.write(fd, data)
    if written != len(data):
        raise OSError(5, f"short write of the {lsm} label")


def mount_data(data: str, fstype: str, label: str) -> str:
    """``data`` with SELinux's ``context=`` option for ``label``, where it applies."""
    if not label or fstype in NO_CONTEXT_FS:
        return data
    option = f'context="{label}"'
    return f"{data},{option}" if data else option
