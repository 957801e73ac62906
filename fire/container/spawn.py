"""Starting the container's init from a sealed copy of the interpreter.

Why a fresh interpreter, and why sealed (CVE-2019-5736 class): until it calls
``execve`` the init *is* the host's Python, inside the container's namespaces.  A
container whose entrypoint is ``#!/proc/self/exe`` would make the kernel run that
same binary, and a process running it could open ``/proc/self/exe`` for writing and
replace the host's interpreter.  So the init is never the CLI's own process image:
the CLI forks and ``execveat``\\ s an fd of the interpreter opened through a private,
read-only overlayfs mount that is attached nowhere (``fsopen``/``fsmount``, as
runc's ``exeseal``).  ``/proc/<pid>/exe`` then names a file on a filesystem that
cannot be written and cannot be remounted writable (an overlay without an upper
layer; a detached mount no namespace can reach).  Cost measured here: ~0.5 ms per
create.  If overlayfs is unavailable, a sealed memfd copy is the fallback.

The fork itself happens in the single-threaded CLI (no trio, no threads), and the
new interpreter starts with ``-I -S`` and an empty environment: nothing of the
caller's ``PYTHON*``/``LD_*`` settings reaches it, and the working directory is not
on its import path.
"""

from __future__ import annotations

import fcntl
import os
import sys

from fire import INTERPRETER_FLAGS, importcache
from fire.init.channel import Channel
from fire.syscalls import KernelError
from fire.syscalls import mount as m
from fire.syscalls import proc as p

F_ADD_SEALS = 1033
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 0x1, 0x2, 0x4, 0x8

# The directory holding the ``fire`` package: the init's only import path besides
# the standard library.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def interpreter() -> str:
    return os.path.realpath(sys.executable)


def _sealed_overlay(exe: str) -> int:
    directory, name = os.path.split(exe)
    # An overlay without an upper layer needs two lower layers that do not overlap:
    # the interpreter's directory and an empty, detached tmpfs.
    tfs = m.fsopen("tmpfs")
    try:
        m.fsconfig_create(tfs)
        empty = m.fsmount(tfs, m.MOUNT_ATTR_RDONLY)
    finally:
        os.close(tfs)
    try:
        ofs = m.fsopen("overlay")
        try:
            m.fsconfig_string(ofs, "lowerdir", f"{directory}:/proc/self/fd/{empty}")
            m.fsconfig_create(ofs)
            mnt = m.fsmount(ofs, m.MOUNT_ATTR_RDONLY | m.MOUNT_ATTR_NOSUID | m.MOUNT_ATTR_NODEV)
        finally:
            os.close(ofs)
    finally:
        os.close(empty)
    try:
        return os.open(name, os.O_PATH | os.O_CLOEXEC, dir_fd=mnt)
    finally:
        os.close(mnt)


def _sealed_memfd(exe: str) -> int:
    fd = os.memfd_create("fire-init", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    with open(exe, "rb") as src:
        while os.sendfile(fd, src.fileno(), None, 1 << 22):
            pass
    fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
    return fd


def sealed_interpreter() -> int:
    """An executable fd of the host interpreter that no one can write through."""
    exe = interpreter()
    try:
        return _sealed_overlay(exe)
    except KernelError:
        return _sealed_memfd(exe)


class InitProcess:
    """The first init process (it may fork the container process, see init.main)."""

    def __init__(self, pid: int, chan: Channel) -> None:
        self.pid = pid
        self.chan = chan

    def kill(self) -> None:
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass

    def reap(self) -> int | None:
        """Reap the first init if it has exited (it is our child)."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        return os.waitstatus_to_exitcode(status) if pid else None


def boot_code(entry: str, fd: int, cache: str | None) -> str:
    """The init's ``-c`` program: Fire's path first, the launcher's import cache
    while ``entry`` is imported (fire.importcache), then ``entry.main(fd)``."""
    code = f"import sys;sys.path[:0]=[{PACKAGE_PARENT!r}];"
    if cache is None:
        return code + f"from {entry} import main;main({fd})"
    return code + (f"from fire.importcache import install,uninstall;install({cache!r});"
                   f"from {entry} import main;uninstall();main({fd})")


def spawn(extra_fds: int = 0, entry: str = "fire.init.main", null_stdio: bool = False
          ) -> InitProcess:
    """Fork and exec the init; fds 0-2 and 3..3+extra_fds-1 are inherited.

    ``entry`` is the module whose ``main(FD)`` runs: the container's init, or
    ``fire.init.join`` for an exec'd process.  ``null_stdio`` (a process with a
    terminal: its stdio will be the pty) gives the init /dev/null instead of the
    caller's stdio, as runc does: containerd's shim reads the runtime's output
    until EOF, which never comes while a waiting init holds the pipe."""
    exe = interpreter()
    sealed = sealed_interpreter()
    chan, child_end = Channel.pair()
    pid = os.fork()
    if pid == 0:
        try:
            if null_stdio:
                from fire.init.terminal import null_stdio as detach
                detach()
            # Only stdio and the preserved fds may reach the init; then the channel.
            p.cloexec_from(3 + extra_fds)
            fd = fcntl.fcntl(child_end, fcntl.F_DUPFD, 3 + extra_fds)
            boot = boot_code(entry, fd, importcache.active)
            os.execve(sealed, [exe, *INTERPRETER_FLAGS, "-c", boot], {})
        finally:
            os._exit(127)
    os.close(child_end)
    os.close(sealed)
    return InitProcess(pid, chan)
