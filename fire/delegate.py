"""The delegation channel (``FIRE_DELEGATE_FD``): the engine path asks its caller
to carry out a step for it.

Why: ``fire-supervise`` starts, starts and deletes containers by running the engine
path (``python -m fire create|start|delete``) as fresh single-threaded processes:
it never forks or unshares itself.  But two steps of those commands belong in the
long-lived supervisor, where a trio driver watches them and turns them into events:

* the **runtime-side hooks** (prestart + createRuntime in ``create``, poststart in
  ``start``, poststop in ``delete`` and in every teardown): the supervisor runs them
  with the trio runner (``fire.hooks.trio_runner``: ``trio.fail_after``, a shielded
  kill of the hook's whole tree), with the same policy and messages as the sync
  runner (``fire.hooks.policy``), and publishes a ``hook`` event per hook;
* the **netlink work of** ``network:attach`` (the veth into the container's network
  namespace, ``linux.netDevices``): the supervisor does it in a worker thread
  ``setns``'d into the namespace (``fire.net.stage.attach_netns``).

createContainer and startContainer hooks are not delegated: they run inside the
container's namespaces, in its init.  Network and storage teardown is not either:
``delete`` must work after a crash, with no supervisor.

**Protocol.** A caller that sets ``FIRE_DELEGATE_FD=N`` passes fd N, one end of a
``SOCK_STREAM`` Unix socket pair.  The command writes one JSON object per line and
waits for the one-line answer before it goes on:

    {"op": "hooks", "phase": "createRuntime", "hooks": [{"path": …, "args": […],
     "env": […], "timeout": 5}], "state": "<the state JSON the hooks read>",
     "cwd": "/the/bundle"}
    {"op": "network:attach", "pid": 4242, "net": {…extra.net of state.json…} | null,
     "devices": {"eth1": "ctr1"}}

    {"ok": true, "warnings": [ERR…]}             (poststop: failures are warnings)
    {"ok": false, "error": ERR}                 ERR = {"text": "…", "template": "…",
                                                       "params": {…}}

The answer's ``template`` and ``params`` are the failure's English template, so the
command reports it as its own error in the user's language (the same one line, and
the same failure semantics: ``fire.lifecycle.machine``).  A caller that is gone
*before* it takes a request (the write fails) is treated as no caller: the command
does the step itself, as it does when the variable is unset.  A caller that goes
away while it holds a request fails that step.

The fd is made close-on-exec at first use (neither the init nor a hook inherits it;
the init's spawn closes every fd it is not given anyway).  Unset, it costs one
environment lookup.  No msgspec, no trio here: ``start`` and ``delete`` stay light
(``json`` is imported only when a request is sent).
"""

from __future__ import annotations

import _socket
import os

from fire.i18n import N_

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.errors import FireError
    from fire.init.plan import HookPlan

DELEGATE_FD_ENV = "FIRE_DELEGATE_FD"
# The other fd a caller hands create: the stage channel (fire.container.create's
# docstring; fire-supervise reads it, fire.supervisor.relay).
STAGE_FD_ENV = "FIRE_STAGE_FD"
# And what fire-supervise ran ahead of create (fire.prepared): read only when set.
PREPARED_FD_ENV = "FIRE_PREPARED_FD"
MAX_REPLY = 1 << 20

GONE = N_("the process that ran fire went away while it held the {op} step")


class Caller:
    """This process's end of the channel."""

    def __init__(self, fd: int) -> None:
        self.sock: _socket.socket | None = None
        try:
            os.set_inheritable(fd, False)
            self.sock = _socket.socket(fileno=fd)
        except OSError:  # not an open socket: no caller
            self.sock = None

    def _gone(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def ask(self, request: dict[str, object]) -> dict[str, object] | None:
        """The caller's answer; None if there is no caller (any more) to ask."""
        sock = self.sock
        if sock is None:
            return None
        import json

        data = memoryview(json.dumps(request).encode() + b"\n")
        try:
            while data:  # MSG_NOSIGNAL: `fire run` forwards a SIGPIPE to its container
                data = data[sock.send(data, _socket.MSG_NOSIGNAL):]
        except OSError:  # EPIPE: gone before it took the request
            self._gone()
            return None
        buffer = b""
        while b"\n" not in buffer and len(buffer) < MAX_REPLY:
            try:
                chunk = sock.recv(65536)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self._gone()
                return {"ok": False, "error": {"template": GONE, "params": {"op": request["op"]}}}
            buffer += chunk
        try:
            reply = json.loads(buffer.split(b"\n", 1)[0])
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            return {"ok": False, "error": {"template": GONE, "params": {"op": request["op"]}}}
        return reply


_caller: Caller | None = None
_looked = False


def caller() -> Caller | None:
    """The caller named by ``FIRE_DELEGATE_FD``, or None (looked up once)."""
    global _caller, _looked
    if not _looked:
        _looked = True
        fd = os.environ.get(DELEGATE_FD_ENV, "")
        if fd.isdigit():
            _caller = Caller(int(fd))
    return _caller


def error_of(kind: type[FireError], record: object) -> FireError:
    """An answer's error record as ``kind`` (rendered here, in our language)."""
    if isinstance(record, dict):
        template = record.get("template")
        params = record.get("params")
        if isinstance(template, str) and isinstance(params, dict):
            return kind(template, **{str(k): v for k, v in params.items()})
        text = record.get("text")
        if isinstance(text, str):
            return kind("{detail}", detail=text)
    return kind("{detail}", detail=str(record))


def run_hooks(hooks: list[HookPlan], state: bytes, phase: str,
              output: Callable[[str], None] | None = None,
              warn: Callable[[str], None] | None = None) -> None:
    """A runtime-side phase's hooks: by the caller when there is one, else here
    with the sync runner (``fire.hooks.runner.run_all``'s contract either way)."""
    if not hooks:
        return
    delegate = caller()
    if delegate is not None:
        reply = delegate.ask({"op": "hooks", "phase": phase, "hooks": [dict(h) for h in hooks],
                              "state": state.decode(), "cwd": os.getcwd()})
        if reply is not None:
            from fire.errors import HookError

            warnings = reply.get("warnings")
            for record in warnings if isinstance(warnings, list) else []:
                if warn is not None:
                    warn(str(error_of(HookError, record)))
            if reply.get("ok") is not True:
                raise error_of(HookError, reply.get("error"))
            return
    from fire.hooks import runner

    runner.run_all(hooks, state, phase, output, warn)


def attach_network(pid: int, net: dict[str, object] | None, devices: dict[str, str]) -> bool:
    """Ask the caller to do ``network:attach``'s netlink work; False when there is
    no caller (do it yourself).  Its failure is raised as a ``NetworkError``."""
    delegate = caller()
    if delegate is None:
        return False
    reply = delegate.ask({"op": "network:attach", "pid": pid, "net": net, "devices": devices})
    if reply is None:
        return False
    if reply.get("ok") is not True:
        from fire.net import NetworkError

        raise error_of(NetworkError, reply.get("error"))
    return True
