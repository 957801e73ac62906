"""Where the status view's data comes from: the supervisor's socket (asyncio:
textual runs on asyncio), the state directory, and the control requests.

The view works without a supervisor too: it then shows the state directory's
containers and tries the socket again every few seconds, so a supervisor that
starts (or restarts) later is picked up.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from fire import events as ev
from fire.supervisor.files import SOCKET

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection

RETRY = 2.0  # seconds between attempts to reach the supervisor


async def open_connection(root: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect through ``/proc/self/fd`` (a deep root's path may not fit an address)."""
    dirfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return await asyncio.open_unix_connection(f"/proc/self/fd/{dirfd}/{SOCKET}",
                                                  limit=ev.MAX_FRAME + ev.HEADER)
    finally:
        os.close(dirfd)


async def events(root: str) -> AsyncIterator[ev.AnyEvent | None]:
    """Events from ``root``'s supervisor, forever; None when the connection is lost
    (or cannot be made) before the next attempt."""
    while True:
        try:
            reader, writer = await open_connection(root)
        except OSError:
            yield None
            await asyncio.sleep(RETRY)
            continue
        try:
            writer.write(ev.frame(ev.Subscribe(replay=True)))
            await writer.drain()
            while True:
                header = await reader.readexactly(ev.HEADER)
                body = await reader.readexactly(ev.body_length(header))
                yield ev.decode_event(body)
        except (OSError, asyncio.IncompleteReadError, ev.FrameError):
            pass
        finally:
            writer.close()
        yield None
        await asyncio.sleep(RETRY)


async def request(root: str, message: ev.AnyRequest) -> ev.Reply:
    try:
        reader, writer = await open_connection(root)
    except OSError:
        return ev.Reply(ok=False, error="no fire-supervise is running here")
    try:
        writer.write(ev.frame(message))
        await writer.drain()
        header = await asyncio.wait_for(reader.readexactly(ev.HEADER), 10)
        return ev.decode_reply(await reader.readexactly(ev.body_length(header)))
    except (OSError, asyncio.IncompleteReadError, ev.FrameError, TimeoutError) as exc:
        return ev.Reply(ok=False, error=f"no reply from the supervisor ({exc})")
    finally:
        writer.close()


def scan(root: str, skip: Collection[str] = ()) -> list[tuple[str, str, int, float | None]]:
    """The containers of the state directory: (id, status, pid, running since), but
    for those in ``skip`` (the supervised ones, which the event stream shows: with
    1,000 of them, reading each one's state and cgroup every few seconds was a
    quarter of the view's CPU)."""
    from fire.container.status import current
    from fire.errors import FireError
    from fire.store import Store

    store = Store(root)
    found: list[tuple[str, str, int, float | None]] = []
    for cid in store.ids():
        if cid in skip:
            continue
        try:
            cdir = store.open(cid)
        except FireError:
            continue
        try:
            state = cdir.read_state()
        except FireError:
            found.append((cid, "unreadable", 0, None))
            continue
        finally:
            cdir.close()
        status = current(state)
        alive = status in ("created", "running", "paused")
        since = _started(state.pid) if status in ("running", "paused") else None
        found.append((cid, status, state.pid if alive else 0, since))
    return found


def _started(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the epoch (from /proc)."""
    from fire.procfs import started_at

    return started_at(pid)


def signal_unsupervised(root: str, cid: str, signum: int) -> str | None:
    """``fire kill`` for a container no supervisor runs; an error message or None."""
    from fire.container.kill import kill
    from fire.errors import FireError
    from fire.store import Store

    try:
        kill(Store(root), cid, signum)
    except FireError as exc:
        return str(exc)
    return None
