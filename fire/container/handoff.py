"""What a verb hands to its caller: the pid file (``--pid-file``) and the terminal's
master (``--console-socket``).  ``create`` and ``exec`` both do, the way runc does;
the two live here, below both verbs.
"""

from __future__ import annotations

import os

from fire.errors import SyscallError


def write_pid_file(path: str, pid: int) -> None:
    """Digits only, no newline (containerd rejects one); written atomically."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def send_console(path: str, master: int) -> None:
    """Send the pty master over ``--console-socket`` exactly as runc does."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        rights = master.to_bytes(4, "little", signed=True)
        sock.sendmsg([b"/dev/ptmx"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
    except OSError as exc:
        raise SyscallError("sending the terminal to the console socket", exc, path) from None
    finally:
        sock.close()
