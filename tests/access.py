"""Letting other users reach this checkout (rootless tests and benches run its
interpreter and code as a throw-away user)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def reachable(*paths: Path) -> list[tuple[Path, int]]:
    """Let every user read ``paths`` (Python lists an import path's directory) and
    pass through (search, not list) the directories above them, where they forbid
    it — a clone in ``mktemp -d``'s 0700 directory is one — and say which, with their
    modes, to put back.  A user who runs Fire rootless has it installed where they
    can reach it; the tests run it from this checkout."""
    opened: dict[Path, int] = {}
    for path in paths:
        for d in (path, *path.parents):
            want = 0o005 if d == path else 0o001
            mode = d.stat().st_mode & 0o7777
            if mode & want != want:
                opened.setdefault(d, mode)
                d.chmod(mode | want)
    return list(opened.items())
