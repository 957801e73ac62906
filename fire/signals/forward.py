"""What a foreground command (``fire run``, later the supervisor) does with each
signal it receives: one decision, shared, pure.

runtime-spec leaves forwarding to the runtime; runc's ``run`` is the model: the
runtime catches every signal it can, and

* SIGCHLD means "a child changed state": reap (Fire is a child subreaper, so the
  container's orphans are its children too); never forwarded.
* SIGWINCH means "our terminal changed size": copy the size to the container's
  terminal (the kernel then sends the container its own SIGWINCH); not forwarded.
* SIGKILL and SIGSTOP cannot be caught, so never arrive here.
* Everything else — SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGTSTP,
  SIGCONT, the real-time signals … — goes to the container's process.  (runc skips
  SIGURG because Go's runtime sends it to itself; nothing sends it to Python.)
"""

from __future__ import annotations

import _signal

REAP = "reap"
RESIZE = "resize"
FORWARD = "forward"

UNCATCHABLE = frozenset({_signal.SIGKILL, _signal.SIGSTOP})


def action(sig: int) -> str:
    """REAP, RESIZE or FORWARD for a received signal."""
    if sig == _signal.SIGCHLD:
        return REAP
    if sig == _signal.SIGWINCH:
        return RESIZE
    return FORWARD


def catchable() -> list[int]:
    """Every signal number a handler can be installed for (the C library keeps 32
    and 33 for itself; installing fails there and they are skipped by the caller)."""
    return [sig for sig in range(1, _signal.NSIG) if sig not in UNCATCHABLE]
