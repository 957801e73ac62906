"""The terminal of a container whose ``process.terminal`` is true.

``fire create --console-socket PATH`` sends the pty's master over a Unix socket
(runc's protocol: one message, the fd in SCM_RIGHTS).  The supervisor listens on
a socket of its own for the length of the create, takes the master, and appends
what it reads from it to the container's log file (``Output.pump``), where it is
followed like the output of a container without a terminal:
nobody types into a supervised container, but `fire spec`'s default bundle asks
for a terminal and must run all the same.

The socket lives in a fresh directory under the system's temporary directory,
not in ``--root``: the path is given to ``connect`` as it is, and a deep root
could pass the 108 bytes a socket address may hold.
"""

from __future__ import annotations

import array
import os
import shutil
import socket
import tempfile

import trio

NAME = "console.sock"


class ConsoleSocket:
    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="fire-console-")
        os.chmod(self.directory, 0o700)
        self.path = os.path.join(self.directory, NAME)
        self.sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.master = -1

    async def __aenter__(self) -> ConsoleSocket:
        await self.sock.bind(self.path)
        self.sock.listen(1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sock.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    async def receive(self) -> None:
        """Accept ``fire create``'s connection and keep the fd it sends."""
        conn, _ = await self.sock.accept()
        with conn:
            fds = array.array("i")
            _, ancillary, _, _ = await conn.recvmsg(256, socket.CMSG_SPACE(fds.itemsize))
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        for fd in fds[1:]:
            os.close(fd)
        if fds:
            os.set_inheritable(fds[0], False)
            self.master = fds[0]
