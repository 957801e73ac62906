"""Rootless Fire against rootless runc, in one run: the engine path as an ordinary user.

    python bench/rootless.py [--runs 30] [--warmup 3]     # as root: it makes the user

What it does: as root, a throw-away user (``useradd``, removed at the end), its
runtime directory, and a busybox bundle it owns (``fire spec --rootless``'s shape:
a user namespace mapping the user, the default namespaces, no limits).  Then one
driver process runs *as that user* (``runuser``; this file with ``--driver``) and
times, for each runtime in a rotating order every iteration (a noisy neighbour
slows all alike; warm-up iterations dropped): ``create``, ``start``, the wait for
the container's exit (the driver is a child subreaper, as a shim is), ``delete``,
and their total.  Each runtime keeps its own default state directory
(``$XDG_RUNTIME_DIR/fire``, ``$XDG_RUNTIME_DIR/runc``).  This host's cgroups are
v1, so both runtimes run the containers without a cgroup.  Nothing is asserted: a
benchmark is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = ("create", "start", "wait", "delete", "total")
PR_SET_CHILD_SUBREAPER = 36


def _timed(argv: list[str]) -> tuple[float, int, str]:
    # stderr to a file, not a pipe: a created container's init keeps it open
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter_ns()
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=err, check=False)
        ms = (time.perf_counter_ns() - t0) / 1e6
        err.seek(0)
        return ms, proc.returncode, err.read()


def _one(prefix: list[str], bundle: str, cid: str) -> dict[str, float]:
    pid_file = os.path.join(bundle, f"{cid}.pid")
    out: dict[str, float] = {}
    t0 = time.perf_counter_ns()
    out["create"], rc, err = _timed([*prefix, "create", "--bundle", bundle, "--pid-file",
                                     pid_file, cid])
    if rc:
        raise RuntimeError(f"{prefix[0]} create: {err}")
    with open(pid_file) as f:
        pid = int(f.read())
    pidfd = os.pidfd_open(pid)
    try:
        out["start"], rc, err = _timed([*prefix, "start", cid])
        if rc:
            raise RuntimeError(f"{prefix[0]} start: {err}")
        t_started = time.perf_counter_ns()
        select.select([pidfd], [], [], 30)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        out["wait"] = (time.perf_counter_ns() - t_started) / 1e6
    finally:
        os.close(pidfd)
    out["delete"], rc, err = _timed([*prefix, "delete", cid])
    if rc:
        raise RuntimeError(f"{prefix[0]} delete: {err}")
    out["total"] = (time.perf_counter_ns() - t0) / 1e6
    os.unlink(pid_file)
    return out


def driver(bundle: str, runs: int, warmup: int, runtimes: dict[str, list[str]]) -> int:
    """As the user: interleaved engine loops; prints {runtime: {step: [ms…]}}."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    samples: dict[str, dict[str, list[float]]] = {rt: {s: [] for s in STEPS} for rt in runtimes}
    names = list(runtimes)
    for i in range(warmup + runs):
        order = names[i % len(names):] + names[:i % len(names)]
        for rt in order:
            result = _one(runtimes[rt], bundle, f"rlb-{rt}-{os.getpid()}-{i}")
            if i >= warmup:
                for step, ms in result.items():
                    samples[rt][step].append(ms)
    json.dump(samples, sys.stdout)
    return 0


def _kill_user(uid: int) -> None:
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                os.kill(int(entry), 9)
        except OSError:
            continue


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--fire", default=os.path.join(REPO, ".venv", "bin", "fire"))
    ap.add_argument("--driver", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--runtimes", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.driver:
        return driver(args.driver, args.runs, args.warmup, json.loads(args.runtimes))
    if os.geteuid() != 0:
        sys.exit("bench/rootless.py makes a user: run it as root")
    sys.path.insert(0, REPO)
    from pathlib import Path

    from fire.bundle import make_rootfs
    from fire.spec.default import default_spec
    from tests.access import reachable

    opened = reachable(Path(sys.executable).parent, Path(REPO))
    base = tempfile.mkdtemp(prefix="fire-rlbench-")
    os.chmod(base, 0o755)
    name = f"frb{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "-M", "-s", "/bin/sh", name], check=True)
    pw = pwd.getpwnam(name)
    try:
        run_dir = os.path.join(base, "run")
        os.mkdir(run_dir, 0o700)
        bundle = os.path.join(base, "bundle")
        make_rootfs(os.path.join(bundle, "rootfs"))
        cfg = default_spec(rootless=True, args=["/bin/true"], terminal=False)
        linux = cfg["linux"]
        assert isinstance(linux, dict)
        linux["uidMappings"] = [{"containerID": 0, "hostID": pw.pw_uid, "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": pw.pw_gid, "size": 1}]
        cfg["ociVersion"] = "1.0.2"
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
        subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", base, run_dir], check=True)
        runtimes = {"fire": [args.fire], "runc": [shutil.which("runc") or "runc"]}
        env = [f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}", f"XDG_RUNTIME_DIR={run_dir}",
               f"HOME={base}", f"USER={name}"]
        proc = subprocess.run(["runuser", "-u", name, "--", "env", "-i", *env, sys.executable,
                               os.path.abspath(__file__), "--driver", bundle, "--runs",
                               str(args.runs), "--warmup", str(args.warmup), "--runtimes",
                               json.dumps(runtimes)], cwd=base, capture_output=True, text=True,
                              check=False)
        if proc.returncode:
            sys.exit(f"driver failed: {proc.stderr[-2000:]}")
        samples = json.loads(proc.stdout)
    finally:
        _kill_user(pw.pw_uid)  # what a failed driver left (containers' inits)
        subprocess.run(["userdel", name], check=False)
        shutil.rmtree(base, ignore_errors=True)
        for path, mode in opened:
            path.chmod(mode)
    print(f"rootless engine path, medians of {args.runs} (ms), as user {name}; "
          "no cgroup (v1 host)")
    print(f"{'step':<8} {'fire':>9} {'runc':>9} {'fire/runc':>10}")
    for step in STEPS:
        f, r = (statistics.median(samples[rt][step]) for rt in ("fire", "runc"))
        print(f"{step:<8} {f:9.1f} {r:9.1f} {f / r:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
