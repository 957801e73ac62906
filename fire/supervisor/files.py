"""The supervisor's files in ``--root``, and its rotating log files.

Every name starts with ``@``, a character container ids cannot have, so ``fire
list`` and the store never take them for containers:

* ``@supervisor.sock`` — events and control requests (mode 0600);
* ``@supervisor.lock`` — held (flock) by the running supervisor of this root;
* ``@logs/<id>.log`` (and ``.log.1``, ``.log.2`` … older) — each container's output.

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


def log_files(root: str, cid: str) -> list[str]:
    """The container's log files that exist, oldest first."""
    found: list[str] = []
    generation = 0
    while os.path.exists(path := log_path(root, cid, generation)):
        found.append(path)
        generation += 1
    return found[::-1]


class RotatingLog:
    """Appends to ``<id>.log``; past ``max_bytes`` it becomes ``<id>.log.1`` (the
    older ones shift up, the oldest beyond ``files`` is removed).

    Writes are plain ``os.write`` calls from the supervisor's event loop: a log
    file is a regular file, whose writes do not wait on a peer the way a pipe's
    do, and a thread per write would cost more than the write.
    """

    def __init__(self, root: str, cid: str, max_bytes: int = DEFAULT_LOG_BYTES,
                 files: int = DEFAULT_LOG_FILES) -> None:
        self.root = root
        self.id = cid
        self.max_bytes = max(1, max_bytes)
        self.files = max(1, files)
        os.makedirs(os.path.dirname(log_path(root, cid)), mode=0o700, exist_ok=True)
        self.fd = -1
        self.size = 0
        self._open()

    def _open(self) -> None:
        self.fd = os.open(log_path(self.root, self.id),
                          os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.size = os.fstat(self.fd).st_size

    def rotate(self) -> None:
        os.close(self.fd)
        oldest = log_path(self.root, self.id, self.files - 1)
        if self.files == 1:
            os.unlink(oldest)
        else:
            for generation in range(self.files - 2, -1, -1):
                src = log_path(self.root, self.id, generation)
                if os.path.exists(src):
                    os.replace(src, log_path(self.root, self.id, generation + 1))
        self._open()

    def write(self, data: bytes) -> None:
        if self.size and self.size + len(data) > self.max_bytes:
            self.rotate()
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.size += len(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
