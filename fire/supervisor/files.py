"""The supervisor's files in ``--root``, and its rotating log files.

Every name starts with ``@``, a character container ids cannot have, so ``fire
list`` and the store never take them for containers:

* ``@supervisor.sock`` — events and control requests (mode 0600);
* ``@supervisor.lock`` — held (flock) by the running supervisor of this root;
* ``@logs/<id>.log`` (and ``.log.1``, ``.log.2`` … older) — each container's output:
  the file its fds 1 and 2 are (``LogFile``).

Why the logs are not in the container's own state directory: a restart is
``delete`` + ``create``, and ``delete`` removes that directory.  The output of
the run that crashed is the one a person wants to read, so logs live beside the
state directories and survive restarts and the supervisor's exit.

This module is plain (no trio, no msgspec): ``fire logs`` and ``fire events
--follow`` use it too.
"""

from __future__ import annotations

import os

SOCKET = "@supervisor.sock"
LOCK = "@supervisor.lock"
LOGS = "@logs"

DEFAULT_LOG_BYTES = 1 << 20
DEFAULT_LOG_FILES = 3  # the current file and two older ones


def socket_path(root: str) -> str:
    return os.path.join(os.path.abspath(root), SOCKET)


def log_path(root: str, cid: str, generation: int = 0) -> str:
    """``generation`` 0 is the file being written, 1 the one before it, …"""
    base = os.path.join(os.path.abspath(root), LOGS, cid + ".log")
    return base if generation == 0 else f"{base}.{generation}"


def rotating_path(path: str) -> str:
    """The copy a rotation of the log file ``path`` is making: it exists from before
    the truncation until it is renamed ``.log.1`` (``LogFile.rotate``)."""
    return path + ".rotating"


def log_files(root: str, cid: str) -> list[str]:
    """The container's log files that exist, oldest first."""
    found: list[str] = []
    generation = 0
    while os.path.exists(path := log_path(root, cid, generation)):
        found.append(path)
        generation += 1
    return found[::-1]


class LogFile:
    """A container's current log file, as the supervisor keeps it: what the
    container's fds 1 and 2 are, what the supervisor follows, and what it rotates.

    The container's processes hold the file itself (``writer()``: opened with
    ``O_APPEND``, passed to ``fire create`` as its stdout and stderr, which the init
    passes on), not a pipe to the supervisor: their writes do not depend on the
    supervisor, and a supervisor started after a ``kill -9`` of the previous one
    finds their output in the file and follows it from there.

    Following (``read()``): the new bytes from the last offset, read with ``pread``
    on a descriptor of our own.  A file shorter than that offset was truncated
    behind our back: reading starts again at 0.

    Rotation (``rotate()``, past ``max_bytes``) cannot be rename + reopen, since the
    writers hold the file: it is copy, then truncate (logrotate's copytruncate).
    The current file is copied to a temporary file, then truncated to 0 (with
    ``O_APPEND`` every writer's next write lands at the new end, no hole); then
    the older generations shift up and the copy is renamed ``<id>.log.1``.  A
    reader never sees half a copy, and a new ``.log.1`` appears only once the
    truncation is done: ``fire logs --follow`` takes it as the sign of a rotation
    (``fire.cli.logs.follow``).  The bytes written between the copy and the
    truncation are lost: the copy goes on until the file's size stops growing, so
    that window is the few microseconds between the last ``fstat`` and the
    ``ftruncate``.  Everything is synchronous (regular files, from one thread):
    nothing else of the supervisor runs in between.
    """

    def __init__(self, root: str, cid: str, max_bytes: int = DEFAULT_LOG_BYTES,
                 files: int = DEFAULT_LOG_FILES) -> None:
        self.root = root
        self.id = cid
        self.path = log_path(root, cid)
        self.max_bytes = max(1, max_bytes)
        self.files = max(1, files)
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        self.fd = -1
        self.offset = 0
        self.reopen()

    def writer(self) -> int:
        """A new ``O_APPEND`` descriptor of the log file (close-on-exec: the child's
        copies, its fds 1 and 2, are made by ``dup2``, which clears the flag)."""
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def follows(self, fd: int) -> bool:
        """Whether ``fd`` is the file this log follows (not one made since, after the
        followed one was removed or replaced)."""
        return self.fd >= 0 and os.fstat(fd).st_ino == os.fstat(self.fd).st_ino

    def reopen(self) -> None:
        """Follow the file at ``path`` (created if need be) from its current end."""
        if self.fd >= 0:
            os.close(self.fd)
        # read and write: ftruncate needs a writable descriptor (nothing is written with it)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.offset = os.fstat(self.fd).st_size

    def read(self) -> bytes:
        """What was written since the last call (from the current end at first)."""
        size = os.fstat(self.fd).st_size
        if size < self.offset:  # truncated by someone else: the new content is at 0
            self.offset = 0
        chunks: list[bytes] = []
        while self.offset < size:
            data = os.pread(self.fd, min(size - self.offset, 1 << 20), self.offset)
            if not data:
                break
            chunks.append(data)
            self.offset += len(data)
        return b"".join(chunks)

    def needs_rotation(self) -> bool:
        return os.fstat(self.fd).st_size > self.max_bytes

    def rotate(self) -> bytes:
        """Copy, then truncate (see the class); returns the bytes written since the
        last ``read()`` (they are in ``<id>.log.1`` now, and nowhere else)."""
        tmp = rotating_path(self.path)
        unread: list[bytes] = []
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:  # (a failed copy, ENOSPC say, truncates nothing: the file is as it was)
            copied = 0
            while copied < (size := os.fstat(self.fd).st_size):
                data = os.pread(self.fd, min(size - copied, 1 << 20), copied)
                if not data:
                    break
                write_all(out, data)
                if copied + len(data) > self.offset:
                    unread.append(data[max(0, self.offset - copied):])
                copied += len(data)
            os.ftruncate(self.fd, 0)
        except BaseException:
            os.close(out)
            os.unlink(tmp)
            raise
        os.close(out)
        self.offset = 0
        if self.files == 1:
            os.unlink(tmp)
        else:
            for generation in range(self.files - 2, 0, -1):
                src = log_path(self.root, self.id, generation)
                if os.path.exists(src):
                    os.replace(src, log_path(self.root, self.id, generation + 1))
            os.replace(tmp, log_path(self.root, self.id, 1))
        return b"".join(unread)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (a regular file: a short write only means "go on")."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of ``path``, or None when it does not exist: a reader of the
    logs tells a new ``<id>.log.1`` (a rotation happened) from the one it saw."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino
