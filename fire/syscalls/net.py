"""``lo`` up in a new network namespace (runc's "loopback" network, which it adds
for every new network namespace).

One ioctl pair on a throwaway socket: no netlink library in the init, whose memory
and imports stay minimal.
"""

from __future__ import annotations

import _socket
import fcntl

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFNAMSIZ = 16


def loopback_up() -> None:
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        name = b"lo".ljust(IFNAMSIZ, b"\0")
        req = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, name + bytes(24))
        flags = int.from_bytes(req[IFNAMSIZ:IFNAMSIZ + 2], "little")
        if not flags & IFF_UP:
            flags |= IFF_UP
            fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS,
                        name + flags.to_bytes(2, "little") + bytes(22))
    finally:
        sock.close()
