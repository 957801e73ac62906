"""Rootless mode: what changes when ``fire`` is run by an ordinary user.

runc's rules, so that engines and users see the same thing:

* **Where state lives.**  A caller whose effective uid is not 0 (or uid 0 of a user
  namespace, with ``$USER`` not root) keeps its state in ``$XDG_RUNTIME_DIR/fire``
  (runc: ``$XDG_RUNTIME_DIR/runc``); ``--root`` and ``FIRE_ROOT`` still win.  The
  directory is made 0700: another user can neither list the containers nor reach
  their ``exec.sock``.
* **``--rootless auto|true|false``.**  ``auto`` (the default) means rootless when the
  effective uid is not 0 or when Fire runs inside a user namespace (rootless
  podman runs its runtime as uid 0 of its own namespace, where root owns no
  cgroup).  runc accepts the same words (and Go's other spellings of a boolean);
  anything else is an error.  What the mode changes is decided once, at
  ``create``, and recorded in the state (the cgroup: ``fire.cgroup.rootless``; the
  id maps: ``fire.container.idmaps``); the security checks do not change.

Cheap on purpose: imported by every command (no msgspec, no ctypes).
"""

from __future__ import annotations

import os

from fire.errors import UsageError

DEFAULT_ROOT = "/run/fire"
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")

_mode: bool | None = None  # None: auto


def parse_mode(value: str | None) -> bool | None:
    """``--rootless``'s value: True, False or None (auto); anything else is an error."""
    if value is None or value in ("", "auto"):
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError("--rootless must be true, false or auto, not {value!r}", value=value)


def configure(value: str | None) -> None:
    """Record the global ``--rootless`` option (checked) for this command."""
    global _mode
    _mode = parse_mode(value)


def in_user_namespace() -> bool:
    """True inside any user namespace but the initial one (whose uid_map maps all
    4294967295 ids from 0)."""
    try:
        with open("/proc/self/uid_map", "rb") as f:
            fields = f.read().split()
    except OSError:
        return False
    return fields != [b"0", b"0", b"4294967295"]


def enabled() -> bool:
    """Whether this command runs rootless (see the module's docstring)."""
    if _mode is not None:
        return _mode
    return os.geteuid() != 0 or in_user_namespace()


def _honor_runtime_dir() -> bool:
    """runc's rule: a non-root caller, or uid 0 of a user namespace whose ``$USER``
    is not root (rootless podman runs its runtime so, with the user's variables)."""
    if os.geteuid() != 0:
        return True
    if not in_user_namespace():
        return False
    return os.environ.get("USER") != "root"


def default_root() -> str:
    """runc's default: ``$XDG_RUNTIME_DIR/fire`` for a rootless caller, else /run/fire."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime_dir and _honor_runtime_dir():
        return os.path.join(runtime_dir, "fire")
    return DEFAULT_ROOT
