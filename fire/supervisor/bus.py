"""The event bus: one publisher (the supervisor), any number of subscribers.

``publish`` never waits.  Each subscriber has a bounded queue; when it is full
the event is dropped *for that subscriber only* and counted, and once the
subscriber has caught up with what is queued it is sent one ``missed`` event with
the count before the next live event.  A subscriber that stops reading therefore
costs at most its queue, and never slows the supervisor or the other
subscribers.

The bus also keeps the last ``replay`` events: a new subscriber gets them first,
then the live ones, with nothing lost or repeated in between (the replay is
queued in the same step that registers the subscriber).  In-process listeners
(the metrics, the journal) are plain callbacks called on publish.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import trio

from fire import events as ev

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPLAY = 1000
QUEUE = 1000


class Subscriber:
    def __init__(self, size: int) -> None:
        self._send, self._receive = trio.open_memory_channel[ev.AnyEvent](size)
        self.missed = 0

    def offer(self, event: ev.AnyEvent) -> None:
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.missed += 1
        except trio.ClosedResourceError:
            pass  # the bus has closed

    async def next(self) -> ev.AnyEvent:
        """The next event for this subscriber (a ``missed`` one where events were dropped)."""
        if self.missed and self._receive.statistics().current_buffer_used == 0:
            count, self.missed = self.missed, 0
            return ev.Missed(id="", count=count)
        return await self._receive.receive()

    def ready(self, limit: int) -> list[ev.AnyEvent]:
        """Up to ``limit`` more events that are queued now (no waiting)."""
        out: list[ev.AnyEvent] = []
        while len(out) < limit:
            if self.missed and self._receive.statistics().current_buffer_used == 0:
                break  # `next` says how many were missed, in order
            try:
                out.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        return out

    def close(self) -> None:
        """No more events: ``next`` raises EndOfChannel once the queue is empty."""
        self._send.close()


class Bus:
    def __init__(self, replay: int = REPLAY, queue: int = QUEUE) -> None:
        self.history: deque[ev.AnyEvent] = deque(maxlen=replay)
        self.queue = queue
        self.subscribers: set[Subscriber] = set()
        self.listeners: list[Callable[[ev.AnyEvent], None]] = []
        self.published = 0

    def publish(self, event: ev.AnyEvent) -> None:
        self.published += 1
        self.history.append(event)
        for listener in self.listeners:
            listener(event)
        for subscriber in self.subscribers:
            subscriber.offer(event)

    def subscribe(self, replay: bool = True,
                  snapshot: Callable[[list[ev.AnyEvent]], list[ev.AnyEvent]] | None = None,
                  ) -> Subscriber:
        """A new subscriber, its queue already holding the replay, then what
        ``snapshot(replay)`` adds to it (the present state the replay does not show)."""
        backlog = list(self.history) if replay else []
        if snapshot is not None:
            backlog = backlog + snapshot(backlog)
        subscriber = Subscriber(max(self.queue, len(backlog) + 1))
        for event in backlog:
            subscriber.offer(event)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        subscriber.close()

    def close(self) -> None:
        """The end: subscribers get what is queued for them, then EOF."""
        for subscriber in list(self.subscribers):
            subscriber.close()

    def subscription(self, replay: bool = True) -> _Subscription:
        return _Subscription(self, replay)


class _Subscription:
    """``with bus.subscription() as sub:`` — unsubscribes on exit."""

    def __init__(self, bus: Bus, replay: bool) -> None:
        self.bus = bus
        self.replay = replay
        self.subscriber: Subscriber | None = None

    def __enter__(self) -> Subscriber:
        self.subscriber = self.bus.subscribe(self.replay)
        return self.subscriber

    def __exit__(self, *exc: object) -> None:
        assert self.subscriber is not None
        self.bus.unsubscribe(self.subscriber)


def drain(subscriber: Subscriber) -> Iterator[ev.AnyEvent]:
    """What is queued for ``subscriber`` now, without waiting (tests, snapshots)."""
    while batch := subscriber.ready(QUEUE):
        yield from batch
