"""A container's storage settings: the ``run.fire.*`` annotations (pure).

Like the network settings (``fire.net.settings``) these are Fire's own and off by
default; ``fire create/run`` flags set the same annotations:

    run.fire.overlay        "true": the rootfs is the lower layer of an overlay
    run.fire.overlay.keep   "true": the upper layer outlives the container (implies
                            the overlay), reused by the next container of that id
    run.fire.volumes        a JSON array of volume strings, or the strings
                            separated by ";" (their options contain commas):
                            "data:/var/lib/db" · "/srv/conf:/etc/app:ro" ·
                            "tmpfs:/scratch:size=16m"
"""

from __future__ import annotations

import posixpath

from fire.errors import ConfigError
from fire.i18n import N_
from fire.spec import mountopts
from fire.storage import Invalid

OVERLAY = "run.fire.overlay"
OVERLAY_KEEP = "run.fire.overlay.keep"
VOLUMES = "run.fire.volumes"
KEYS = (OVERLAY, OVERLAY_KEEP, VOLUMES)

NAMED = "named"
BIND = "bind"
TMPFS = "tmpfs"

_NAME_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_NAME_REST = _NAME_FIRST + "_.-"


def where(key: str) -> str:
    return f'$.annotations["{key}"]'


def valid_volume_name(name: str) -> bool:
    """Letters, digits, ``_ . -``, starting with a letter or digit (docker's rule)."""
    return (bool(name) and len(name) <= 128 and name[0] in _NAME_FIRST
            and all(c in _NAME_REST for c in name) and name != TMPFS)


class Volume:
    """One volume: ``SOURCE:DEST[:OPTIONS]``."""

    __slots__ = ("dest", "kind", "options", "source")

    def __init__(self, kind: str, source: str, dest: str, options: list[str]) -> None:
        self.kind = kind  # named | bind | tmpfs
        self.source = source  # the volume's name, the host path, or "tmpfs"
        self.dest = dest
        self.options = options

    @classmethod
    def parse(cls, text: str) -> Volume:
        parts = text.strip().split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise Invalid(N_("{text!r} is not a volume like NAME:/dest, /host/path:/dest[:ro] or "
                          "tmpfs:/dest[:size=16m]"), text=text)
        source, dest = parts[0], parts[1]
        options = [o.strip() for o in parts[2].split(",") if o.strip()] if len(parts) == 3 else []
        if not dest.startswith("/"):
            raise Invalid(N_("{text!r}: the destination must be an absolute path"), text=text)
        dest = posixpath.normpath(dest)
        if dest == "/" or dest.startswith("//"):
            raise Invalid(N_("{text!r}: a volume cannot replace the root"), text=text)
        if source == TMPFS:
            kind = TMPFS
        elif source.startswith("/"):
            kind = BIND
            source = posixpath.normpath(source)
        elif valid_volume_name(source):
            kind = NAMED
        else:
            raise Invalid(N_("{text!r}: the source must be an absolute path, a volume name "
                          "(letters, digits, _ . -) or tmpfs"), text=text)
        parsed = mountopts.parse(options, "tmpfs" if kind == TMPFS else "bind")
        if kind != TMPFS and parsed.data:
            raise Invalid(N_("{text!r}: unknown option {option!r} for a bind volume"), text=text,
                          option=parsed.data[0])
        if parsed.tmpcopyup or parsed.idmap or parsed.flags & mountopts.MS_REMOUNT:
            raise Invalid(N_("{text!r}: options tmpcopyup, idmap and remount are not supported "
                          "for volumes"), text=text)
        return cls(kind, source, dest, options)

    def __str__(self) -> str:
        text = f"{self.source}:{self.dest}"
        return f"{text}:{','.join(self.options)}" if self.options else text


def split_volumes(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("["):
        import json

        try:
            items = json.loads(text)
        except ValueError as exc:
            raise Invalid(N_("not a JSON array of strings ({error})"), error=str(exc)) from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise Invalid(N_("not a JSON array of strings"))
        return items
    return [item for item in text.split(";") if item.strip()]


def join_volumes(volumes: list[str]) -> str:
    import json

    return json.dumps(volumes)


def check_volume_flag(text: str) -> str:
    """``--volume``'s check (a ValueError becomes the CLI's usage error)."""
    Volume.parse(text)
    return text.strip()


def _bool(key: str, text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no", ""):
        return False
    raise ConfigError(where(key), "{text!r} is not true or false", text=text)


class StorageSettings:
    __slots__ = ("keep", "overlay", "volumes")

    def __init__(self, overlay: bool = False, keep: bool = False,
                 volumes: list[Volume] | None = None) -> None:
        self.overlay = overlay or keep
        self.keep = keep
        self.volumes = volumes or []


def parse(annotations: dict[str, str] | None) -> StorageSettings | None:
    """The settings, or None when the bundle asks nothing of Fire's storage."""
    values = {k: v for k, v in (annotations or {}).items() if k in KEYS}
    if not values:
        return None
    overlay = _bool(OVERLAY, values.get(OVERLAY, ""))
    keep = _bool(OVERLAY_KEEP, values.get(OVERLAY_KEEP, ""))
    volumes: list[Volume] = []
    try:
        for text in split_volumes(values.get(VOLUMES, "")):
            volumes.append(Volume.parse(text))
    except Invalid as exc:
        raise ConfigError(where(VOLUMES), exc.template, "config.json",
                          **exc.params) from None
    seen: set[str] = set()
    for vol in volumes:
        if vol.dest in seen:
            raise ConfigError(where(VOLUMES), "two volumes are mounted on {dest}", dest=vol.dest)
        seen.add(vol.dest)
    if not (overlay or keep or volumes):
        return None
    return StorageSettings(overlay, keep, volumes)
