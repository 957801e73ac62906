"""The engine path with the systemd cgroup driver against cgroupfs and runc, in one run.

    V2RUN_SYSTEMD=1 ../shared/tools/cgroup2-vm/v2run.sh .venv/bin/python bench/systemd.py [--runs N]

Meant for the cgroup2 VM booted with systemd (the only systemd host here).  Four
variants, interleaved in a rotating order so a slow spell hits all alike: Fire with
cgroupfs, Fire with ``--systemd-cgroup``, runc with cgroupfs, runc with
``--systemd-cgroup``.  Each iteration times ``create``, ``start`` and ``delete`` of a
container running ``/bin/true`` (the wait for its exit in between is not timed), as
an engine runs them; the wait for the exit watches ``/proc/PID`` of the
``--pid-file`` (a ``state`` per poll would cost more than what is measured).  Prints
the median of each command and of the sum, and the ratios the issue asks for
(docs/performance.md, "The systemd cgroup driver").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

VARIANTS = {
    "fire cgroupfs": ([os.path.join(REPO, ".venv/bin/fire")], False),
    "fire systemd": ([os.path.join(REPO, ".venv/bin/fire")], True),
    "runc cgroupfs": (["runc"], False),
    "runc systemd": (["runc"], True),
}
COMMANDS = ("create", "start", "delete")


def bundle(workdir: str) -> str:
    from fire.bundle import make_rootfs

    path = os.path.join(workdir, "bundle")
    make_rootfs(os.path.join(path, "rootfs"))
    subprocess.run(["runc", "spec"], cwd=path, check=True)
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    config["ociVersion"] = "1.0.2"
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return path


def set_path(path: str, cgroups_path: str) -> None:
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    config["linux"]["cgroupsPath"] = cgroups_path
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)


def running(pid: str) -> bool:
    """Not gone and not a zombie (whoever inherited it may reap it late)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def one(name: str, path: str, root: str, n: int) -> dict[str, float]:
    argv, systemd = VARIANTS[name]
    cid = f"sdb{os.getpid()}-{name.replace(' ', '-')}-{n}"
    set_path(path, f"system.slice:bench:{cid}" if systemd else f"/bench/{cid}")
    head = [*argv, "--root", root, *(["--systemd-cgroup"] if systemd else [])]
    times: dict[str, float] = {}
    pid_file = os.path.join(root, f"{cid}.pid")
    for command in COMMANDS:
        args = {"create": ["create", "--pid-file", pid_file, "-b", path, cid],
                "start": ["start", cid], "delete": ["delete", cid]}[command]
        if command == "delete":  # wait for /bin/true to end and be reaped (not timed)
            with open(pid_file) as f:
                pid = f.read().strip()
            deadline = time.monotonic() + 60
            while running(pid) and time.monotonic() < deadline:
                time.sleep(0.002)
        # Files, not pipes: a created container keeps create's stdout and stderr.
        with tempfile.TemporaryFile("w+") as err:
            t = time.perf_counter()
            code = subprocess.run([*head, *args], stdout=subprocess.DEVNULL, stderr=err,
                                  stdin=subprocess.DEVNULL).returncode
            times[command] = (time.perf_counter() - t) * 1000
            if code != 0:
                err.seek(0)
                raise SystemExit(f"{name}: {' '.join(args)}: {err.read().strip()}")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sdbench") as workdir:
        path = bundle(workdir)
        roots = {name: os.path.join(workdir, name.replace(" ", "-")) for name in VARIANTS}
        for root in roots.values():
            os.makedirs(root)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        names = list(VARIANTS)
        for i in range(args.warmup + args.runs):
            order = names[i % len(names):] + names[:i % len(names)]
            for name in order:
                times = one(name, path, roots[name], i)
                print(f"{i} {name}: " + " ".join(f"{c} {t:.0f}" for c, t in times.items()),
                      file=sys.stderr, flush=True)
                if i >= args.warmup:
                    samples[name].append(times)
    print(f"median of {args.runs} runs (ms), after {args.warmup} warm-up")
    print(f"{'':16}" + "".join(f"{c:>10}" for c in (*COMMANDS, "total")))
    totals: dict[str, float] = {}
    for name in names:
        med = {c: statistics.median(s[c] for s in samples[name]) for c in COMMANDS}
        totals[name] = statistics.median(sum(s.values()) for s in samples[name])
        print(f"{name:16}" + "".join(f"{med[c]:10.1f}" for c in COMMANDS)
              + f"{totals[name]:10.1f}")
    print(f"fire systemd / fire cgroupfs: {totals['fire systemd'] / totals['fire cgroupfs']:.2f}x"
          " (target <= 1.3x)")
    print(f"fire systemd / runc systemd:  {totals['fire systemd'] / totals['runc systemd']:.2f}x")
    print(f"runc systemd / runc cgroupfs: {totals['runc systemd'] / totals['runc cgroupfs']:.2f}x")


if __name__ == "__main__":
    main()
