"""``lo`` up in a new network namespace, with two ioctls and no pyroute2.

runc brings the loopback interface up in every network namespace it creates
(the "loopback" network of libcontainer); so does Fire, for engine-driven
containers too.  This runs on the engine path of ``create``, where importing
pyroute2 (~150 ms) for one flag would be absurd: an ``AF_INET`` socket made in the
container's namespace (``fire.net.netns``) and ``SIOCGIFFLAGS``/``SIOCSIFFLAGS``
on it, as ``ifconfig lo up`` does.
"""

from __future__ import annotations

import _socket
import fcntl

from fire.net.netns import made_in

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ_SIZE = 40  # struct ifreq: 16 bytes of name, a 24-byte union


def _ifreq(name: str, flags: int = 0) -> bytes:
    return name.encode().ljust(16, b"\0") + flags.to_bytes(2, "little") + bytes(IFREQ_SIZE - 18)


def set_up(nsfd: int, name: str = "lo") -> None:
    """Set ``name`` up in the network namespace ``nsfd``."""
    sock = made_in(nsfd, lambda: _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM
                                                | _socket.SOCK_CLOEXEC))
    try:
        got = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, _ifreq(name))
        flags = int.from_bytes(got[16:18], "little")
        if not flags & IFF_UP:
            fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, _ifreq(name, flags | IFF_UP))
    finally:
        sock.close()
