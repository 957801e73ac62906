"""Terminals (issue #2 §3, §5): ``--console-socket`` receives the pty master as runc
sends it; ``run`` in the foreground proxies Fire's own terminal (raw mode, SIGWINCH)."""

from __future__ import annotations

import array
import fcntl
import os
import select
import socket
import struct
import sys
import termios
import time
from typing import TYPE_CHECKING

import pytest

from tests.conftest import REPO

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]

TIOCGPTN = 0x80045430


def read_until(fd: int, needle: bytes, timeout: float = 15) -> bytes:
    """Read ``fd`` until ``needle`` shows up (or fail after ``timeout``)."""
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} never came; got {data!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    assert needle in data, data
    return data


def winsize(fd: int) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8)))
    return rows, cols


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class ConsoleSocket:
    """What an engine does: listen, receive one fd with SCM_RIGHTS."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.sock.settimeout(30)

    def receive(self) -> tuple[bytes, int]:
        conn, _ = self.sock.accept()
        with conn:
            fds = array.array("i")
            msg, ancdata, _flags, _addr = conn.recvmsg(1024, socket.CMSG_SPACE(4 * fds.itemsize))
            for level, kind, data in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
        assert len(fds) == 1, "exactly one fd"
        return msg, fds[0]

    def close(self) -> None:
        self.sock.close()


def test_console_socket_receives_the_pty_master(fire: Fire, bundle: Bundle, tmp_path: Path
                                                ) -> None:
    bundle.process["terminal"] = True
    bundle.process["consoleSize"] = {"height": 33, "width": 101}
    bundle.args("sh").write()
    console = ConsoleSocket(tmp_path / "console.sock")
    cid = fire.unique_id()
    try:
        # The runtime connects and sends while create runs: receive in parallel.
        import threading

        got: list[tuple[bytes, int]] = []
        receiver = threading.Thread(target=lambda: got.append(console.receive()))
        receiver.start()
        r = fire("create", "--console-socket", str(tmp_path / "console.sock"), "-b",
                 str(bundle.path), cid)
        receiver.join(30)
        assert r.code == 0, r
    finally:
        console.close()
    name, master = got[0]
    try:
        assert name == b"/dev/ptmx", "runc sends the name of the master"
        fcntl.ioctl(master, TIOCGPTN, bytes(4))  # only a pty master answers this
        assert winsize(master) == (33, 101), "consoleSize"
        assert fire("start", cid).code == 0
        os.write(master, b"stty size; tty; ls -l /proc/self/fd/0 /dev/console\n")
        out = read_until(master, b"/dev/console")
        out += read_until(master, b"# ", timeout=5)
        text = out.decode(errors="replace")
        assert "33 101" in text
        assert "/dev/pts/" in text
        os.write(master, b"exit 5\n")
        assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    finally:
        os.close(master)
    assert fire("delete", cid).code == 0


def test_console_shows_as_dev_console(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    """/dev/console is the pty's slave, bound (runc's rule)."""
    bundle.process["terminal"] = True
    bundle.args("sh", "-c", "stat -c '%t %T' /dev/console; readlink /proc/self/fd/1; "
                "grep ' /dev/console ' /proc/self/mountinfo | wc -l; sleep 5").write()
    console = ConsoleSocket(tmp_path / "c.sock")
    cid = fire.unique_id()
    import threading

    got: list[tuple[bytes, int]] = []
    receiver = threading.Thread(target=lambda: got.append(console.receive()))
    receiver.start()
    try:
        r = fire("create", "--console-socket", str(tmp_path / "c.sock"), "-b", str(bundle.path),
                 cid)
        receiver.join(30)
        assert r.code == 0, r
    finally:
        console.close()
    master = got[0][1]
    try:
        assert fire("start", cid).code == 0
        out = read_until(master, b"\n1\r\n").decode()
    finally:
        os.close(master)
    major, minor_and_rest = out.split(" ", 1)
    assert int(major, 16) == 136, "a devpts node"
    assert "/dev/pts/" in minor_and_rest
    fire("delete", "--force", cid)


def test_terminal_without_console_socket_is_runcs_error(fire: Fire, bundle: Bundle) -> None:
    bundle.process["terminal"] = True
    bundle.write()
    cid = fire.unique_id()
    for command in (["create"], ["run", "-d"]):
        r = fire(*command, "-b", str(bundle.path), cid)
        assert r.code == 1
        assert "cannot allocate tty if fire will detach without setting console socket" in r.err
        assert len(r.err.splitlines()) == 1
        assert fire("state", cid).code == 1


def test_console_socket_without_terminal_is_runcs_error(fire: Fire, bundle: Bundle,
                                                        tmp_path: Path) -> None:
    bundle.write()
    r = fire("create", "--console-socket", str(tmp_path / "x.sock"), "-b", str(bundle.path),
             fire.unique_id())
    assert r.code == 1
    assert "cannot use console socket if fire will not detach or allocate tty" in r.err


def test_unreachable_console_socket_leaves_nothing(fire: Fire, bundle: Bundle, tmp_path: Path
                                                   ) -> None:
    bundle.process["terminal"] = True
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "--console-socket", str(tmp_path / "nobody.sock"), "-b",
             str(bundle.path), cid)
    assert r.code == 1
    assert "nobody.sock" in r.err
    assert fire("state", cid).code == 1


# ----------------------------------------------------------------------------- run in a pty


def _fire_argv(fire: Fire, *args: str) -> list[str]:
    return [sys.executable, "-m", "fire", "--root", str(fire.root), *args]


def test_run_in_the_foreground_with_a_terminal(fire: Fire, bundle: Bundle) -> None:
    """Fire's own terminal becomes the container's: raw while it runs, restored
    after; a window change reaches the container (SIGWINCH)."""
    import pty

    bundle.process["terminal"] = True
    bundle.process["env"] = ["PATH=/bin", "PS1=READY$ "]
    bundle.args("sh").write()
    argv = _fire_argv(fire, "run", "-b", str(bundle.path), fire.unique_id())
    env = fire.env()
    pid, master = pty.fork()
    if pid == 0:  # the child: fire, on the pty's slave
        try:
            os.chdir(REPO)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    try:
        set_winsize(master, 40, 120)
        read_until(master, b"READY$ ")
        attrs = termios.tcgetattr(master)
        assert not attrs[3] & termios.ICANON, "fire's terminal is raw while the container runs"
        assert not attrs[3] & termios.ECHO
        os.write(master, b"stty size\r")
        assert b"40 120" in read_until(master, b"READY$ ")
        set_winsize(master, 50, 132)  # the kernel sends SIGWINCH to fire
        deadline = time.monotonic() + 20
        seen = b""
        while b"50 132" not in seen and time.monotonic() < deadline:
            os.write(master, b"stty size\r")
            seen = read_until(master, b"READY$ ")
        assert b"50 132" in seen, "the new size reached the container"
        os.write(master, b"tty; exit 7\r")
        out = read_until(master, b"/dev/pts/")
        assert b"/dev/pts/" in out
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 7
        attrs = termios.tcgetattr(master)
        assert attrs[3] & termios.ICANON, "the terminal is restored"
        assert attrs[3] & termios.ECHO
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(master)


def test_run_with_a_terminal_forwards_input_eof(fire: Fire, bundle: Bundle) -> None:
    """``cat`` in the container echoes what is typed; ^D ends it."""
    import pty

    bundle.process["terminal"] = True
    bundle.args("cat").write()
    argv = _fire_argv(fire, "run", "-b", str(bundle.path), fire.unique_id())
    env = fire.env()
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _running(fire):
            time.sleep(0.05)
        os.write(master, b"typed text\r")
        out = read_until(master, b"typed text")
        while out.count(b"typed text") < 2:  # the container's echo, then cat's copy
            out += read_until(master, b"typed text")
        os.write(master, b"\x04")  # ^D: the container's tty turns it into EOF
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(master)


def _running(fire: Fire) -> bool:
    r = fire("list", "--format", "json")
    return r.code == 0 and any(c["status"] == "running" for c in r.json())
