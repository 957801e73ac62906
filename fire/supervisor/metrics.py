"""``--metrics HOST:PORT``: Prometheus's text exposition at ``/metrics``.

The numbers are collected at scrape time (a custom collector, no stored gauges):
the supervised state of each container, its restarts and health, and its cgroup's
cpu, memory and pids read from the cgroup files right then, so a scrape agrees
with the files, not with a reading a few seconds old.

The HTTP side is a few lines of trio rather than prometheus-client's threaded
server: it runs in the supervisor's event loop (reading the units needs no lock)
and stops with it.  It answers ``GET /metrics`` and nothing else of interest.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

import trio

from fire.errors import UsageError
from fire.lifecycle.units import STATES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fire.supervisor.bus import Bus
    from fire.supervisor.cgstats import Reader
    from fire.supervisor.unit import Unit


class MetricsSource(Protocol):
    """What the metrics read of the supervisor: its units, their cgroups' samples,
    and the event count."""

    @property
    def units(self) -> dict[str, Unit]: ...
    @property
    def cgroups(self) -> Reader: ...
    @property
    def bus(self) -> Bus: ...

MAX_REQUEST = 8192
# fire_container_healthy; "" (no health check) is -1.
HEALTHY_VALUE = {"healthy": 1.0, "failing": 0.0, "unhealthy": 0.0, "starting": 0.5}


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError("--metrics needs HOST:PORT (127.0.0.1:9100), not {text!r}", text=text)
    return host.strip("[]") or "127.0.0.1", int(port)


class Collector:
    def __init__(self, sup: MetricsSource) -> None:
        self.sup = sup

    def collect(self) -> Iterator[object]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        state = GaugeMetricFamily("fire_container_state",
                                  "1 for the supervised state the container is in",
                                  labels=["id", "state"])
        restarts = CounterMetricFamily("fire_container_restarts",
                                       "restarts of the container by the supervisor",
                                       labels=["id"])
        healthy = GaugeMetricFamily("fire_container_healthy",
                                    "1 healthy, 0 failing or unhealthy, 0.5 starting (no "
                                    "verdict yet), -1 no health check",
                                    labels=["id"])
        cpu = CounterMetricFamily("fire_container_cpu_seconds",
                                  "CPU time used by the container's cgroup", labels=["id"])
        memory = GaugeMetricFamily("fire_container_memory_bytes",
                                   "memory used by the container's cgroup", labels=["id"])
        pids = GaugeMetricFamily("fire_container_pids", "processes in the container's cgroup",
                                 labels=["id"])
        for cid, unit in sorted(self.sup.units.items()):
            for name in STATES:
                state.add_metric([cid, name], 1.0 if unit.state == name else 0.0)
            restarts.add_metric([cid], unit.restarts)
            healthy.add_metric([cid], HEALTHY_VALUE.get(unit.health, -1.0))
            if unit.cgroup is None or unit.pidfd < 0:
                continue
            sample = self.sup.cgroups.sample(unit.cgroup)
            if sample.cpu is not None:
                cpu.add_metric([cid], sample.cpu)
            if sample.memory is not None:
                memory.add_metric([cid], sample.memory)
            if sample.pids is not None:
                pids.add_metric([cid], sample.pids)
        supervised = GaugeMetricFamily("fire_supervisor_containers",
                                       "containers in the supervisor's configuration")
        supervised.add_metric([], len(self.sup.units))
        events = CounterMetricFamily("fire_supervisor_events", "events published")
        events.add_metric([], self.sup.bus.published)
        yield from (state, restarts, healthy, cpu, memory, pids, supervised, events)


def exposition(sup: MetricsSource) -> tuple[bytes, str]:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(sup))  # type: ignore[arg-type]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


async def listen(host: str, port: int) -> list[trio.SocketListener]:
    """The listening sockets of ``--metrics``, before anything is started: a port in
    use, an address not on this host or a name that does not resolve is one line
    (exit 1), not a traceback from inside the supervisor's nursery."""
    import socket

    try:
        return await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) or not exc.errno \
            else os.strerror(exc.errno)
        raise UsageError("--metrics {host}:{port}: cannot listen there: {reason}",
                         host=host, port=port, reason=reason or str(exc)) from None


def bound_port(listeners: list[trio.SocketListener]) -> int:
    port: int = listeners[0].socket.getsockname()[1]
    return port


async def serve(sup: MetricsSource, listeners: list[trio.SocketListener]) -> None:
    """Serve on ``listeners`` (from ``listen``) until cancelled."""

    async def handle(stream: trio.SocketStream) -> None:
        async with stream:
            request = b""
            with trio.move_on_after(10):
                while b"\r\n\r\n" not in request and len(request) < MAX_REQUEST:
                    data = await stream.receive_some(4096)
                    if not data:
                        break
                    request += data
            method, _, rest = request.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method != b"GET":
                reply = _response("405 Method Not Allowed", "text/plain", b"GET only\n")
            elif path == b"/metrics":
                body, content_type = exposition(sup)
                reply = _response("200 OK", content_type, body)
            elif path == b"/":
                reply = _response("200 OK", "text/html",
                                  b'<a href="/metrics">fire-supervise metrics</a>\n')
            else:
                reply = _response("404 Not Found", "text/plain", b"not found\n")
            try:
                await stream.send_all(reply)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    await trio.serve_listeners(handle, listeners)
