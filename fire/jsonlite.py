"""JSON for the engine path, from the C accelerator alone (``_json``).

Why not ``json``: ``json.decoder`` and ``json.scanner`` import ``re``, which brings
``enum``, ``functools`` and ``collections``: ≈7 ms here, on every ``state``,
``kill``, ``start``, ``delete`` and ``list``, whose budget is runc + 15 ms.  The
scanner and encoder that ``json`` itself uses are C functions in ``_json``
(≈0.2 ms); this module calls them directly.  Output and accepted input are those
of ``json.loads`` / ``json.dumps`` (ASCII output, NaN/Infinity accepted), except
that an error is a ``ValueError`` (``json.decoder`` is imported only to build the
message of a malformed document: the error path, never the fast one).
"""

from __future__ import annotations

import _json

_WHITESPACE = " \t\n\r"


class _Context:
    """The attributes ``_json.make_scanner`` reads (those of json.JSONDecoder)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed context


def _unserializable(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_encode = _json.make_encoder(None, _unserializable, _json.encode_basestring_ascii, None,
                             ":", ",", False, False, True)
_encode_spaced = _json.make_encoder(None, _unserializable, _json.encode_basestring_ascii, None,
                                    ": ", ", ", False, False, True)


def loads(data: bytes | str) -> object:
    """``json.loads``; raises ValueError for malformed input."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as exc:
        raise ValueError(f"Expecting value: char {exc.value}") from None
    except SystemError:
        # A syntax error inside the document: the scanner raises
        # json.decoder.JSONDecodeError, a class it looks up in sys.modules without
        # importing it (SystemError when absent).  The error path imports json, whose
        # loads raises the JSONDecodeError (a ValueError) with json's own message.
        import json

        json.loads(text)
        raise  # json accepted what the scanner refused: not expected
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"Extra data: char {end}")
    return value


def dumps(obj: object, indent: int | None = None, compact: bool = True) -> str:
    """``json.dumps(obj, separators=(",", ":"))`` (``compact``), or with ``indent``."""
    if indent is not None:
        return _pretty(obj, indent, 0)
    return "".join((_encode if compact else _encode_spaced)(obj, 0))


def _pretty(obj: object, indent: int, level: int) -> str:
    """``json.dumps(obj, indent=N)`` (the C encoder does not indent)."""
    inner = "\n" + " " * (indent * (level + 1))
    if isinstance(obj, dict) and obj:
        items = [f"{_json.encode_basestring_ascii(_key(k))}: {_pretty(v, indent, level + 1)}"
                 for k, v in obj.items()]
    elif isinstance(obj, (list, tuple)) and obj:
        items = [_pretty(v, indent, level + 1) for v in obj]
    else:
        return "".join(_encode(obj, 0))
    opening, closing = ("{", "}") if isinstance(obj, dict) else ("[", "]")
    return opening + inner + ("," + inner).join(items) + "\n" + " " * (indent * level) + closing


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, (int, float)):
        return "".join(_encode(key, 0))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
