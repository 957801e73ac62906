"""The container's state record, as stored in ``<root>/<id>/state.json``.

This module is on the fast path of ``state``, ``kill``, ``delete`` and ``list``, so it
uses ``fire.jsonlite`` (json without ``re``) rather than msgspec (≈20 ms, mostly ``typing``):
those commands must stay within runc + 15 ms.  The record is ours (written only by
``fire.store``); ``from_json`` still checks every field's type, so a corrupt file is
a clear per-container error, never a traceback.
"""

from __future__ import annotations

from fire import jsonlite

# Status values of runtime-spec `runtime.md` (+ runc's "paused").
CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

_FIELDS: dict[str, tuple[type | tuple[type, ...], object]] = {
    # name: (type, default)
    "ociVersion": (str, ""),
    "id": (str, ""),
    "status": (str, CREATING),
    "pid": (int, 0),
    "pidStart": (int, 0),
    "initPid": (int, 0),
    "initStart": (int, 0),
    "bundle": (str, ""),
    "rootfs": (str, ""),
    "created": (str, ""),
    "owner": (str, ""),
    "annotations": (dict, None),
    "hooks": (dict, None),
    "namespaces": (dict, None),
    "cgroup": (dict, None),
    "terminal": (bool, False),
    "rootless": (bool, False),
    "extra": (dict, None),
}


def _attr(name: str) -> str:
    return "oci_version" if name == "ociVersion" else name


class StateError(ValueError):
    """state.json is missing a field, has a wrong type, or is not JSON."""


class State:
    """What Fire remembers about one container between commands."""

    __slots__ = tuple(_attr(name) for name in _FIELDS)

    oci_version: str
    id: str
    status: str
    pid: int
    pidStart: int  # /proc/PID/stat starttime: with pid, names the process uniquely
    initPid: int  # the first init process, while the container is being created
    initStart: int
    bundle: str
    rootfs: str
    created: str
    owner: str
    annotations: dict[str, str] | None
    hooks: dict[str, list[dict[str, object]]] | None  # poststart/poststop, as in config
    namespaces: dict[str, str | None] | None  # type -> joined path (None = new)
    cgroup: dict[str, object] | None  # owned by fire.cgroup
    terminal: bool
    rootless: bool
    extra: dict[str, object] | None  # owned by later features (network, storage…)

    def __init__(self, **values: object) -> None:
        for name, (_, default) in _FIELDS.items():
            key = "oci_version" if name == "ociVersion" else name
            value = values.get(key, values.get(name, default))
            object.__setattr__(self, _attr(name), value)

    def to_json(self) -> bytes:
        out: dict[str, object] = {}
        for name, (_, default) in _FIELDS.items():
            value = getattr(self, _attr(name))
            if value is None or (value == default and name not in ("id", "status", "pid")):
                continue
            out[name] = value
        return jsonlite.dumps(out).encode()

    @classmethod
    def from_json(cls, data: bytes) -> State:
        try:
            raw = jsonlite.loads(data)
        except ValueError as exc:
            raise StateError(f"not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise StateError("not a JSON object")
        values: dict[str, object] = {}
        for name, (typ, _) in _FIELDS.items():
            if name not in raw or raw[name] is None:
                continue
            value = raw[name]
            if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
                raise StateError(f"{name}: expected {getattr(typ, '__name__', typ)}")
            values[name] = value
        for required in ("id", "bundle"):
            if required not in values:
                raise StateError(f"{required}: missing")
        return cls(**values)

    def public(self, status: str) -> dict[str, object]:
        """The runtime-spec state (plus runc's rootfs/created/owner) with ``status``."""
        out: dict[str, object] = {
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status,
            "pid": self.pid if status in (CREATED, RUNNING, PAUSED) else 0,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        }
        if self.annotations:
            out["annotations"] = self.annotations
        # Fire's addition (engines ignore unknown keys): where the container's cgroup
        # is, and its systemd unit with --systemd-cgroup, for whoever debugs it.
        cgroup = self.cgroup or {}
        if isinstance(cgroup.get("path"), str):
            out["cgroupPath"] = cgroup["path"]
        if isinstance(cgroup.get("unit"), str):
            out["systemdUnit"] = cgroup["unit"]
        return out


