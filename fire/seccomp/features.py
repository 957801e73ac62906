"""What `fire features` reports about seccomp."""

from __future__ import annotations


def seccomp_features() -> dict[str, object]:
    return {"enabled": False}
