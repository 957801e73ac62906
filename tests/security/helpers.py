"""Helpers of the security tests: a seccomp agent, hashes of what must not change,
hostile rootfs pieces."""

from __future__ import annotations

import array
import fcntl
import hashlib
import json
import os
import select
import socket
import struct
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

# SECCOMP_IOCTL_NOTIF_RECV / _SEND: _IOWR('!', 0, struct seccomp_notif (80 bytes)) and
# _IOWR('!', 1, struct seccomp_notif_resp (24 bytes)).
NOTIF_RECV = 0xC0502100
NOTIF_SEND = 0xC0182101


class SeccompAgent:
    """A listener on ``path``: takes one container process state and its seccomp
    fd, then answers every notification with ``-answer_errno``."""

    def __init__(self, path: Path, answer_errno: int) -> None:
        self.path = path
        self.answer_errno = answer_errno
        self.state: dict[str, Any] | None = None
        self.fd_names: list[str] = []
        self.received_fds = 0
        self.notified: list[int] = []  # syscall numbers
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.server.settimeout(30)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            msg, anc, _, _ = conn.recvmsg(1 << 20, socket.CMSG_SPACE(16))
            fds = array.array("i")
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - len(data) % 4])
            while chunk := conn.recv(1 << 20):
                msg += chunk
        self.state = json.loads(msg)
        self.received_fds = len(fds)
        if not fds:
            return
        listener = fds[0]
        try:
            while select.select([listener], [], [], 20)[0]:
                buf = bytearray(80)
                try:
                    fcntl.ioctl(listener, NOTIF_RECV, buf)
                except OSError:
                    return  # every filtered process is gone
                notif_id, _pid, _flags, nr = struct.unpack_from("=QIIi", buf)
                self.notified.append(nr)
                resp = bytearray(struct.pack("=QqiI", notif_id, 0, -self.answer_errno, 0))
                try:
                    fcntl.ioctl(listener, NOTIF_SEND, resp)
                except OSError:
                    continue
        finally:
            for fd in fds:
                os.close(fd)

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=30)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_hashes(root: str) -> dict[str, str]:
    out = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if "__pycache__" not in path:
                out[path] = sha256(path)
    return out


def caps_of(status: str) -> dict[str, str]:
    """Cap* and NoNewPrivs lines of a /proc/PID/status text."""
    out = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap") or key in ("NoNewPrivs", "Seccomp"):
            out[key] = value.strip()
    return out
