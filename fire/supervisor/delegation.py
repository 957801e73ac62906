"""The caller's side of the delegation channel (``FIRE_DELEGATE_FD``, fire.delegate).

Every ``fire create``, ``fire start`` and ``fire delete`` the supervisor runs gets
one end of a socket pair; the command asks, one JSON line at a time, and this
module answers:

* ``hooks`` — a runtime-side phase (prestart, createRuntime, poststart, poststop)
  run with the trio runner (``fire.hooks.trio_runner``: ``trio.fail_after`` for
  the timeout, a shielded kill of the hook's whole tree on a timeout or on the
  supervisor's own cancellation).  The policy module, the messages and the
  failure semantics are the sync runner's: the command turns a failure into its
  own error (and the lifecycle machine decides the rest: stop, destroy, poststop
  hooks), and a poststop failure into a warning.  Each hook is a ``hook`` event
  (phase, index, path, ok, duration, error); what it printed, ``log`` events.
* ``network:attach`` — the netlink work (``fire.net.stage.attach_netns``) in a
  trio worker thread that ``setns``'es into the container's network namespace
  only to open a socket there; pyroute2's ``IPRoute`` runs its own asyncio loop
  in that thread, never on trio's.

Requests are served one at a time, in the order the command sends them (it waits
for each answer).  Hooks run while orphan reaping is held off
(``Reaper.hold``): the hook is a child of the supervisor that trio waits for,
and its status must not be taken by the orphan reaper.
"""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING

import trio

from fire import events as ev
from fire.delegate import DELEGATE_FD_ENV
from fire.errors import FireError, describe

if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.init.plan import HookPlan
    from fire.supervisor.reaper import Reaper

MAX_REQUEST = 1 << 20
RUNTIME_PHASES = ("prestart", "createRuntime", "poststart", "poststop")


def error_record(exc: BaseException) -> dict[str, object]:
    """An error as the command rebuilds it: its template and parameters when they
    render it exactly (a plain ``FireError``), its text always."""
    record: dict[str, object] = {"text": describe(exc)}
    if isinstance(exc, FireError) and type(exc).__str__ is FireError.__str__:
        try:
            json.dumps(exc.params)
        except (TypeError, ValueError):
            return record
        record["template"] = exc.template
        record["params"] = exc.params
    return record


def hook_plan(raw: object) -> HookPlan:
    """A hook of a request (the engine's own ``HookPlan``, checked)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        raise ValueError("a hook without a path")
    args, env, timeout = raw.get("args"), raw.get("env"), raw.get("timeout")
    return {"path": raw["path"],
            "args": [str(a) for a in args] if isinstance(args, list) else [],
            "env": [str(e) for e in env] if isinstance(env, list) else [],
            "timeout": float(timeout) if isinstance(timeout, (int, float)) else None}


class Delegation:
    """Serves one engine process's requests for one container."""

    def __init__(self, cid: str, publish: Callable[[ev.AnyEvent], None], reaper: Reaper) -> None:
        self.id = cid
        self.publish = publish
        self.reaper = reaper
        self._ours: socket.socket | None = None
        self._theirs: socket.socket | None = None

    # ------------------------------------------------------------------ the pair
    def open(self) -> tuple[int, dict[str, str]]:
        """The child's fd (to pass) and the environment that names it."""
        self._ours, self._theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = self._theirs.fileno()
        return fd, {DELEGATE_FD_ENV: str(fd)}

    def started(self) -> None:
        """The child has its copy: close ours, so that its exit is our EOF."""
        if self._theirs is not None:
            self._theirs.close()
            self._theirs = None

    def close(self) -> None:
        self.started()
        if self._ours is not None:
            self._ours.close()
            self._ours = None

    # ------------------------------------------------------------------ serving
    async def serve(self) -> None:
        """Answer requests until the command closes its end (or exits)."""
        sock, self._ours = self._ours, None
        if sock is None:
            return
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        buffer = b""
        try:
            while True:
                try:
                    data = await stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not data:
                    return
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    reply = await self.answer(line)
                    try:
                        await stream.send_all(json.dumps(reply).encode() + b"\n")
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return
                if len(buffer) > MAX_REQUEST:
                    return
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def answer(self, line: bytes) -> dict[str, object]:
        try:
            request = json.loads(line)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "error": error_record(FireError("not a request: {line}",
                                                                 line=line[:80].decode(
                                                                     errors="replace")))}
        try:
            if op == "hooks":
                return await self.hooks(request)
            if op == "network:attach":
                return await self.attach(request)
        except (ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "error": error_record(FireError(
                "a malformed {op} request: {error}", op=str(op), error=describe(exc)))}
        return {"ok": False, "error": error_record(FireError("an unknown request: {op}",
                                                             op=str(op)))}

    async def hooks(self, request: dict[str, object]) -> dict[str, object]:
        from fire.errors import HookError
        from fire.hooks import trio_runner

        phase = str(request["phase"])
        if phase not in RUNTIME_PHASES:
            raise ValueError(f"{phase} hooks are not run by the runtime")
        raw = request["hooks"]
        hooks = [hook_plan(h) for h in (raw if isinstance(raw, list) else [])]
        state = str(request["state"]).encode()
        cwd = request.get("cwd")
        failures: list[BaseException] = []

        def report(index: int, hook: HookPlan, seconds: float, exc: Exception | None) -> None:
            self.publish(ev.Hook(self.id, phase=phase, index=index, path=hook["path"],
                                 ok=exc is None, duration=seconds,
                                 error="" if exc is None else describe(exc)))
            if exc is not None:
                failures.append(exc)

        def output(text: str) -> None:
            self.publish(ev.Log(self.id, level="info", text=text))

        cut_short = True
        try:
            with self.reaper.hold():
                await trio_runner.run_all(hooks, state, phase, output,
                                          cwd=cwd if isinstance(cwd, str) else None,
                                          report=report)
            cut_short = False
        except (HookError, OSError) as exc:
            cut_short = False
            return {"ok": False, "error": error_record(exc)}
        finally:
            if cut_short:  # cancelled (a stop during set-up): the runner killed the tree
                self.publish(ev.Log(self.id, level="warning", text=f"the {phase} hooks were "
                                    "cut short (the hook and what it started were killed)"))
        return {"ok": True, "warnings": [error_record(e) for e in failures]}

    async def attach(self, request: dict[str, object]) -> dict[str, object]:
        from fire.net.stage import attach_netns

        pid = request["pid"]
        if not isinstance(pid, int) or pid <= 0:
            raise ValueError(f"no container pid ({pid!r})")
        net = request.get("net")
        raw = request.get("devices")
        devices = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        began = trio.current_time()
        try:
            await trio.to_thread.run_sync(attach_netns, pid, net if isinstance(net, dict)
                                          else None, devices)
        except Exception as exc:  # netlink, a bug: the create fails with it, we go on
            return {"ok": False, "error": error_record(exc)}
        took = (trio.current_time() - began) * 1000
        self.publish(ev.Log(self.id, level="debug", text="network:attach: the netlink work done "
                            f"in a worker thread of the supervisor ({took:.1f} ms)"))
        return {"ok": True}
