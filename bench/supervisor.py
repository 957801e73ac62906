"""Benchmark of fire-supervise (not a test): one supervisor, N busybox containers.

    python bench/supervisor.py [--containers N] [--parallel P] [--profile DIR] [--json]
                                                                     (as root)

Measures, in one supervisor process:

* its RSS with 1 container running, then with N (after a SIGHUP reload to a file
  of N containers), and the *marginal RSS per container*: (RSS_N - RSS_1) / (N - 1)
  — the issue's goal is at most 300 KiB;
* how long the N - 1 added containers took to all reach ``running``, and the CPU
  time of the supervisor and of the commands it waited for (``fire create``,
  ``start``: its reaped children) meanwhile;
* event latency: SIGUSR1 sent to the supervisor → its ``signal`` event read by a
  subscriber on the socket (median and p99 of ``--samples``), with N containers
  running, and the delivery delay of ``stats`` events (publish → read);
* its idle CPU with N running (utime + stime over ``IDLE_SECONDS``, as % of a core);
* the cost of ``fire list`` and ``fire list --format json`` with N containers, and of
  ``fire top`` (under a pseudo-terminal: its first frame, then its CPU and RSS);
* how long SIGTERM takes to stop all N (until the supervisor exits);
* the machine's load average before and after (it is shared: say so with the figures).

``--profile DIR``: py-spy records the supervisor (start, idle, stop) into
DIR/{start,idle,stop}.txt (``pip install py-spy``).

``run(n)`` returns the numbers as a dict, for bench/bench.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fire import events as ev  # noqa: E402
from fire.supervisor.client import subscribe  # noqa: E402

SERVE = "trap 'exit 0' TERM; sleep 100000 & wait"
IDLE_SECONDS = 10.0


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def make_bundles(base: Path, n: int, tag: str) -> dict[str, Path]:
    from fire.bundle import make_rootfs
    from fire.spec.default import default_spec

    rootfs = base / "rootfs"
    make_rootfs(str(rootfs))
    out: dict[str, Path] = {}
    for i in range(n):
        cid = f"bench-{tag}-{i:03d}"
        path = base / cid
        path.mkdir()
        config = default_spec(args=["sh", "-c", SERVE], terminal=False)
        config["root"] = {"path": str(rootfs), "readonly": True}
        (path / "config.json").write_text(json.dumps(config))
        out[cid] = path
    return out


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of ``pid`` (``children``: of its waited-for children instead)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Profiler:
    """py-spy recording the supervisor for one phase (``--profile``), or nothing."""

    def __init__(self, directory: str | None, pid: int, phase: str) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        if directory:
            os.makedirs(directory, exist_ok=True)
            self.proc = subprocess.Popen(
                ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "50",
                 "--output", os.path.join(directory, f"{phase}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(60)


def timed(argv: list[str], env: dict[str, str]) -> float:
    began = time.monotonic()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.monotonic() - began


def top_cost(fire: list[str], env: dict[str, str], seconds: float = 10.0
             ) -> tuple[float, float, float]:
    """``fire top`` under a 50x160 pseudo-terminal while the containers run: seconds
    until its first frame shows a running container, then its CPU (% of a core) and
    RSS (KiB) over ``seconds`` of watching (it redraws as the stats events come)."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    began = time.monotonic()
    proc = subprocess.Popen([*fire, "top"], env=dict(env, TERM="xterm-256color"),
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen, first = b"", -1.0
    watch_until = 0.0
    cpu_before = 0.0
    try:
        while True:
            now = time.monotonic()
            if first < 0 and now - began > 60:
                raise RuntimeError("fire top showed no running container in 60 s")
            if first >= 0 and now >= watch_until:
                break
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if first < 0:
                    seen = (seen + data)[-4096:]
                    if b"running" in seen:
                        first = time.monotonic() - began
                        cpu_before = cpu_seconds(proc.pid)
                        watch_until = time.monotonic() + seconds
        cpu = (cpu_seconds(proc.pid) - cpu_before) / seconds
        rss = rss_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    return first, cpu * 100, rss


def write_config(path: Path, bundles: dict[str, Path], stats_interval: float,
                 parallel: int = 4) -> None:
    lines = ["[supervisor]", f"stats_interval = {stats_interval}", f"parallel_starts = {parallel}"]
    for cid, bundle in bundles.items():
        lines += [f"[containers.{cid}]", f'bundle = "{bundle}"', "stop_timeout = 5"]
    path.write_text("\n".join(lines) + "\n")


class Listener:
    """Reads the supervisor's events in a thread, noting when each arrived."""

    def __init__(self, root: str) -> None:
        self.events: list[tuple[float, ev.AnyEvent]] = []
        self.up: set[str] = set()
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, args=(root,), daemon=True)
        self.thread.start()

    def _run(self, root: str) -> None:
        for event in subscribe(root, wait=30, replay=False):
            now = time.time()
            with self.cond:
                self.events.append((now, event))
                if isinstance(event, ev.State):  # kept as they come: no rescan per look
                    if event.state == "running":
                        self.up.add(event.id)
                    else:
                        self.up.discard(event.id)
                self.cond.notify_all()

    def running(self) -> set[str]:
        with self.cond:
            return set(self.up)

    def wait(self, condition: object, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not condition():  # type: ignore[operator]
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
        return True


def run(n: int = 100, samples: int = 50, parallel: int = 4,
        profile: str | None = None) -> dict[str, float | str]:
    if os.geteuid() != 0:
        raise SystemExit("bench/supervisor.py runs containers: run it as root")
    with tempfile.TemporaryDirectory(prefix="fire-bench-sv-") as tmp:
        base = Path(tmp)
        root = base / "root"
        bundles = make_bundles(base, n, os.urandom(3).hex())
        first = dict(list(bundles.items())[:1])
        config = base / "fire.toml"
        write_config(config, first, stats_interval=1.0, parallel=parallel)
        load_before = load_average()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-m", "fire.supervisor", "--root", str(root),
                                 "--config", str(config)], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            listener = Listener(str(root))
            if not listener.wait(lambda: set(first) <= listener.running(), 60):
                raise SystemExit("the first container did not start")
            time.sleep(2)
            rss_1 = rss_kib(proc.pid)

            write_config(config, bundles, stats_interval=1.0, parallel=parallel)
            profiler = Profiler(profile, proc.pid, "start")
            began = time.monotonic()
            own_before = cpu_seconds(proc.pid)
            children_before = cpu_seconds(proc.pid, children=True)
            proc.send_signal(signal.SIGHUP)
            if not listener.wait(lambda: set(bundles) <= listener.running(), 60 + 3 * n):
                raise SystemExit(f"only {len(listener.running())} of {n} containers started")
            start_all = time.monotonic() - began
            start_cpu_own = cpu_seconds(proc.pid) - own_before
            start_cpu_children = cpu_seconds(proc.pid, children=True) - children_before
            profiler.stop()
            time.sleep(3)  # let the stats loop and the set-up garbage settle
            rss_n = rss_kib(proc.pid)
            profiler = Profiler(profile, proc.pid, "idle")
            cpu_before = cpu_seconds(proc.pid)
            time.sleep(IDLE_SECONDS)
            idle_cpu = (cpu_seconds(proc.pid) - cpu_before) / IDLE_SECONDS
            profiler.stop()
            # Again with the default stats_interval (5 s): a reload that changes only
            # [supervisor] restarts nothing.
            write_config(config, bundles, stats_interval=5.0, parallel=parallel)
            proc.send_signal(signal.SIGHUP)
            time.sleep(6)
            cpu_before = cpu_seconds(proc.pid)
            time.sleep(IDLE_SECONDS)
            idle_cpu_default = (cpu_seconds(proc.pid) - cpu_before) / IDLE_SECONDS
            fire = [sys.executable, "-m", "fire", "--root", str(root)]
            list_seconds = timed([*fire, "list"], env)
            list_json_seconds = timed([*fire, "list", "--format", "json"], env)
            top_first, top_cpu, top_rss = top_cost(fire, env)

            latencies = []
            for _ in range(samples):
                mark = len(listener.events)
                sent = time.time()
                proc.send_signal(signal.SIGUSR1)

                def got_it(mark: int = mark) -> bool:
                    return any(isinstance(e, ev.Signal) and e.signal == "SIGUSR1"
                               for _, e in listener.events[mark:])

                listener.wait(got_it, 10)
                arrived = next(t for t, e in listener.events[mark:] if isinstance(e, ev.Signal))
                latencies.append(arrived - sent)
                time.sleep(0.02)
            delivery = [t - e.time for t, e in listener.events if isinstance(e, ev.Stats)]
            profiler = Profiler(profile, proc.pid, "stop")
            stopping = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(60 + n)
            stop_all = time.monotonic() - stopping
            profiler.stop()
            load_after = load_average()
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                for cid in bundles:
                    subprocess.run([sys.executable, "-m", "fire", "--root", str(root), "delete",
                                    "--force", cid], env=env, capture_output=True)
    latencies.sort()
    return {
        "containers": n,
        "rss_1_kib": rss_1,
        "rss_n_kib": rss_n,
        "marginal_rss_kib": (rss_n - rss_1) / max(1, n - 1),
        "start_seconds": start_all,
        "start_cpu_supervisor_seconds": start_cpu_own,
        "start_cpu_commands_seconds": start_cpu_children,
        "signal_event_ms_median": statistics.median(latencies) * 1000,
        "signal_event_ms_p99": latencies[min(len(latencies) - 1,
                                             int(len(latencies) * 0.99))] * 1000,
        "stats_delivery_ms_median": statistics.median(delivery) * 1000 if delivery else -1,
        "idle_cpu_percent": idle_cpu * 100,
        "idle_cpu_default_percent": idle_cpu_default * 100,
        "list_seconds": list_seconds,
        "list_json_seconds": list_json_seconds,
        "top_first_frame_seconds": top_first,
        "top_cpu_percent": top_cpu,
        "top_rss_kib": top_rss,
        "stop_seconds": stop_all,
        "load_before": load_before,
        "load_after": load_after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=4, help="parallel_starts")
    parser.add_argument("--profile", metavar="DIR", help="py-spy records into DIR")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    numbers = run(args.containers, args.samples, args.parallel, args.profile)
    if args.json:
        print(json.dumps(numbers))
        return
    print(f"fire-supervise with {numbers['containers']} busybox containers")
    print(f"  RSS with 1 container      {float(numbers['rss_1_kib']) / 1024:8.1f} MiB")
    print(f"  RSS with {args.containers:<4} containers  {float(numbers['rss_n_kib']) / 1024:8.1f} MiB")
    print(f"  marginal RSS / container  {numbers['marginal_rss_kib']:8.1f} KiB   (goal ≤ 50)")
    print(f"  start of {args.containers - 1} more           {numbers['start_seconds']:8.1f} s")
    print(f"    CPU: supervisor {numbers['start_cpu_supervisor_seconds']:.1f} s, "
          f"the commands it waited for {numbers['start_cpu_commands_seconds']:.1f} s")
    print(f"  SIGUSR1 → event, median   {numbers['signal_event_ms_median']:8.2f} ms")
    print(f"  SIGUSR1 → event, p99      {numbers['signal_event_ms_p99']:8.2f} ms")
    print(f"  stats event delivery      {numbers['stats_delivery_ms_median']:8.2f} ms (median)")
    print(f"  idle CPU, stats every 1 s {numbers['idle_cpu_percent']:8.2f} % of a core")
    print(f"  idle CPU, every 5 s       {numbers['idle_cpu_default_percent']:8.2f} % of a core "
          "(the default stats_interval)")
    print(f"  fire list                 {numbers['list_seconds']:8.2f} s "
          f"(--format json {numbers['list_json_seconds']:.2f} s)")
    print(f"  fire top: first frame     {numbers['top_first_frame_seconds']:8.2f} s, then "
          f"{numbers['top_cpu_percent']:.1f} % of a core, "
          f"{float(numbers['top_rss_kib']) / 1024:.1f} MiB")
    print(f"  SIGTERM → all {args.containers} stopped  {numbers['stop_seconds']:8.1f} s")
    print(f"  load average              {numbers['load_before']} before, "
          f"{numbers['load_after']} after (2 shared cores)")


if __name__ == "__main__":
    main()
