"""What each engine-path command imports, and what that costs (``-X importtime``).

    python bench/imports.py [--runs N] [--top K]

For each command module (``fire.cli.<command>`` and, for create/run/start/…, the
``fire.container`` module it imports when it runs, plus the init), this starts a
fresh ``python -I -S`` with Fire's import path (as the ``fire`` launcher does),
imports the module with ``-X importtime``, and prints the number of modules, the
median total import time of ``--runs`` runs, and the modules with the largest own
time.  No container is created: this is the import profile alone (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# command -> modules its process imports on the way (in order)
COMMANDS: dict[str, list[str]] = {
    "--version": ["fire.cli"],
    "state": ["fire.cli", "fire.cli.state"],
    "kill": ["fire.cli", "fire.cli.kill", "fire.container.kill"],
    "start": ["fire.cli", "fire.cli.start", "fire.container.start"],
    "delete": ["fire.cli", "fire.cli.delete", "fire.container.delete"],
    "list": ["fire.cli", "fire.cli.listing"],
    "create": ["fire.cli", "fire.cli.create", "fire.container.create", "fire.spec.load"],
    "run": ["fire.cli", "fire.cli.run", "fire.container.run", "fire.spec.load"],
    "init (fire.init.main)": ["fire.init.main"],
}


def import_path() -> list[str]:
    sys.path.insert(0, REPO)
    from fire import launcher

    return launcher.import_path()


def profile(modules: list[str], paths: list[str]) -> tuple[int, dict[str, int]]:
    """(total µs, own µs per module) of one import of ``modules``."""
    # The marker separates the interpreter's own start-up imports from ours.
    code = (f"import sys; sys.path += {paths!r}; sys.stderr.write('MARK\\n'); "
            "sys.stderr.flush(); " + "; ".join(f"import {m}" for m in modules))
    out = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", "-c", code],
                         capture_output=True, text=True, check=True).stderr
    own: dict[str, int] = {}
    total = 0
    for line in out.split("MARK\n", 1)[1].splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, cumulative, name = line.replace("import time:", "|", 1).split("|")
        own[name.strip()] = int(self_us)
        if not name[1:].startswith(" "):  # top level (one space after "|"): counts whole
            total += int(cumulative)
    return total, own


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--top", type=int, default=6)
    args = ap.parse_args()
    paths = import_path()
    print(f"import profile, python -I -S -X importtime, median of {args.runs} runs "
          "(times in ms; interpreter start-up not included)")
    for command, modules in COMMANDS.items():
        totals: list[int] = []
        owns: dict[str, list[int]] = {}
        for _ in range(args.runs):
            total, own = profile(modules, paths)
            totals.append(total)
            for name, us in own.items():
                owns.setdefault(name, []).append(us)
        med = {name: statistics.median(v) for name, v in owns.items()}
        top = sorted(med.items(), key=lambda kv: -kv[1])[:args.top]
        heavy = sorted(m for m in ("msgspec", "typing", "typing_extensions", "re", "json",
                                   "enum", "ctypes", "trio", "asyncio")
                       if med.get(m, 0) > 20)  # a refused import logs a few µs
        print(f"\n{command}: {len(owns)} modules, {statistics.median(totals) / 1000:.1f} ms"
              f"; of note: {', '.join(heavy) or 'none'}")
        print("  largest own times: " + ", ".join(f"{n} {us / 1000:.2f}" for n, us in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
