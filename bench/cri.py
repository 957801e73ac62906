"""Benchmark of pod start through containerd's CRI plugin (not a test): Fire and
runc as runtime handlers of one private containerd, side by side, in one run.

    python bench/cri.py [--runs N] [--warmup N] [--json]        (as root)

Each iteration starts one pod per handler, in a rotating order (a noisy neighbour
slows both alike), the way kubelet does: RunPodSandbox (the pause container, with
its CNI network namespace), CreateContainer, StartContainer; the sum is the pod
start latency.  Then one ExecSync (what a liveness probe costs) and the teardown
(StopPodSandbox + RemovePodSandbox), also timed.  The warm-up iterations are
dropped.  The containerd, its images and its CNI bridge come from
tests/cri/engine.py (busybox-static images, no registry); everything is removed at
the end.  ``--json`` prints one JSON object (medians in ms) for bench/bench.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.cri.engine import CRI, HANDLERS, start_engine  # noqa: E402
from tests.engines.conftest import Runtime  # noqa: E402

PHASES = ("RunPodSandbox", "CreateContainer", "StartContainer", "pod start", "ExecSync",
          "teardown")


def one_pod(engine: CRI, handler: str, i: int) -> dict[str, float]:
    """Start one pod with one container; the time of each call, in ms."""
    times: dict[str, float] = {}
    config = engine.pod_config(f"bench{i}")
    t0 = time.perf_counter()
    pod = engine.run_pod(handler, config)
    t1 = time.perf_counter()
    try:
        cid = engine.create(pod, config, engine.container_config("app", "sleep", "1000"))
        t2 = time.perf_counter()
        engine.start_container(cid)
        t3 = time.perf_counter()
        r = engine.exec_sync(cid, "true")
        t4 = time.perf_counter()
        assert r.exit_code == 0, r
    finally:
        t5 = time.perf_counter()
        engine.remove_pod(pod)
        t6 = time.perf_counter()
    times["RunPodSandbox"] = (t1 - t0) * 1000
    times["CreateContainer"] = (t2 - t1) * 1000
    times["StartContainer"] = (t3 - t2) * 1000
    times["pod start"] = (t3 - t0) * 1000
    times["ExecSync"] = (t4 - t3) * 1000
    times["teardown"] = (t6 - t5) * 1000
    return times


def measure(runs: int, warmup: int, fire_binary: str | None
            ) -> dict[str, dict[str, list[float]]]:
    """{phase: {handler: [ms…]}} over ``runs`` iterations after ``warmup``."""
    workdir = Path(tempfile.mkdtemp(prefix="fire-bench-cri-"))
    samples: dict[str, dict[str, list[float]]] = {p: {h: [] for h in HANDLERS} for p in PHASES}
    try:
        engine = start_engine(workdir, Runtime(workdir), fire_binary)
        try:
            for i in range(warmup + runs):
                order = HANDLERS[i % len(HANDLERS):] + HANDLERS[:i % len(HANDLERS)]
                for handler in order:
                    times = one_pod(engine, handler, i)
                    if i >= warmup:
                        for phase, ms in times.items():
                            samples[phase][handler].append(ms)
        finally:
            engine.cleanup()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="one JSON object of medians (ms)")
    ap.add_argument("--fire", default=None,
                    help="the BinaryName of the fire handler (default: .venv/bin/fire)")
    args = ap.parse_args()
    launcher = REPO / ".venv" / "bin" / "fire"
    fire_binary = args.fire or (str(launcher) if launcher.exists() else None)
    samples = measure(args.runs, args.warmup, fire_binary)
    medians = {phase: {h: statistics.median(v) for h, v in per.items()}
               for phase, per in samples.items()}
    if args.json:
        print(json.dumps({"runs": args.runs, "medians_ms": medians}))
        return 0
    print(f"pod start through containerd's CRI plugin (fire = {fire_binary or 'python'}): "
          f"{args.runs} runs after {args.warmup} warm-up, interleaved; median (min-max) in ms")
    print(f"  {'':<18}" + "".join(f"{h:>24}" for h in HANDLERS) + "   fire/runc")
    for phase, per in samples.items():
        cells = "".join(f"{statistics.median(v):8.1f} ({min(v):6.1f}-{max(v):6.1f})"
                        for v in per.values())
        ratio = statistics.median(per["fire"]) / statistics.median(per["runc"])
        print(f"  {phase:<18}{cells}   {ratio:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
