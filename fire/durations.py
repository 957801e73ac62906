"""Durations as people write them: Go's form (``500ms``, ``2s``, ``1m30s``), the
one of docker and compose files, and of ``fire events --interval``.  One parser
for every place that takes a duration (the command line, fire.toml)."""

from __future__ import annotations

import re

from fire.errors import UsageError

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
INVALID = "invalid duration {text!r} (examples: 5s, 500ms, 1m)"


def parse_duration(text: str) -> float:
    """A Go duration (``5s``, ``100ms``, ``1m30s``) in seconds."""
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise UsageError(INVALID, text=text)
    return total
