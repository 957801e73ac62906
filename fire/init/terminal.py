"""The container's terminal: a pty from the container's own devpts.

The master goes to the runtime (which passes it on over ``--console-socket`` or
proxies it); the slave becomes /dev/console and, at exec, the process's stdio and
controlling terminal.
"""

from __future__ import annotations

import os

from fire.init.paths import ensure_file, open_in_root
from fire.syscalls import mount as m
from fire.syscalls.tty import set_winsize, unlock_pt


def null_stdio() -> None:
    """Point fds 0-2 at /dev/null, as runc does for a process with a terminal.

    Its stdio will be the pty; until then it must not hold the caller's pipes:
    containerd's shim reads the runtime's output until EOF, which never comes
    while a waiting init keeps the write end open."""
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    for target in (0, 1, 2):
        os.dup2(null, target)  # dup2 clears O_CLOEXEC on the copies
    if null > 2:
        os.close(null)


def open_pty(rootfd: int, size: tuple[int, int] | None) -> tuple[int, int]:
    """(master, slave) fds; /dev/console is bound to the slave."""
    master = open_in_root(rootfd, "/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
    n = unlock_pt(master)
    slave = open_in_root(rootfd, f"/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY, no_symlinks=True)
    if size:
        set_winsize(master, size[0], size[1])
    console = ensure_file(rootfd, "/dev/console", 0o600)
    try:
        tree = m.open_tree(slave, "", m.OPEN_TREE_CLONE | m.OPEN_TREE_CLOEXEC | m.AT_EMPTY_PATH)
        try:
            m.move_mount(tree, "", console, "", m.MOVE_MOUNT_F_EMPTY_PATH
                         | m.MOVE_MOUNT_T_EMPTY_PATH, shown="/dev/console")
        finally:
            os.close(tree)
    finally:
        os.close(console)
    return master, slave
