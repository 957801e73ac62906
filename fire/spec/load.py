"""Reading config.json: size limit, decoding, and errors that name the JSON path."""

from __future__ import annotations

import os
import re
import stat

from fire.errors import ConfigError
from fire.spec.config import Spec
from fire.spec.msgspec_import import msgspec

# A real config.json is a few KiB (a large seccomp profile ~100 KiB).  Anything far
# bigger is refused before it is read, so memory stays bounded.
MAX_CONFIG_BYTES = 8 * 1024 * 1024

_decoder = msgspec.json.Decoder(Spec)

# The patterns below read msgspec's error messages.  They are left as strings and
# compiled by ``re``'s own cache on first use: only a failing create needs them, and
# compiling six at import cost ≈1 ms of every create.
_AT = r"(?s)^(?P<msg>.*?)(?: - at `(?P<path>\$[^`]*)`)?$"
_MISSING = r"^Object missing required field `(?P<field>[^`]+)`$"


_STEP = r"\.([^.\[]+)|\[(\d+)\]"
_FIELD_FIRST = r"(?s)^(?P<field>[a-z_0-9]+): (?P<rest>.*)$"


def _value_at(data: bytes, path: str) -> object:
    """The raw JSON value at ``$.a.b[0]`` (for "got …" in range errors), or a miss."""
    try:
        value: object = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return _MISS
    for key, index in re.findall(_STEP, path[1:]):
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISS
    return value


_MISS = object()
_ENUM = r"(?s)^invalid enum value (?P<value>.*)$"
_EXPECTED = r"(?s)^expected (?P<expected>.+?)(?:, got (?P<got>.*))?$"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def decode_error(exc: msgspec.DecodeError, document: str = "config.json",
                 data: bytes | None = None) -> ConfigError:
    """Turn msgspec's message into ``$.a.b: expected …, got …``.

    msgspec's wording is mapped onto a few templates of our own (so that it can be
    translated); anything unforeseen passes through as ``{text}``.
    """
    m = re.match(_AT, str(exc))
    msg, path = (m.group("msg"), m.group("path")) if m else (str(exc), None)
    missing = re.match(_MISSING, msg)
    if missing:
        return ConfigError(f"{path or '$'}.{missing.group('field')}", "required field is missing",
                           document)
    if isinstance(exc, msgspec.ValidationError):
        detail = msg.replace("`", "")
        first = re.match(_FIELD_FIRST, detail)
        if first:  # raised by a __post_init__ check that names its field
            path = f"{path or '$'}.{_camel(first.group('field'))}"
            detail = first.group("rest")
        detail = detail[:1].lower() + detail[1:]
        # Optional fields are `T | null` to msgspec; "null" is no help to a user.
        detail = detail.replace(" | null,", ",")
        if detail.endswith(" | null"):
            detail = detail[: -len(" | null")]
        where = path or "$"
        enum = re.match(_ENUM, detail)
        if enum:
            return ConfigError(where, "unknown value {value}", document, value=enum.group("value"))
        expected = re.match(_EXPECTED, detail)
        if expected:
            got = expected.group("got")
            if got is None and data is not None and path:
                value = _value_at(data, path)
                if value is not _MISS and isinstance(value, (int, float, str)):
                    got = repr(value) if isinstance(value, str) else str(value)
            if got is None:
                return ConfigError(where, "expected {expected}", document,
                                   expected=expected.group("expected"))
            return ConfigError(where, "expected {expected}, got {got}", document,
                               expected=expected.group("expected"), got=got)
        return ConfigError(where, "{text}", document, text=detail)
    # Malformed JSON: no path, but msgspec tells the byte offset.
    detail = msg.replace("`", "")
    if detail.startswith("JSON is malformed: "):
        return ConfigError("", "malformed JSON: {reason}", document,
                           reason=detail[len("JSON is malformed: "):])
    if detail == "Input data was truncated":
        return ConfigError("", "malformed JSON: input ends early", document)
    return ConfigError("", "{text}", document, text=detail)


def decode_spec(data: bytes) -> Spec:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise decode_error(exc, data=data) from None
    except RecursionError:
        raise ConfigError("", "malformed JSON: nested too deeply") from None


_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device",
          stat.S_IFBLK: "a device", stat.S_IFDIR: "a directory"}


def _not_regular(path: str, mode: int) -> ConfigError:
    return ConfigError("", "{path} is not a regular file ({kind})", path=path,
                       kind=_KINDS.get(stat.S_IFMT(mode), "not a file"))


def read_config(path: str) -> Spec:
    """Read and decode ``path`` (a bundle's config.json).

    Only a regular file: a FIFO would block the open (or the read) until some
    writer came, a device could stream forever.  O_NONBLOCK makes the open of a
    FIFO return at once, O_NOCTTY keeps a terminal from becoming ours; the kind is
    then checked on the open file, so a swap after the check cannot matter."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):  # a socket: ENXIO
            raise _not_regular(path, mode) from None
        raise ConfigError("", "cannot open {path}: {reason}", path=path,
                          reason=exc.strerror) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        return decode_spec(_read_bounded(fd, path))
    except OSError as exc:  # an I/O error
        raise ConfigError("", "cannot read {path}: {reason}", path=path,
                          reason=exc.strerror) from None
    finally:
        os.close(fd)


def _read_bounded(fd: int, path: str) -> bytes:
    """The file's bytes, refusing more than MAX_CONFIG_BYTES (even if it grows)."""
    size = os.fstat(fd).st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError("", "{path} is {size} bytes; the limit is {limit} bytes",
                          path=path, size=size, limit=MAX_CONFIG_BYTES)
    chunks = []
    total = 0
    while chunk := os.read(fd, 1 << 20):
        total += len(chunk)
        if total > MAX_CONFIG_BYTES:
            raise ConfigError("", "{path} is larger than {limit} bytes", path=path,
                              limit=MAX_CONFIG_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)
