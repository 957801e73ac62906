"""Checkpoint + restore of a small container: Fire against runc, in one run.

    V2RUN_SYSTEMD=1 ../shared/tools/cgroup2-vm/v2run.sh .venv/bin/python bench/checkpoint.py

CRIU works in the cgroup2 VM booted with systemd (not on this host's kernel), so
that is where this runs; the VM's emulation makes every number several times the
host's, the same for both runtimes.  Each round, for each runtime in turn: run a
busybox ``sleep`` container detached, time ``checkpoint`` (to a fresh image
directory) and ``restore -d``, then delete it.  Prints the median of each.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MODULES = ("nf_tables", "veth", "tun", "unix_diag", "inet_diag", "tcp_diag", "udp_diag",
           "raw_diag", "netlink_diag", "packet_diag")


def timed(argv: list[str]) -> float:
    """Run with stdio on /dev/null (a detached container keeps them: a pipe would
    never reach EOF, and CRIU must find nothing outside the container); the error
    is in ``--log``."""
    fd, log = tempfile.mkstemp(prefix="fire-ckpt-bench-log-")
    os.close(fd)
    began = time.monotonic()
    with open(os.devnull, "r+") as null:
        proc = subprocess.run([argv[0], "--log", log, *argv[1:]] if argv[0] != sys.executable
                              else argv, stdin=null, stdout=null, stderr=null)
    took = time.monotonic() - began
    try:
        with open(log) as f:
            error = f.read().strip()
        os.unlink(log)
    except OSError:
        error = ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: {error or proc.returncode}")
    return took


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for module in MODULES:
        subprocess.run(["modprobe", module], check=False, capture_output=True)
    from fire.bundle import make_rootfs
    from fire.spec.default import default_spec

    work = tempfile.mkdtemp(prefix="fire-ckpt-bench-")
    bundle = os.path.join(work, "bundle")
    os.mkdir(bundle)
    make_rootfs(os.path.join(bundle, "rootfs"))
    import json

    config = default_spec(args=["sleep", "3600"], terminal=False)
    config["root"] = {"path": "rootfs", "readonly": True}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    fire = [os.path.join(os.path.dirname(sys.executable), "fire")]
    runtimes = {"runc": ["runc"], "fire": fire if os.path.exists(fire[0]) else
                [sys.executable, "-m", "fire"]}
    times: dict[str, dict[str, list[float]]] = {name: {"checkpoint": [], "restore": []}
                                                for name in runtimes}
    try:
        for n in range(rounds):
            for name, argv in runtimes.items():
                root = os.path.join(work, f"root-{name}")
                cid = f"bench-{name}-{n}"
                images = os.path.join(work, f"img-{name}-{n}")
                base = [*argv, "--root", root]
                timed([*base, "run", "-d", "--bundle", bundle, cid])
                time.sleep(0.5)
                times[name]["checkpoint"].append(
                    timed([*base, "checkpoint", "--image-path", images, cid]))
                times[name]["restore"].append(
                    timed([*base, "restore", "-d", "--bundle", bundle, "--image-path", images,
                           cid]))
                timed([*base, "delete", "--force", cid])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'runtime':<8} {'checkpoint':>12} {'restore':>12}   ({rounds} rounds, median s)")
    for name, t in times.items():
        print(f"{name:<8} {statistics.median(t['checkpoint']):>12.2f} "
              f"{statistics.median(t['restore']):>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
