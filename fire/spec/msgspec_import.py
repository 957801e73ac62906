"""msgspec, imported without ``typing_extensions`` (≈8 ms of ``create``'s start-up).

msgspec uses ``typing_extensions`` when it is installed (rich and textual install
it), and otherwise the standard ``typing``, which on Python ≥ 3.11 has everything
msgspec takes from it (``get_type_hints(include_extras=True)``, ``Required``,
``NotRequired``).  Importing ``typing_extensions`` imports ``inspect``, ``ast``,
``dis`` and ``tokenize``: ≈8 ms on every ``create`` and ``run``, for nothing that
Fire's config model uses.  So the first import of msgspec in a process hides it
(a ``None`` entry in ``sys.modules`` makes its import fail, as if not installed);
where something imported it already (the supervisor, the TUI), nothing changes.

msgspec's C core also imports ``uuid``, which on Linux imports ``platform`` (≈2.5 ms:
``platform`` compiles regular expressions at import) only to call
``platform.system()`` and learn that it runs on Linux.  For that one import a
stand-in ``platform`` answers ``system()`` from ``os.uname()``, as ``platform``
itself does; it is removed from ``sys.modules`` afterwards, so a later ``import
platform`` gets the real module.

msgspec's C core takes the datetime types from the capsule
``datetime.datetime_CAPI``, so it imports ``datetime``: a module that first defines
the whole pure-Python implementation and then replaces it with the C module
``_datetime``'s (≈1-4 ms on the 2-CPU VM).  ``_datetime`` holds that capsule itself,
so for that import it stands in for ``datetime``; the types msgspec gets are the
ones ``datetime`` exports (the same objects), and a later ``import datetime``
gets the real module.

The package also imports ``msgspec.inspect`` and, through ``msgspec.json``,
``msgspec._json_schema`` (≈1.5-2 ms together, measured on the 2-CPU VM): type
introspection and JSON-schema generation, which decoding never uses.  For that
import ``msgspec.inspect`` is a module that imports the real one on first
attribute access, and ``msgspec._json_schema`` offers ``schema`` and
``schema_components`` as functions that import the real module when called; both
stand-ins leave ``sys.modules`` afterwards, so an ``import msgspec.inspect`` later
gets the real module.  The schema module is msgspec's only user of ``textwrap``
(which compiles its regular expressions at import, ≈1.5 ms): deferring it defers
that too.

Import msgspec through this module in the engine path: ``from
fire.spec.msgspec_import import msgspec``.
"""

from __future__ import annotations

import os
import sys


class _Platform:
    """What ``uuid`` asks of ``platform`` at import time, and nothing more."""

    __name__ = "platform"

    @staticmethod
    def system() -> str:
        return os.uname().sysname


class _Deferred:
    """A module imported for real on its first attribute access."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def __getattr__(self, attr: str) -> object:
        import importlib

        return getattr(importlib.import_module(self.__name__), attr)


class _DeferredSchema:
    """``msgspec._json_schema`` as ``msgspec.json`` imports it: its two functions,
    each importing the real module when called."""

    __name__ = "msgspec._json_schema"

    @staticmethod
    def schema(*args: object, **kwargs: object) -> object:
        from msgspec import _json_schema

        return _json_schema.schema(*args, **kwargs)  # type: ignore[arg-type]

    @staticmethod
    def schema_components(*args: object, **kwargs: object) -> object:
        from msgspec import _json_schema

        return _json_schema.schema_components(*args, **kwargs)  # type: ignore[arg-type]


def _import_lightly() -> None:
    stand_ins: dict[str, object] = {"typing_extensions": None,
                                    "msgspec.inspect": _Deferred("msgspec.inspect"),
                                    "msgspec._json_schema": _DeferredSchema()}
    if "platform" not in sys.modules and "uuid" not in sys.modules:
        stand_ins["platform"] = _Platform()
    if "datetime" not in sys.modules:
        try:
            import _datetime  # type: ignore[import-not-found]  # (no stub: C module)
        except ImportError:  # an interpreter without the C module: the real one
            pass
        else:
            if hasattr(_datetime, "datetime_CAPI"):
                stand_ins["datetime"] = _datetime
    sys.modules.update(stand_ins)  # type: ignore[arg-type]
    try:
        import msgspec  # noqa: F401
    finally:
        for name in stand_ins:
            del sys.modules[name]


if "msgspec" not in sys.modules and "typing_extensions" not in sys.modules:
    _import_lightly()

import msgspec as msgspec  # noqa: E402 - after the guard above, on purpose
from msgspec import Meta as Meta  # noqa: E402
from msgspec import field as field  # noqa: E402
