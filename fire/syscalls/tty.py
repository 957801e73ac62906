"""Terminal ioctls (the numbers are the generic Linux ones, x86_64 and arm64 alike)."""

from __future__ import annotations

import fcntl

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCSWINSZ = 0x5414
TIOCGWINSZ = 0x5413
TIOCSCTTY = 0x540E


def unlock_pt(fd: int) -> int:
    """Unlock a pty master; return its number (``/dev/pts/N``)."""
    fcntl.ioctl(fd, TIOCSPTLCK, (0).to_bytes(4, "little"))
    return int.from_bytes(fcntl.ioctl(fd, TIOCGPTN, bytes(4)), "little")


def set_winsize(fd: int, rows: int, cols: int) -> None:
    raw = rows.to_bytes(2, "little") + cols.to_bytes(2, "little") + bytes(4)
    fcntl.ioctl(fd, TIOCSWINSZ, raw)


def get_winsize(fd: int) -> tuple[int, int]:
    raw = fcntl.ioctl(fd, TIOCGWINSZ, bytes(8))
    return int.from_bytes(raw[0:2], "little"), int.from_bytes(raw[2:4], "little")


def set_controlling(fd: int) -> None:
    fcntl.ioctl(fd, TIOCSCTTY, 0)
