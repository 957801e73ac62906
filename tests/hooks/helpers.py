"""Hooks that leave a trace, and a check that no process of a test is left."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

# One line per hook run: PHASE, argv0, mount ns, pid ns, then the state from stdin.
RECORD = ('printf "%s\\t%s\\t%s\\t%s\\t%s\\n" "$PHASE" "$0" "$(readlink /proc/self/ns/mnt)" '
          '"$(readlink /proc/self/ns/pid)" "$(cat)" >> {log}')

# Inside the container the trace directory is mounted here (its rootfs has /tmp).
INNER = "/tmp"


def recorder(phase: str, log: str, inner: bool = False, argv0: str | None = None,
             **extra: Any) -> dict[str, Any]:
    """A hook appending its trace line to ``log``.  ``inner``: the hook's path is
    resolved in the container (startContainer): busybox picks its applet by argv0,
    so argv0 is "sh" and the path is /bin/busybox — argv0 differs from path there."""
    if inner:
        hook = {"path": "/bin/busybox", "args": ["sh", "-c", RECORD.format(log=log)]}
    else:
        hook = {"path": "/bin/sh", "args": [argv0 or f"hook-{phase}", "-c", RECORD.format(log=log)]}
    hook["env"] = [f"PHASE={phase}"]
    hook.update(extra)
    return hook


def shell(script: str, inner: bool = False, **extra: Any) -> dict[str, Any]:
    hook: dict[str, Any] = {"path": "/bin/busybox" if inner else "/bin/sh",
                            "args": ["sh", "-c", script]}
    hook.update(extra)
    return hook


class Trace:
    """The trace file, shared by runtime-side hooks (host path) and in-container ones."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(exist_ok=True)
        self.dir = directory
        self.host = str(directory / "trace")

    @property
    def inner(self) -> str:
        return f"{INNER}/trace"

    def mount(self) -> dict[str, Any]:
        return {"destination": INNER, "type": "bind", "source": str(self.dir),
                "options": ["rbind", "rw"]}

    def lines(self) -> list[dict[str, Any]]:
        try:
            text = Path(self.host).read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            phase, argv0, mnt, pidns, state = line.split("\t", 4)
            out.append({"phase": phase, "argv0": argv0, "mnt": mnt, "pidns": pidns,
                        "state": json.loads(state)})
        return out

    def phases(self) -> list[str]:
        return [entry["phase"] for entry in self.lines()]


def marker() -> str:
    """A sleep argument no other process on the machine uses."""
    return str(random.randint(100000, 999999))


def processes_with(text: str, exact: bool = False) -> list[int]:
    """Live processes whose command line mentions ``text`` (or, ``exact``, is it);
    zombies have no command line."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if (cmdline.strip() == text) if exact else (text in cmdline):
            found.append(int(entry))
    return found
