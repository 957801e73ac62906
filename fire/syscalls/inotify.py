"""inotify: being told that a file changed instead of looking at it.

The supervisor follows every container's log file; 1,000 files looked at once a
second cost more than the rest of an idle supervisor (docs/performance.md).  One
watch on the directory that holds them says which file was written, when it was.

``os`` has no inotify; glibc has had the three wrappers for ever.  ``events``
parses what ``read`` returns (pure Python, no syscall).
"""

from __future__ import annotations

import ctypes
import os
import struct

from fire.syscalls._libc import check, libc

IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)

_init1 = libc.inotify_init1
_init1.argtypes = [ctypes.c_int]
_init1.restype = ctypes.c_int
_add_watch = libc.inotify_add_watch
_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_add_watch.restype = ctypes.c_int


def inotify_init(flags: int = IN_NONBLOCK | IN_CLOEXEC) -> int:
    """A new inotify descriptor (non-blocking and close-on-exec by default)."""
    return check(_init1(flags), "inotify_init1")


def add_watch(fd: int, path: str, mask: int) -> int:
    """Watch ``path`` for the events of ``mask``; the watch descriptor."""
    return check(_add_watch(fd, os.fsencode(path), mask), "inotify_add_watch", path)


def events(data: bytes) -> list[tuple[int, int, str]]:
    """The ``(wd, mask, name)`` of each event in what a ``read`` of the
    descriptor returned (``name`` is "" for an event on the watched path itself)."""
    out: list[tuple[int, int, str]] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        wd, mask, _cookie, size = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        name = data[offset:offset + size].split(b"\0", 1)[0]
        offset += size
        out.append((wd, mask, os.fsdecode(name)))
    return out
