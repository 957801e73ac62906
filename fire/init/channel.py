"""One SOCK_SEQPACKET socket between the runtime and the init.

Each message is one packet (marshal-encoded tuple), optionally carrying file
descriptors with SCM_RIGHTS.  Built on ``_socket`` (the builtin half of ``socket``)
so the init imports nothing heavy.
"""

from __future__ import annotations

import _socket
import marshal
import os
import sys

MAX_PACKET = 4 * 1024 * 1024
MAX_FDS = 253  # SCM_MAX_FD: the plan carries exec.sock and the runtime's detached mounts


class ChannelClosed(EOFError):
    """The other side went away."""


class Channel:
    def __init__(self, fd: int) -> None:
        # Never inherited: a hook started by the init must not keep the runtime's
        # end of the conversation open after the init is gone.
        os.set_inheritable(fd, False)
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, fd)

    @classmethod
    def pair(cls) -> tuple[Channel, int]:
        """A channel for this side and the raw fd of the other end (inheritable)."""
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        a.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDBUF, MAX_PACKET)
        b.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDBUF, MAX_PACKET)
        fd = b.detach()
        return cls(a.detach()), fd

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, *msg: object, fds: list[int] | None = None) -> None:
        data = marshal.dumps(msg)  # type: ignore[arg-type]  # marshal checks at run time
        if fds:
            rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
            self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        else:
            self.sock.sendmsg([data])

    def recv(self) -> tuple[tuple[object, ...], list[int]]:
        """The next message and the fds that came with it."""
        size = _socket.CMSG_SPACE(MAX_FDS * 4)
        data, ancdata, _flags, _addr = self.sock.recvmsg(MAX_PACKET, size)
        fds: list[int] = []
        for level, kind, payload in ancdata:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds.extend(int.from_bytes(payload[i:i + 4], sys.byteorder, signed=True)
                           for i in range(0, len(payload) - 3, 4))
        for fd in fds:
            os.set_inheritable(fd, False)
        if not data:
            raise ChannelClosed
        msg = marshal.loads(data)
        if not isinstance(msg, tuple) or not msg:
            raise ChannelClosed
        return msg, fds

    def close(self) -> None:
        self.sock.close()
