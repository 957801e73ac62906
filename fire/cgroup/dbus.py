"""A small blocking D-Bus client for systemd's manager (the systemd cgroup driver).

Why not a library's connection object: the driver makes two to four calls per
command and waits for one signal, on the engine path, where every import and round
trip is time an engine waits for.  jeepney (pure Python, no threads, no asyncio)
does the wire format: its messages and parser; the socket, the SASL handshake and
the routing of replies and signals are the few lines here, so that

* the handshake, ``Hello``, ``AddMatch`` and the first call go out in one write
  (the bus handles a connection's messages in order: the match is in place before
  systemd can emit the job's signal);
* every wait has one deadline, and a timeout says what it was waiting for;
* the same code talks to systemd's private socket, ``/run/systemd/private``, when
  the bus daemon is absent (runc's fallback): a peer-to-peer connection has no
  ``Hello`` and no matches — systemd sends its signals to every private connection.

Bus errors come back as ``BusError`` (the D-Bus error name and text); what they mean
for a container is the caller's to say (``fire.cgroup.systemd``).
"""

from __future__ import annotations

import os
import socket
import time

from jeepney.low_level import HeaderFields, Message, MessageType, Parser
from jeepney.wrappers import DBusAddress, new_method_call

from fire.errors import CgroupError
from fire.i18n import message

SYSTEM_BUS = "/run/dbus/system_bus_socket"
PRIVATE = "/run/systemd/private"
SYSTEMD = DBusAddress("/org/freedesktop/systemd1", bus_name="org.freedesktop.systemd1",
                      interface="org.freedesktop.systemd1.Manager")
_DAEMON = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                      interface="org.freedesktop.DBus")
_JOB_MATCH = ("type='signal',sender='org.freedesktop.systemd1',"
              "interface='org.freedesktop.systemd1.Manager',member='JobRemoved'")
TIMEOUT = 30.0  # runc's wait for a unit's job


class BusError(Exception):
    """An error reply: ``name`` is the D-Bus error name."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(f"{name}: {text}")
        self.name = name
        self.text = text


def _socket_path() -> str:
    """The system bus: ``$DBUS_SYSTEM_BUS_ADDRESS`` when it is a unix path."""
    addr = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    for part in addr.split(";"):
        if part.startswith("unix:path="):
            return part[len("unix:path="):].split(",")[0]
    return SYSTEM_BUS


class Bus:
    """One connection to systemd: the system bus, else its private socket."""

    def __init__(self, sock: socket.socket, private: bool, where: str) -> None:
        self.sock = sock
        self.private = private
        self.where = where
        self._serial = 0
        self._parser = Parser()
        self._replies: dict[int, Message] = {}
        self._jobs: dict[str, str] = {}  # job path -> result, from JobRemoved
        self._pending: list[bytes] = []  # written with the next call

    # ------------------------------------------------------------------ connect
    @classmethod
    def connect(cls, timeout: float = TIMEOUT) -> Bus:
        errors: list[str] = []
        for path, private in ((_socket_path(), False), (PRIVATE, True)):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            sock.settimeout(timeout)
            try:
                sock.connect(path)
                bus = cls(sock, private, path)
                bus._authenticate()
            except OSError as exc:
                sock.close()
                errors.append(f"{path}: {exc.strerror or exc}")
                continue
            if not private:
                bus._queue(_DAEMON, "Hello")
                bus._queue(_DAEMON, "AddMatch", "s", (_JOB_MATCH,))
            return bus
        raise CgroupError("cannot reach systemd over D-Bus ({reasons}); the systemd cgroup "
                          "driver needs a running systemd (--systemd-cgroup)",
                          reasons="; ".join(errors))

    def _authenticate(self) -> None:
        """SASL EXTERNAL: the bus checks our credentials on the socket (SO_PEERCRED)."""
        uid = str(os.geteuid()).encode().hex()
        self.sock.sendall(b"\0AUTH EXTERNAL " + uid.encode() + b"\r\n")
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = self.sock.recv(256)
            if not chunk:
                raise ConnectionResetError(message("connection closed during authentication"))
            line += chunk
        if not line.startswith(b"OK "):
            raise ConnectionRefusedError(message("authentication refused: {line!r}",
                                                 line=line.strip()))
        self._pending.append(b"BEGIN\r\n")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ messages
    def _queue(self, addr: DBusAddress, method: str, signature: str | None = None,
               body: tuple[object, ...] = ()) -> int:
        self._serial += 1
        msg = new_method_call(addr, method, signature, body)
        self._pending.append(msg.serialise(serial=self._serial))
        return self._serial

    def _flush(self) -> None:
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            self.sock.sendall(data)

    def _receive(self, deadline: float, waiting_for: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(waiting_for)
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise TimeoutError(waiting_for) from None
        if not data:
            raise ConnectionResetError(message("systemd closed the connection ({where})",
                                               where=self.where))
        for msg in self._parser.feed(data):
            kind = msg.header.message_type
            fields = msg.header.fields
            if kind in (MessageType.method_return, MessageType.error):
                self._replies[fields[HeaderFields.reply_serial]] = msg
            elif (kind == MessageType.signal and fields.get(HeaderFields.member) == "JobRemoved"
                  and len(msg.body) == 4):
                _id, job, _unit, result = msg.body
                self._jobs[job] = result

    def call(self, method: str, signature: str | None = None, body: tuple[object, ...] = (),
             timeout: float = TIMEOUT) -> tuple[object, ...]:
        """Call a method of systemd's manager and return the reply's body."""
        serial = self._queue(SYSTEMD, method, signature, body)
        self._flush()
        deadline = time.monotonic() + timeout
        while serial not in self._replies:
            self._receive(deadline, message("systemd's reply to {method}", method=method))
        reply = self._replies.pop(serial)
        if reply.header.message_type == MessageType.error:
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise BusError(str(reply.header.fields.get(HeaderFields.error_name, "")), text)
        return tuple(reply.body)

    def wait_job(self, job: str, timeout: float = TIMEOUT) -> str:
        """The result of ``job`` ("done", "failed", "canceled"…), from JobRemoved."""
        deadline = time.monotonic() + timeout
        while job not in self._jobs:
            self._receive(deadline, message("systemd's job {job}", job=job))
        return self._jobs.pop(job)
