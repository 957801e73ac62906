"""A plain (blocking) client of the supervisor's socket, for ``fire events
--follow``, the TUI's control keys and tests.  No trio here.

The socket is reached through ``/proc/self/fd/<root fd>/`` for the same reason
the server binds it that way: a deep ``--root`` may be longer than a socket
address can be.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

from fire import events as ev
from fire.errors import FireError
from fire.supervisor.files import SOCKET

if TYPE_CHECKING:
    from collections.abc import Iterator


class NoSupervisor(FireError):
    template = "no fire-supervise is running with --root {root}"


def connect(root: str, wait: float = 0.0) -> socket.socket:
    """A connection to ``root``'s supervisor, waiting up to ``wait`` seconds for it."""
    root = os.path.abspath(root)
    deadline = time.monotonic() + wait
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            dirfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{dirfd}/{SOCKET}")
            finally:
                os.close(dirfd)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() >= deadline:
                raise NoSupervisor(None, root=root) from None
            time.sleep(0.1)
        except OSError:
            sock.close()
            raise


def _recv_frame(sock: socket.socket, reader: ev.FrameReader, pending: list[bytes]) -> bytes | None:
    while not pending:
        data = sock.recv(65536)
        if not data:
            return None
        pending.extend(reader.feed(data))
    return pending.pop(0)


def subscribe(root: str, wait: float = 0.0, replay: bool = True) -> Iterator[ev.AnyEvent]:
    """The supervisor's events (the replay first) until it goes away."""
    sock = connect(root, wait)
    try:
        sock.sendall(ev.frame(ev.Subscribe(replay=replay)))
        reader = ev.FrameReader()
        pending: list[bytes] = []
        while (body := _recv_frame(sock, reader, pending)) is not None:
            yield ev.decode_event(body)
    finally:
        sock.close()


def request(root: str, message: ev.AnyRequest, timeout: float = 10.0) -> ev.Reply:
    """Send one control request; its reply."""
    sock = connect(root)
    try:
        sock.settimeout(timeout)
        sock.sendall(ev.frame(message))
        body = _recv_frame(sock, ev.FrameReader(), [])
    finally:
        sock.close()
    if body is None:
        return ev.Reply(ok=False, error="the supervisor closed the connection")
    return ev.decode_reply(body)
