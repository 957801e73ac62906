"""Handing a seccomp notify listener to ``linux.seccomp.listenerPath``.

The init loads the filter with ``SECCOMP_FILTER_FLAG_NEW_LISTENER`` right before
``execve`` (at ``start``) and passes the listener fd to ``fire start`` over
exec.sock; ``fire start`` — in the host's namespaces, where ``listenerPath``
means what the config says — connects to the socket and sends the *container
process state* of runtime-spec `config-linux.md`: one JSON object, the fd as
SCM_RIGHTS on the same ``sendmsg``, ``fds: ["seccompFd"]``; one connection per
state, closed afterwards.  Only then does the init exec the program, so no
notified call can happen before the agent holds the listener.  A failure here
fails ``start`` (the spec: "MUST generate an error").

The path and metadata come from the runtime's own record (state.json), written at
create: never from the init.
"""

from __future__ import annotations

import _socket
import json

from fire import SPEC_VERSION
from fire.errors import FireError, SyscallError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.spec.state import State

STATE_KEY = "seccompListener"  # in State.extra: {"path": ..., "metadata": ...}


def listener_of(state: State) -> tuple[str, str] | None:
    """(listenerPath, listenerMetadata) recorded at create, or None."""
    entry = (state.extra or {}).get(STATE_KEY)
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return None
    metadata = entry.get("metadata")
    return entry["path"], metadata if isinstance(metadata, str) else ""


def process_state(state: State, status: str, metadata: str) -> bytes:
    """The container process state document."""
    public = state.public(status)
    inner = {k: public[k] for k in ("ociVersion", "id", "status", "pid", "bundle")}
    if state.annotations:
        inner["annotations"] = state.annotations
    doc: dict[str, object] = {"ociVersion": SPEC_VERSION, "fds": ["seccompFd"],
                              "pid": state.pid, "state": inner}
    if metadata:
        doc["metadata"] = metadata
    return json.dumps(doc, separators=(",", ":")).encode()


def send(path: str, listener: int, payload: bytes) -> None:
    """Connect to ``path`` (AF_UNIX, SOCK_STREAM) and send ``payload`` + the fd."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        rights = listener.to_bytes(4, "little", signed=True)
        sent = sock.sendmsg([payload], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        if sent < len(payload):
            sock.sendall(payload[sent:])  # the fd went with the first call
    except OSError as exc:
        raise SyscallError("sending the seccomp listener to listenerPath", exc, path) from None
    finally:
        sock.close()


def forward(state: State, listener: int) -> None:
    """``fire start``'s part: send the init's listener to the recorded path."""
    recorded = listener_of(state)
    if recorded is None:
        raise FireError("sending the seccomp listener: no listenerPath was recorded at create")
    path, metadata = recorded
    send(path, listener, process_state(state, "created", metadata))
