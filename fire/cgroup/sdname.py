"""``linux.cgroupsPath`` in the systemd driver's form: ``slice:prefix:name``.

Pure.  With ``--systemd-cgroup`` runc reads ``cgroupsPath`` as three fields
separated by colons (``system.slice:libpod:ID``, ``kubepods-burstable-pod<uid>.slice:
cri-containerd:ID``) and Fire does the same, so an engine's config means the same
thing to both runtimes:

* the container gets a transient *scope* unit ``prefix-name.scope`` in the slice
  ``slice`` (an empty prefix gives ``name.scope``, see ``unit_name``); a ``name``
  that ends in ``.slice`` asks runc for a slice unit instead, which Fire refuses
  (no engine sends it, and a slice holds no processes of its own);
* an empty slice is ``system.slice``; an empty path is ``system.slice:fire:ID``
  (runc's default, with our own name as the prefix as runc uses its own);
* a slice name stands for its parents, by systemd's ``-`` expansion:
  ``a-b-c.slice`` lives in ``/a.slice/a-b.slice/a-b-c.slice`` (``-.slice`` is the
  root); systemd creates those parents itself.

A path not in that form is an error naming ``$.linux.cgroupsPath``, before anything
exists.
"""

from __future__ import annotations

from fire.errors import ConfigError

FIELD = "$.linux.cgroupsPath"
DEFAULT_SLICE = "system.slice"
DEFAULT_PREFIX = "fire"
_SUFFIX = ".slice"


class UnitName:
    """Where the systemd driver puts a container: a scope unit in a slice."""

    __slots__ = ("path", "slice", "unit")

    def __init__(self, slice: str, unit: str, path: str) -> None:
        self.slice = slice  # "system.slice"
        self.unit = unit    # "fire-ID.scope"
        self.path = path    # "/system.slice/fire-ID.scope", relative to a hierarchy's root

    def __repr__(self) -> str:
        return f"UnitName({self.slice!r}, {self.unit!r}, {self.path!r})"


def expand_slice(slice: str) -> str:
    """The cgroup path of a slice: ``a-b.slice`` → ``/a.slice/a-b.slice``.

    systemd's rules (and runc's ``ExpandSlice``): the name ends in ``.slice`` and is
    more than that, has no ``/``, and no empty component (``a--b.slice``,
    ``-a.slice``, ``a-.slice``); ``-.slice`` is the root slice.
    """
    if len(slice) <= len(_SUFFIX) or not slice.endswith(_SUFFIX) or "/" in slice:
        raise ConfigError(FIELD, "{slice!r} is not a systemd slice name (expected a name "
                          "ending in .slice, such as system.slice)", slice=slice)
    stem = slice[: -len(_SUFFIX)]
    if stem == "-":
        return "/"
    path = ""
    prefix = ""
    for component in stem.split("-"):
        if not component:
            raise ConfigError(FIELD, "{slice!r} is not a systemd slice name (empty part "
                              "between dashes)", slice=slice)
        path += "/" + prefix + component + _SUFFIX
        prefix += component + "-"
    return path


def _check_unit_part(what: str, text: str, path: str) -> None:
    """A prefix or name becomes part of a unit name: systemd accepts only ASCII
    letters, digits and ``:-_.\\``; a ``/`` would also escape the slice."""
    for c in text:
        if not (c.isascii() and (c.isalnum() or c in "-_.\\@")):
            raise ConfigError(FIELD, "{path!r}: the {what} {text!r} cannot be part of a "
                              "systemd unit name (letters, digits and -_.\\@ only)",
                              path=path, what=what, text=text)


def unit_name(prefix: str, name: str) -> str:
    """runc's ``getUnitName``: ``prefix-name.scope`` (an empty prefix gives
    ``-name.scope`` in runc; Fire drops the dash, which systemd would accept
    either way, so ``::ID`` names the scope ``ID.scope``)."""
    return f"{prefix}-{name}.scope" if prefix else f"{name}.scope"


def parse(cgroups_path: str | None, cid: str) -> UnitName:
    """The unit for ``cgroupsPath`` (None or "" = runc's default)."""
    if not cgroups_path:
        slice, prefix, name = DEFAULT_SLICE, DEFAULT_PREFIX, cid
    else:
        parts = cgroups_path.split(":")
        if len(parts) != 3:
            raise ConfigError(FIELD, "{path!r}: with --systemd-cgroup the path must be "
                              "\"slice:prefix:name\" (such as system.slice:fire:ID)",
                              path=cgroups_path)
        slice, prefix, name = parts
        slice = slice or DEFAULT_SLICE
        name = name or cid
    if name.endswith(_SUFFIX):
        raise ConfigError(FIELD, "{path!r}: a container's unit must be a scope, not the "
                          "slice {name!r}", path=cgroups_path, name=name)
    _check_unit_part("prefix", prefix, cgroups_path or "")
    _check_unit_part("name", name, cgroups_path or "")
    if name in (".", ".."):
        raise ConfigError(FIELD, "{path!r}: {name!r} is not a unit name",
                          path=cgroups_path, name=name)
    parent = expand_slice(slice)
    unit = unit_name(prefix, name)
    return UnitName(slice, unit, parent.rstrip("/") + "/" + unit)
