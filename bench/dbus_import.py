"""What a D-Bus library adds to ``create`` when the systemd cgroup driver is used.

    python bench/dbus_import.py [--runs N] [--python PY] [MODULE ...]

For each candidate import statement this starts a fresh interpreter that first
imports what ``fire create`` has already loaded by the time the driver needs the
bus (``fire.cli``, ``fire.container.create``, ``fire.spec.load``), then times the
candidate's import alone (``time.perf_counter`` around it): the cost the driver
adds, not the library's standalone cost (``socket``, ``enum``, ``re``… are paid
already).  The median of ``--runs`` runs, in ms.  ``--python`` picks the
interpreter (a venv that has dbus-fast / dbus-next installed, or Debian's
``/usr/bin/python3`` for python3-dbus) and ``--path`` adds another environment's
packages to it; a candidate it cannot import is reported as such.  Results are in
docs/performance.md ("The systemd cgroup driver").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = "import fire.cli, fire.container.create, fire.spec.load"
CANDIDATES = [
    "fire.cgroup.dbus",                        # ours: jeepney's low-level modules
    "jeepney",
    "jeepney.io.blocking",
    "dbus_fast",
    "dbus_fast.aio",
    "dbus_next",
    "dbus",                                    # python3-dbus (Debian)
]
SNIPPET = """
import sys, time
sys.path.insert(0, {repo!r})
sys.path.extend({extra!r})
try:
    {base}
except ImportError:
    pass
t = time.perf_counter()
try:
    import {module}
except ImportError:
    print("missing")
else:
    print(time.perf_counter() - t)
"""


def measure(python: str, module: str, runs: int, extra: list[str]) -> float | None:
    times: list[float] = []
    for _ in range(runs):
        code = SNIPPET.format(repo=REPO, extra=extra, base=BASE, module=module)
        out = subprocess.run([python, "-c", code], capture_output=True, text=True,
                             check=True).stdout.strip()
        if out == "missing":
            return None
        times.append(float(out) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--path", action="append", default=[],
                    help="a directory appended to sys.path (another venv's site-packages, "
                    "/usr/lib/python3/dist-packages for python3-dbus)")
    ap.add_argument("modules", nargs="*", default=CANDIDATES)
    args = ap.parse_args()
    print(f"interpreter {args.python}, median of {args.runs} runs, after: {BASE}")
    for module in args.modules:
        ms = measure(args.python, module, args.runs, args.path)
        shown = "not installed" if ms is None else f"{ms:7.1f} ms"
        print(f"  import {module:<24} {shown}")


if __name__ == "__main__":
    main()
