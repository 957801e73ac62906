"""The supervisor's Unix socket: event subscriptions and control requests.

``<root>/@supervisor.sock``, mode 0600 (the root directory is 0700 too): only
root, or whoever owns the root, may watch or drive the supervisor.  Paths under a
deep ``--root`` can pass the 108 bytes a socket address may hold, so the socket is
bound, and clients connect, through ``/proc/self/fd/<root fd>/@supervisor.sock``.

Each connection sends one request frame (within ``REQUEST_TIMEOUT``).  A
``subscribe`` gets a stream of event frames until either side closes; the events
are written by one task per subscriber, from that subscriber's bounded queue
(``fire.supervisor.bus``), so a peer that stops reading blocks only its own task.
Control requests get one ``reply`` frame.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Protocol

import trio

from fire import events as ev
from fire.errors import describe
from fire.supervisor.files import SOCKET

if TYPE_CHECKING:
    from fire.supervisor.bus import Bus


class ControlHost(Protocol):
    """What the socket server needs of the supervisor: where its socket goes, the
    event bus, the answer to a request, and the current state as events."""

    @property
    def root(self) -> str: ...
    @property
    def bus(self) -> Bus: ...
    async def control(self, request: ev.AnyRequest) -> ev.Reply: ...
    def snapshot(self, replayed: list[ev.AnyEvent]) -> list[ev.AnyEvent]: ...

REQUEST_TIMEOUT = 10.0
BATCH = 256  # events written with one send when a subscriber is behind


async def read_frame(stream: trio.abc.ReceiveStream, reader: ev.FrameReader) -> bytes | None:
    """The first frame body, or None at EOF (a client sends one request)."""
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return None
        bodies = reader.feed(bytes(data))
        if bodies:
            return bodies[0]


class Server:
    def __init__(self, sup: ControlHost) -> None:
        self.sup = sup
        self.writers = 0
        self.idle = trio.Event()
        self.idle.set()

    def bind(self) -> trio.socket.SocketType:
        root = self.sup.root
        path = os.path.join(root, SOCKET)
        try:
            os.unlink(path)  # left by a supervisor that was killed (we hold the root's lock)
        except FileNotFoundError:
            pass
        dirfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            raw.bind(f"/proc/self/fd/{dirfd}/{SOCKET}")
            os.chmod(path, 0o600)
            raw.listen(64)
        except OSError:
            raw.close()
            raise
        finally:
            os.close(dirfd)
        return trio.socket.from_stdlib_socket(raw)

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener = trio.SocketListener(self.bind())
        task_status.started()
        await trio.serve_listeners(self.handle, [listener])

    async def handle(self, stream: trio.SocketStream) -> None:
        """One client.  Whatever goes wrong with it ends its connection, never the
        supervisor: ``serve_listeners`` would let an error out of a handler cancel
        everything, containers' supervision included, so this is the one place
        that catches every ``Exception`` (and says so in the log)."""
        try:
            async with stream:
                await self._serve_client(stream)
        except Exception as exc:  # see the docstring
            self.sup.bus.publish(ev.Log("", level="warning",
                                        text=f"a client connection failed: {describe(exc)}"))

    async def _serve_client(self, stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(REQUEST_TIMEOUT):
                body = await read_frame(stream, ev.FrameReader())
            if not body:
                return
            request = ev.decode_request(body)
        except (ev.FrameError, trio.BrokenResourceError, OSError):
            return
        try:
            if isinstance(request, ev.Subscribe):
                await self.stream_events(stream, request)
            else:
                reply = await self.sup.control(request)
                await stream.send_all(ev.frame(reply))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client left

    async def stream_events(self, stream: trio.SocketStream, request: ev.Subscribe) -> None:
        bus = self.sup.bus
        subscriber = bus.subscribe(request.replay, snapshot=self.sup.snapshot)
        self.writers += 1
        self.idle = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_at_eof, stream, nursery.cancel_scope)
                while True:
                    try:
                        batch = [await subscriber.next()]
                    except trio.EndOfChannel:
                        break  # the supervisor is ending: everything was sent
                    # One turn of the loop first: the tasks already running publish
                    # what they have (a create's stages come a few at a time), and one
                    # send carries them all (1,000 starts: ~40 sends per container
                    # were a third of the supervisor's CPU).  No timer: no delay.
                    await trio.lowlevel.checkpoint()
                    batch += subscriber.ready(BATCH)
                    try:
                        await stream.send_all(b"".join(ev.frame(e) for e in batch))
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        break  # the subscriber left
                nursery.cancel_scope.cancel()
        finally:
            bus.unsubscribe(subscriber)
            self.writers -= 1
            if not self.writers:
                self.idle.set()


async def _cancel_at_eof(stream: trio.SocketStream, scope: trio.CancelScope) -> None:
    """A subscriber sends nothing after its request: EOF (or an error) means it left."""
    try:
        while await stream.receive_some(4096):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass
    scope.cancel()
