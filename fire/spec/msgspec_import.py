"""msgspec, imported without ``typing_extensions`` (≈8 ms of ``create``'s start-up).

msgspec uses ``typing_extensions`` when it is installed (rich and textual install
it), and otherwise the standard ``typing``, which on Python ≥ 3.11 has everything
msgspec takes from it (``get_type_hints(include_extras=True)``, ``Required``,
``NotRequired``).  Importing ``typing_extensions`` imports ``inspect``, ``ast``,
``dis`` and ``tokenize``: ≈8 ms on every ``create`` and ``run``, for nothing that
Fire's config model uses.  So the first import of msgspec in a process hides it
(a ``None`` entry in ``sys.modules`` makes its import fail, as if not installed);
where something imported it already (the supervisor, the TUI), nothing changes.

Import msgspec through this module in the engine path: ``from
fire.spec.msgspec_import import msgspec``.
"""

from __future__ import annotations

import sys


def _import_hiding_typing_extensions() -> None:
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]
    try:
        import msgspec  # noqa: F401
    finally:
        del sys.modules["typing_extensions"]


if "msgspec" not in sys.modules and "typing_extensions" not in sys.modules:
    _import_hiding_typing_extensions()

import msgspec as msgspec  # noqa: E402 - after the guard above, on purpose
from msgspec import Meta as Meta  # noqa: E402
from msgspec import field as field  # noqa: E402
