"""Parsing a mount's ``options`` list into kernel flags (pure).

The vocabulary is runc's (and what `fire features` reports): flags for mount(2),
propagation changes applied after the mount, recursive attributes for
``mount_setattr(AT_RECURSIVE)`` (``rro``, ``rnosuid``…), and everything else passed
through as filesystem data (``mode=755,size=64k``).
"""

from __future__ import annotations

from fire.mountflags import (
    MOUNT_ATTR__ATIME,
    MOUNT_ATTR_NOATIME,
    MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_NOSYMFOLLOW,
    MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_RELATIME,
    MOUNT_ATTR_STRICTATIME,
    MS_DIRSYNC,
    MS_I_VERSION,
    MS_LAZYTIME,
    MS_MANDLOCK,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_NOSYMFOLLOW,
    MS_PRIVATE,
    MS_RDONLY,
    MS_RELATIME,
    MS_SHARED,
    MS_SILENT,
    MS_STRICTATIME,
    MS_SYNCHRONOUS,
    MS_UNBINDABLE,
)
from fire.mountflags import (
    MS_BIND as MS_BIND,
)
from fire.mountflags import (
    MS_REC as MS_REC,
)
from fire.mountflags import (
    MS_REMOUNT as MS_REMOUNT,
)
from fire.mountflags import (
    MS_SLAVE as MS_SLAVE,
)

# option: (clear?, flag).  clear=True means the option turns the flag off.
FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "iversion": (False, MS_I_VERSION),
    "lazytime": (False, MS_LAZYTIME),
    "loud": (True, MS_SILENT),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "noiversion": (True, MS_I_VERSION),
    "nolazytime": (True, MS_LAZYTIME),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "silent": (False, MS_SILENT),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "symfollow": (True, MS_NOSYMFOLLOW),
    "sync": (False, MS_SYNCHRONOUS),
}

PROPAGATION: dict[str, int] = {
    "private": MS_PRIVATE,
    "shared": MS_SHARED,
    "slave": MS_SLAVE,
    "unbindable": MS_UNBINDABLE,
    "rprivate": MS_PRIVATE | MS_REC,
    "rshared": MS_SHARED | MS_REC,
    "rslave": MS_SLAVE | MS_REC,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# Recursive mount attributes (mount_setattr with AT_RECURSIVE): (clear?, attr).
RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (False, MOUNT_ATTR_RDONLY),
    "rrw": (True, MOUNT_ATTR_RDONLY),
    "rnosuid": (False, MOUNT_ATTR_NOSUID),
    "rsuid": (True, MOUNT_ATTR_NOSUID),
    "rnodev": (False, MOUNT_ATTR_NODEV),
    "rdev": (True, MOUNT_ATTR_NODEV),
    "rnoexec": (False, MOUNT_ATTR_NOEXEC),
    "rexec": (True, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, MOUNT_ATTR_NODIRATIME),
    "rrelatime": (False, MOUNT_ATTR_RELATIME),
    "rnorelatime": (True, MOUNT_ATTR_RELATIME),
    "rnoatime": (False, MOUNT_ATTR_NOATIME),
    "ratime": (True, MOUNT_ATTR_NOATIME),
    "rstrictatime": (False, MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": (True, MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (False, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, MOUNT_ATTR_NOSYMFOLLOW),
}

# Options Fire understands that are not kernel flags.
EXTENSIONS = ("tmpcopyup", "idmap", "ridmap")


class MountOptions:
    """The meaning of one mount's options."""

    __slots__ = ("attr_clear", "attr_set", "cleared", "data", "flags", "idmap", "propagation",
                 "recursive_idmap", "tmpcopyup")

    def __init__(self) -> None:
        self.flags = 0
        self.cleared = 0  # flags an option explicitly turns off ("rw", "suid", "atime"…)
        self.propagation: list[int] = []
        self.attr_set = 0
        self.attr_clear = 0
        self.data: list[str] = []
        self.tmpcopyup = False
        self.idmap = False
        self.recursive_idmap = False

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & MS_BIND)

    @property
    def recursive_bind(self) -> bool:
        return bool(self.flags & MS_REC)


def parse(options: list[str] | None, fstype: str | None = None) -> MountOptions:
    out = MountOptions()
    for opt in options or []:
        if opt in FLAGS:
            clear, flag = FLAGS[opt]
            if clear:
                out.flags &= ~flag
                out.cleared |= flag
            else:
                out.flags |= flag
                out.cleared &= ~flag
        elif opt in PROPAGATION:
            out.propagation.append(PROPAGATION[opt])
        elif opt in RECURSIVE:
            clear, attr = RECURSIVE[opt]
            if attr == MOUNT_ATTR_RELATIME or attr & MOUNT_ATTR__ATIME:
                # atime attributes are one field: setting one clears the others.
                out.attr_clear |= MOUNT_ATTR__ATIME
                out.attr_set &= ~MOUNT_ATTR__ATIME
                if clear:
                    continue  # "ratime", "rnostrictatime"…: back to relatime
            if clear:
                out.attr_clear |= attr
            else:
                out.attr_set |= attr
        elif opt == "tmpcopyup":
            out.tmpcopyup = True
        elif opt in ("idmap", "ridmap"):
            out.idmap = True
            out.recursive_idmap = opt == "ridmap"
        else:
            out.data.append(opt)
    if fstype == "bind":
        out.flags |= MS_BIND
    return out


_PER_MOUNT = (
    (MS_RDONLY, MOUNT_ATTR_RDONLY),
    (MS_NOSUID, MOUNT_ATTR_NOSUID),
    (MS_NODEV, MOUNT_ATTR_NODEV),
    (MS_NOEXEC, MOUNT_ATTR_NOEXEC),
    (MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
    (MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
)
_ATIME_FLAGS = MS_NOATIME | MS_STRICTATIME | MS_RELATIME


def mount_attrs(flags: int, cleared: int = 0) -> tuple[int, int]:
    """``(attr_set, attr_clr)`` for ``mount_setattr`` on one (bind) mount.

    A bind mount keeps its source's per-mount flags except those its options name:
    ``ro`` sets read-only, ``rw`` clears it, and an option not given leaves the
    source's setting alone (so a locked flag of a mount from a less privileged
    namespace is never asked to change).  Superblock flags (``sync``, ``lazytime``…)
    cannot change through a bind mount and are ignored here, as the kernel ignores
    them on a bind remount.  atime is one field: any atime option replaces it.
    """
    attr_set = attr_clr = 0
    for flag, attr in _PER_MOUNT:
        if flags & flag:
            attr_set |= attr
        elif cleared & flag:
            attr_clr |= attr
    if flags & MS_NOATIME:
        attr_clr |= MOUNT_ATTR__ATIME
        attr_set |= MOUNT_ATTR_NOATIME
    elif flags & MS_STRICTATIME:
        attr_clr |= MOUNT_ATTR__ATIME
        attr_set |= MOUNT_ATTR_STRICTATIME
    elif flags & MS_RELATIME or cleared & _ATIME_FLAGS:
        attr_clr |= MOUNT_ATTR__ATIME  # relatime is the value 0
    return attr_set, attr_clr


def all_options() -> list[str]:
    """Every option name Fire accepts (for `fire features`)."""
    return sorted({*FLAGS, *PROPAGATION, *RECURSIVE, *EXTENSIONS})
