"""Fire against runc and crun, side by side, in one run: medians and ratios.

    python bench/bench.py            # the full benchmark (as root; a few minutes)
    python bench/bench.py --quick    # CI: checks that the benchmark works (< 1 min)

What it does, and why it is done this way:

* **Setup.** runc, crun, hyperfine and busybox-static come from Debian (apt-get) if
  missing.  The bundles are built here from busybox-static (``fire.bundle``), so
  nothing comes from a registry: ``default`` (``runc spec``'s namespaces and mounts,
  ``/bin/true``), ``userns`` (a user namespace, every namespace runc knows, memory and
  pids limits) and ``seccomp`` (an allow-list of ~100 syscalls).  The bundles say
  ``ociVersion`` 1.0.2: Debian's crun 1.8.1 refuses newer versions.
* **crun and hybrid cgroups.** crun refuses a host whose cgroup2 mount
  (``/sys/fs/cgroup/unified``) holds no controllers next to v1 ones.  So crun runs
  inside a private mount namespace in which that one mount is unmounted; nothing is
  ever unmounted in the host's own mount namespace.
* **One timing path for every runtime.** Each runtime is driven by a helper process
  (this file with ``--helper``): crun's lives in that private mount namespace, fire's
  and runc's in the host's.  The helper starts each command with ``posix_spawn`` and
  times it to its ``wait4``, which also gives the peak RSS of the command and of the
  children it reaped.  The helper is a child subreaper, as a shim is: a created
  container's init is re-parented to it, and it waits for the container's exit.
* **Interleaved.** Each iteration runs every runtime once, in a rotating order, so
  that a noisy neighbour slows all of them alike; the warm-up iterations are dropped.
* **One fresh ``--root`` per runtime**, and ids unique to this run: other work may be
  running containers on the same machine.
* **The floor of an interpreter per command.** Engines run ``create``, ``start`` and
  ``delete`` as separate processes, so a runtime written in Python starts an
  interpreter for each.  A fourth pseudo-runtime, ``py-runc``, measures what that
  alone costs: runc's engine path with each command started through a bare
  interpreter (Fire's, with Fire's flags) that execs runc at once.  It runs in
  the default bundle's engine loop, interleaved with the others, and the targets
  section prints it next to the 1.5x limit, with what is left of the limit for every
  import and all the Python work.

Nothing here asserts a time: a benchmark is not a test.  The targets (issue 9) are
printed beside the numbers.  The supervisor's numbers come from bench/supervisor.py
when it exists (``python bench/supervisor.py --containers N --json``: one JSON
object; the supervisor area owns it).  Pod start latency through containerd's CRI
plugin (RunPodSandbox + CreateContainer + StartContainer, Fire and runc as two
handlers of one private containerd) comes from bench/cri.py the same way
(``--no-cri`` skips it; --quick measures one pod of each).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIMES = ("fire", "runc", "crun")
# The floor of any runtime that starts a CPython interpreter per command: runc, each
# command started through a bare interpreter (Fire's, with its flags) that execs it at
# once.  Measured with the default bundle's engine path, interleaved with the others.
FLOOR = "py-runc"
EXEC_AT_ONCE = "import posix, sys; posix.execv(sys.argv[1], sys.argv[1:])"
PR_SET_CHILD_SUBREAPER = 36
UNIFIED = "/sys/fs/cgroup/unified"
OCI_VERSION = "1.0.2"
DEBIAN_PACKAGES = {"runc": "runc", "crun": "crun", "hyperfine": "hyperfine"}

# The seccomp bundle's allow-list (~110 syscalls): what a static busybox, a Go
# runtime (runc's init runs after the filter is loaded) and a C runtime's last steps
# need, and the usual neighbours.  Everything else fails with EPERM.
_ALLOWED = """
access arch_prctl brk capget capset chdir clock_getres clock_gettime clock_nanosleep
clone clone3 close close_range dup dup2 dup3 epoll_create1 epoll_ctl epoll_pwait
epoll_wait eventfd2 execve execveat exit exit_group faccessat faccessat2 fchdir fcntl
fstat fstatfs futex getcwd getdents64 getegid geteuid getgid getgroups getpgid getpgrp
getpid getppid getrandom getresgid getresuid getrlimit getsid gettid gettimeofday getuid
ioctl kill lseek lstat madvise membarrier mmap mprotect munmap nanosleep newfstatat open
openat openat2 pipe pipe2 poll ppoll prctl pread64 prlimit64 pselect6 pwrite64 read
readlink readlinkat readv restart_syscall rseq rt_sigaction rt_sigprocmask rt_sigreturn
rt_sigtimedwait sched_getaffinity sched_yield select set_robust_list set_tid_address
setgid setgroups setpgid setresgid setresuid setsid setuid sigaltstack stat statfs statx
tgkill tkill umask uname unlink unlinkat wait4 waitid write writev
"""
SECCOMP_ALLOW = _ALLOWED.split()


# --------------------------------------------------------------------------- helper
# Runs as its own process (``--helper``), one per runtime.  Requests and answers are
# JSON lines on stdin/stdout.


def _set_subreaper() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


class Spawner:
    """Starts one command and times it to its exit (the helper's only clock)."""

    def __init__(self) -> None:
        self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.err = os.memfd_create("bench-stderr", os.MFD_CLOEXEC)

    def run(self, argv: list[str], env: dict[str, str], cwd: str | None = None) -> dict[str, object]:
        os.ftruncate(self.err, 0)
        os.lseek(self.err, 0, os.SEEK_SET)
        actions = [(os.POSIX_SPAWN_DUP2, self.devnull, 0), (os.POSIX_SPAWN_DUP2, self.devnull, 1),
                   (os.POSIX_SPAWN_DUP2, self.err, 2)]
        old = os.getcwd()
        if cwd:
            os.chdir(cwd)
        try:
            t0 = time.perf_counter_ns()
            pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
            _, status, usage = os.wait4(pid, 0)
            t1 = time.perf_counter_ns()
        finally:
            os.chdir(old)
        os.lseek(self.err, 0, os.SEEK_SET)
        err = os.read(self.err, 1 << 16).decode(errors="replace").strip().splitlines()
        return {"ms": (t1 - t0) / 1e6, "rc": os.waitstatus_to_exitcode(status),
                "maxrss_kib": usage.ru_maxrss, "err": err[-1] if err else ""}


def _vmrss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _engine(sp: Spawner, req: dict[str, object], env: dict[str, str]) -> dict[str, object]:
    """create, start, wait for the exit (we are the subreaper), delete: each timed."""
    prefix = [str(a) for a in req["prefix"]]  # type: ignore[attr-defined]
    cid, bundle, pid_file = str(req["id"]), str(req["bundle"]), str(req["pid_file"])
    out: dict[str, object] = {}
    t0 = time.perf_counter_ns()
    r = sp.run([*prefix, "create", "--bundle", bundle, "--pid-file", pid_file, cid], env, bundle)
    out["create"] = r["ms"]
    if r["rc"] != 0:
        sp.run([*prefix, "delete", "--force", cid], env)
        return {"error": f"create: {r['err']}"}
    with open(pid_file) as f:
        pid = int(f.read().strip())
    out["init_rss_kib"] = _vmrss_kib(pid)
    pidfd = os.pidfd_open(pid)
    try:
        t_start = time.perf_counter_ns()
        r = sp.run([*prefix, "start", cid], env)
        t_started = time.perf_counter_ns()
        out["start"] = r["ms"]
        if r["rc"] != 0:
            sp.run([*prefix, "delete", "--force", cid], env)
            return {"error": f"start: {r['err']}"}
        if not select.select([pidfd], [], [], 30)[0]:
            sp.run([*prefix, "delete", "--force", cid], env)
            return {"error": "the container did not exit within 30 s"}
        try:
            _, status = os.waitpid(pid, 0)
            out["exit"] = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped by someone else: only the time is known
            out["exit"] = None
        out["wait"] = (time.perf_counter_ns() - t_started) / 1e6
        del t_start
    finally:
        os.close(pidfd)
    r = sp.run([*prefix, "delete", cid], env)
    out["delete"] = r["ms"]
    out["total"] = (time.perf_counter_ns() - t0) / 1e6
    if r["rc"] != 0:
        sp.run([*prefix, "delete", "--force", cid], env)
        return {"error": f"delete: {r['err']}"}
    _reap_all()
    return out


def helper_main(umount_unified: bool) -> int:
    """Serve requests until stdin closes."""
    # With --umount-unified we are in a private mount namespace (unshare -m): this
    # never touches the host's.
    if umount_unified and os.path.ismount(UNIFIED):
        subprocess.run(["umount", UNIFIED], check=True)
    _set_subreaper()
    sp = Spawner()
    base_env = dict(os.environ)
    for line in sys.stdin:
        req = json.loads(line)
        env = {**base_env, **req.get("env", {})}
        try:
            if req["op"] == "cmd":
                res = sp.run([str(a) for a in req["argv"]], env, req.get("cwd"))
                _reap_all()
            elif req["op"] == "engine":
                res = _engine(sp, req, env)
            else:
                res = {"error": f"unknown op {req['op']}"}
        except OSError as exc:
            res = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()
    return 0


# --------------------------------------------------------------------------- setup


def need_root() -> None:
    if os.geteuid() != 0:
        sys.exit("bench: run as root (containers need it)")


def ensure_packages(quiet: bool) -> None:
    """Install what is missing from Debian: runc, crun, hyperfine, busybox-static."""
    missing = [pkg for tool, pkg in DEBIAN_PACKAGES.items() if shutil.which(tool) is None]
    if not any(os.path.exists(p) for p in ("/bin/busybox", "/usr/bin/busybox")):
        missing.append("busybox-static")
    if not missing:
        return
    if shutil.which("apt-get") is None:
        sys.exit(f"bench: missing {' '.join(missing)} and no apt-get to install them")
    print(f"== apt-get install {' '.join(missing)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   env=env, check=True, stdout=None if not quiet else subprocess.DEVNULL)


def fire_launcher(workdir: str) -> tuple[list[str], str]:
    """How ``fire`` is started: as ``bin/setup`` installs it.

    ``bin/setup`` writes ``.venv/bin/fire`` and its import cache with
    ``fire.launcher``.  Without a
    ``.venv``, the same launcher is written for this interpreter (which must have
    Fire's dependencies) in the work directory.
    """
    installed = os.path.join(REPO, ".venv", "bin", "fire")
    if os.access(installed, os.X_OK):
        # Written again, as bin/setup does: its import cache (fire.importcache) then
        # matches this checkout (an edited module is imported from source, slower).
        subprocess.run([os.path.join(REPO, ".venv", "bin", "python"), "-m", "fire.launcher",
                        installed], check=True, cwd=REPO)
        return [installed], installed
    import importlib.util

    if importlib.util.find_spec("msgspec") is None:
        sys.exit("bench: no .venv/bin/fire and this interpreter lacks Fire's dependencies: "
                 "run bin/setup first")
    sys.path.insert(0, REPO)
    from fire import launcher

    path = os.path.join(workdir, "fire")
    launcher.write(path)
    return [path], f"{path} (fire.launcher for {sys.executable})"


def interpreter_of(prefix: list[str]) -> list[str]:
    """The interpreter and flags that start ``fire``: its launcher's ``#!`` line."""
    try:
        with open(prefix[0], "rb") as f:
            first = f.readline(512)
    except OSError:
        first = b""
    if first.startswith(b"#!"):
        return first[2:].decode().strip().split(None, 1)
    return [sys.executable, "-I", "-S"]


def compile_fire() -> None:
    """Byte-compile the package, as an install does.

    An editable install writes ``__pycache__`` on first use, unless
    PYTHONDONTWRITEBYTECODE is set (as in some shells): then every command would
    compile Fire's sources again (~3x the import time), which no installed Fire does.
    """
    import compileall

    compileall.compile_dir(os.path.join(REPO, "fire"), quiet=1)


def make_bundles(workdir: str) -> dict[str, str]:
    """default, userns and seccomp bundles sharing one read-only busybox rootfs."""
    sys.path.insert(0, REPO)
    from fire.bundle import make_rootfs
    from fire.spec.default import default_spec

    rootfs = os.path.join(workdir, "rootfs")
    make_rootfs(rootfs)
    # The user namespace's root (a host uid) must reach the rootfs.
    os.chmod(workdir, 0o755)

    def config() -> dict[str, object]:
        cfg = default_spec(args=["/bin/true"], terminal=False)
        cfg["ociVersion"] = OCI_VERSION
        cfg["root"] = {"path": rootfs, "readonly": True}
        return cfg

    default = config()
    userns = config()
    linux = userns["linux"]
    assert isinstance(linux, dict)
    linux["namespaces"] = [{"type": t} for t in
                           ("pid", "network", "ipc", "uts", "mount", "cgroup", "user")]
    linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}],
                          "memory": {"limit": 64 << 20}, "pids": {"limit": 64}}
    seccomp = config()
    linux = seccomp["linux"]
    assert isinstance(linux, dict)
    linux["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                        "syscalls": [{"names": SECCOMP_ALLOW, "action": "SCMP_ACT_ALLOW"}]}
    out = {}
    for name, cfg in (("default", default), ("userns", userns), ("seccomp", seccomp)):
        path = os.path.join(workdir, f"bundle-{name}")
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        out[name] = path
    return out


# --------------------------------------------------------------------------- driver


class Runtime:
    """One runtime under test, driven through its helper process."""

    def __init__(self, name: str, prefix: list[str], env: dict[str, str], root: str,
                 private_mount_ns: bool) -> None:
        self.name = name
        self.prefix = [*prefix, "--root", root]
        self.bare = prefix
        self.env = env
        self.root = root
        helper = [sys.executable, os.path.abspath(__file__), "--helper"]
        if private_mount_ns:
            helper = ["unshare", "--mount", "--propagation", "private", *helper, "--umount-unified"]
        self.proc = subprocess.Popen(helper, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def _ask(self, req: dict[str, object]) -> dict[str, object]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        req["env"] = self.env
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} helper died")
        res: dict[str, object] = json.loads(line)
        return res

    def cmd(self, *args: str, cwd: str | None = None, bare: bool = False) -> dict[str, object]:
        argv = [*(self.bare if bare else self.prefix), *args]
        return self._ask({"op": "cmd", "argv": argv, "cwd": cwd})

    def engine(self, bundle: str, cid: str, pid_file: str) -> dict[str, object]:
        return self._ask({"op": "engine", "prefix": self.prefix, "bundle": bundle, "id": cid,
                          "pid_file": pid_file})

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Series:
    """Samples of one measure for one runtime (ms, or KiB), or why there are none."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.problem: str | None = None

    def add(self, value: object) -> None:
        if isinstance(value, (int, float)):
            self.values.append(float(value))

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values and not self.problem else None


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: str) -> None:
        self.args = args
        self.workdir = workdir
        self.runs: int = args.runs
        self.warmup: int = args.warmup
        self.tag = f"fb{os.getpid()}"
        self.results: dict[str, dict[str, Series]] = {}  # measure -> runtime -> series
        self.order: list[str] = []
        self.units: dict[str, str] = {}
        self.rts: dict[str, Runtime] = {}
        self.counter = 0

    def series(self, measure: str, rt: str, unit: str = "ms") -> Series:
        if measure not in self.results:
            self.results[measure] = {}
            self.order.append(measure)
            self.units[measure] = unit
        return self.results[measure].setdefault(rt, Series())

    def compared(self) -> dict[str, Runtime]:
        """The runtimes of the table (not the floor, measured in one loop only)."""
        return {name: rt for name, rt in self.rts.items() if name in RUNTIMES}

    def new_id(self, rt: str) -> str:
        self.counter += 1
        return f"{self.tag}-{rt}-{self.counter}"

    # ------------------------------------------------------------------ loops
    def interleaved(self, step: Callable[[Runtime, bool], None], runtimes: Iterable[str]) -> None:
        names = list(runtimes)
        for i in range(self.warmup + self.runs):
            k = i % len(names)
            for name in names[k:] + names[:k]:
                step(self.rts[name], i >= self.warmup)

    def measure_run(self, bundle_name: str, bundle: str, runtimes: list[str]) -> None:
        label = f"run /bin/true ({bundle_name})"
        rss_label = f"peak RSS of run ({bundle_name})"

        def step(rt: Runtime, keep: bool) -> None:
            s = self.series(label, rt.name)
            if s.problem:
                return
            r = rt.cmd("run", "--bundle", bundle, self.new_id(rt.name), cwd=bundle)
            if r.get("rc") != 0:
                s.problem = f"failed: {r.get('err') or r.get('error')}"
                return
            if keep:
                s.add(r["ms"])
                self.series(rss_label, rt.name, "KiB").add(r["maxrss_kib"])

        self.interleaved(step, runtimes)

    def measure_engine(self, bundle_name: str, bundle: str, runtimes: list[str]) -> None:
        parts = ("total", "create", "start", "wait", "delete")
        labels = {p: f"engine {p} ({bundle_name})" for p in parts}
        rss_label = f"waiting init RSS ({bundle_name})"

        def step(rt: Runtime, keep: bool) -> None:
            s = self.series(labels["total"], rt.name)
            if s.problem:
                return
            cid = self.new_id(rt.name)
            r = rt.engine(bundle, cid, os.path.join(self.workdir, f"{cid}.pid"))
            if "error" in r:
                for p in parts:
                    self.series(labels[p], rt.name).problem = f"failed: {r['error']}"
                return
            if keep:
                for p in parts:
                    self.series(labels[p], rt.name).add(r[p])
                self.series(rss_label, rt.name, "KiB").add(r.get("init_rss_kib"))

        self.interleaved(step, runtimes)

    def measure_many(self, bundle: str, count: int) -> None:
        """state, kill, list with ``count`` created containers present; --version."""
        ids: dict[str, list[str]] = {}
        rts = self.compared()
        for name, rt in rts.items():
            ids[name] = []
            for _ in range(count):
                cid = self.new_id(name)
                r = rt.cmd("create", "--bundle", bundle, "--pid-file",
                           os.path.join(self.workdir, f"{cid}.pid"), cid, cwd=bundle)
                if r.get("rc") != 0:
                    self.series(f"state ({count} present)", name).problem = f"failed: {r.get('err')}"
                    break
                ids[name].append(cid)
        try:
            def step(rt: Runtime, keep: bool) -> None:
                mine = ids[rt.name]
                if not mine:
                    return
                for label, argv in ((f"state ({count} present)", ["state", mine[0]]),
                                    (f"kill CONT ({count} present)", ["kill", mine[0], "CONT"]),
                                    (f"list ({count} present)", ["list"])):
                    s = self.series(label, rt.name)
                    if s.problem:
                        continue
                    r = rt.cmd(*argv)
                    if r.get("rc") != 0:
                        s.problem = f"failed: {r.get('err')}"
                    elif keep:
                        s.add(r["ms"])

            self.interleaved(step, rts)

            def version(rt: Runtime, keep: bool) -> None:
                r = rt.cmd("--version", bare=True)
                s = self.series("--version", rt.name)
                if r.get("rc") != 0:
                    s.problem = f"failed: {r.get('err')}"
                elif keep:
                    s.add(r["ms"])

            self.interleaved(version, rts)
        finally:
            for name, rt in rts.items():
                for cid in ids[name]:
                    rt.cmd("delete", "--force", cid)


# --------------------------------------------------------------------------- report


def fmt_value(v: float, unit: str) -> str:
    return f"{v / 1024:.1f}M" if unit == "KiB" else f"{v:.1f}"


def cell(s: Series | None, unit: str) -> str:
    if s is None:
        return "-"
    if s.problem:
        return s.problem if len(s.problem) <= 30 else s.problem[:27] + "..."
    if not s.values:
        return "-"
    lo, med, hi = min(s.values), statistics.median(s.values), max(s.values)
    return f"{fmt_value(med, unit)} ({fmt_value(lo, unit)}-{fmt_value(hi, unit)})"


def ratio(s: Series | None, base: Series | None) -> str:
    if s is None or base is None or s.median is None or base.median is None:
        return ""
    if base.median < 1:  # a ratio of two near-zero times (the wait) means nothing
        return ""
    return f"{s.median / base.median:.2f}x"


def report(b: Bench) -> str:
    width = max(len(m) for m in b.order) if b.order else 10
    head = (f"{'measure':<{width}}  {'fire':<26} {'/runc':>6}  {'runc':<24}  {'crun':<24} {'/runc':>6}")
    lines = [head, "-" * len(head)]
    for m in b.order:
        per = b.results[m]
        unit = b.units[m]
        f, r, c = per.get("fire"), per.get("runc"), per.get("crun")
        lines.append(f"{m:<{width}}  {cell(f, unit):<26} {ratio(f, r):>6}  {cell(r, unit):<24}  "
                     f"{cell(c, unit):<24} {ratio(c, r):>6}")
    return "\n".join(lines)


def targets(b: Bench) -> list[str]:
    """Issue 9's targets, checked against this run's medians (never asserted)."""
    def med(measure: str, rt: str) -> float | None:
        s = b.results.get(measure, {}).get(rt)
        return s.median if s is not None else None

    out = []

    def check(what: str, value: float | None, limit: float | None, unit: str = "ms") -> None:
        if value is None or limit is None:
            out.append(f"  {what}: not measured")
            return
        verdict = "met" if value <= limit else "MISSED"
        out.append(f"  {what}: {value:.1f} {unit} vs limit {limit:.1f} {unit}: {verdict}")

    runc_run = med("run /bin/true (default)", "runc")
    check("run <= 2.5x runc", med("run /bin/true (default)", "fire"),
          runc_run * 2.5 if runc_run else None)
    runc_eng = med("engine total (default)", "runc")
    check("engine path <= 1.5x runc", med("engine total (default)", "fire"),
          runc_eng * 1.5 if runc_eng else None)
    floor = med("engine total (default)", FLOOR)
    problem = b.results.get("engine total (default)", {}).get(FLOOR, Series()).problem
    if problem:
        out.append(f"    its floor for one interpreter per command ({FLOOR}): {problem}")
    elif floor and runc_eng:
        out.append(f"    its floor for one interpreter per command ({FLOOR}: runc's engine path, each "
                   f"command started\n    through a bare interpreter that execs runc): {floor:.1f} ms "
                   f"= {floor / runc_eng:.2f}x runc, leaving {runc_eng * 1.5 - floor:.1f} ms\n"
                   "    for every import and all the Python work of create, start and delete")
    for cmd, measure in (("state", next((m for m in b.order if m.startswith("state")), "")),
                         ("kill", next((m for m in b.order if m.startswith("kill")), "")),
                         ("delete", "engine delete (default)")):
        base = med(measure, "runc")
        check(f"{cmd} <= runc + 15 ms", med(measure, "fire"), base + 15 if base else None)
    rss = med("waiting init RSS (default)", "fire")
    check("waiting init <= 12 MiB", rss / 1024 if rss else None, 12.0, "MiB")
    lm = next((m for m in b.order if m.startswith("list")), "")
    check("list <= runc", med(lm, "fire"), med(lm, "runc"))
    return out


SUPERVISOR_LABELS = {
    "rss_1_kib": ("RSS with 1 container", "KiB"),
    "rss_n_kib": ("RSS with all containers", "KiB"),
    "marginal_rss_kib": ("marginal RSS per container", "KiB"),
    "start_seconds": ("start of the added containers", "s"),
    "signal_event_ms_median": ("signal -> event, median", "ms"),
    "signal_event_ms_p99": ("signal -> event, p99", "ms"),
    "stats_delivery_ms_median": ("stats event delivery, median", "ms"),
    "idle_cpu_percent": ("idle CPU, stats every 1 s", "% of a core"),
    "idle_cpu_default_percent": ("idle CPU, stats every 5 s", "% of a core"),
    "list_seconds": ("fire list", "s"),
    "list_json_seconds": ("fire list --format json", "s"),
    "stop_seconds": ("SIGTERM -> all stopped", "s"),
    "load_before": ("load average before", ""),
    "load_after": ("load average after", ""),
}


def supervisor_numbers(count: int, quick: bool) -> list[str]:
    """One fire-supervise with ``count`` containers: bench/supervisor.py --json.

    Run as its own process (it imports trio and the supervisor, which this
    process keeps out of its measurements).
    """
    script = os.path.join(REPO, "bench", "supervisor.py")
    if not os.path.exists(script):
        return ["supervisor: not built yet (bench/supervisor.py does not exist)"]
    venv = os.path.join(REPO, ".venv", "bin", "python")  # has trio; this one may not
    python = venv if os.access(venv, os.X_OK) else sys.executable
    cmd = [python, script, "--containers", str(count), "--json"]
    if quick:
        cmd += ["--samples", "5"]
    env = {**os.environ, "PYTHONPATH": REPO}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        tail = ((r.stderr or r.stdout).strip().splitlines() or ["?"])[-1]
        return [f"supervisor: bench/supervisor.py failed (exit {r.returncode}): {tail}"]
    try:
        numbers = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ["supervisor: bench/supervisor.py printed no JSON", r.stdout.rstrip()]
    lines = [f"fire-supervise with {numbers.get('containers', count)} containers "
             "(bench/supervisor.py):"]
    for key, value in numbers.items():
        label, unit = SUPERVISOR_LABELS.get(key, (key, ""))
        if isinstance(value, str):
            lines.append(f"  {label:<32} {value}")
        elif key != "containers":
            lines.append(f"  {label:<32} {value:10.1f} {unit}")
    marginal = numbers.get("marginal_rss_kib")
    if isinstance(marginal, (int, float)):
        verdict = "met" if marginal <= 300 else "MISSED"
        lines.append(f"  target: marginal RSS <= 300 KiB: {marginal:.1f} KiB: {verdict}")
    return lines


def cri_numbers(quick: bool) -> list[str]:
    """Pod start through containerd's CRI plugin, Fire and runc as handlers of one
    containerd, interleaved: bench/cri.py --json, run as its own process (grpc,
    containerd and the CNI bridge stay out of this one)."""
    script = os.path.join(REPO, "bench", "cri.py")
    venv = os.path.join(REPO, ".venv", "bin", "python")  # has grpc; this one may not
    python = venv if os.access(venv, os.X_OK) else sys.executable
    cmd = [python, script, "--json"]
    if quick:
        cmd += ["--runs", "1", "--warmup", "0"]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False,
                       env={**os.environ, "PYTHONPATH": REPO})
    if r.returncode != 0:
        tail = ((r.stderr or r.stdout).strip().splitlines() or ["?"])[-1]
        return [f"CRI: bench/cri.py failed (exit {r.returncode}): {tail}"]
    try:
        numbers = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ["CRI: bench/cri.py printed no JSON", r.stdout.rstrip()]
    lines = [f"pod start through containerd 1.6's CRI plugin, {numbers['runs']} interleaved "
             "runs (bench/cri.py; median ms):",
             f"  {'':<18} {'fire':>9} {'runc':>9} {'ratio':>7}"]
    for phase, per in numbers["medians_ms"].items():
        fire, runc = per.get("fire"), per.get("runc")
        if isinstance(fire, (int, float)) and isinstance(runc, (int, float)) and runc:
            lines.append(f"  {phase:<18} {fire:9.1f} {runc:9.1f} {fire / runc:6.2f}x")
    return lines


def fire_seccomp_supported(rt: Runtime) -> bool:
    """Fire says in ``fire features`` whether it applies linux.seccomp."""
    r = subprocess.run([*rt.bare, "features"], capture_output=True, text=True,
                       env={**os.environ, **rt.env}, check=False)
    try:
        return bool(json.loads(r.stdout)["linux"]["seccomp"]["enabled"])
    except (ValueError, KeyError, TypeError):
        return False


def hyperfine(b: Bench, bundle: str) -> None:
    """A cross-check of `run` with hyperfine (not interleaved; for comparison)."""
    cmds = []
    for name, rt in b.compared().items():
        cid = f"{b.tag}-hf-{name}"
        line = " ".join([*rt.prefix, "run", "--bundle", bundle, cid])
        if name == "crun":
            line = (f"unshare --mount --propagation private sh -c "
                    f"'umount {UNIFIED} 2>/dev/null; exec {line}'")
            cmds += ["--command-name", "crun (+unshare, sh, umount)", line]
        else:
            cmds += ["--command-name", name, line]
    env = {**os.environ, **b.rts["fire"].env}
    subprocess.run(["hyperfine", "--warmup", str(b.warmup), "--runs", str(b.runs), "-S", "sh",
                    *cmds], env=env, check=False, cwd=bundle)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI: check that it works (< 1 min)")
    ap.add_argument("--runs", type=int, default=None, help="measured iterations (default 30)")
    ap.add_argument("--warmup", type=int, default=None, help="dropped iterations (default 3)")
    ap.add_argument("--containers", type=int, default=None,
                    help="containers present for state/kill/list (default 100)")
    ap.add_argument("--bundles", default="default,userns,seccomp")
    ap.add_argument("--fire", default=None, help="the fire command (default: .venv/bin/fire)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--json", default=None, help="also write every sample to this file")
    ap.add_argument("--hyperfine", action="store_true", help="also time `run` with hyperfine")
    ap.add_argument("--no-cri", dest="cri", action="store_false",
                    help="skip pod start through containerd's CRI plugin (bench/cri.py)")
    ap.add_argument("--helper", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--umount-unified", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.helper:
        return helper_main(args.umount_unified)
    need_root()
    if args.runs is None:
        args.runs = 3 if args.quick else 30
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    count = args.containers if args.containers is not None else (5 if args.quick else 100)
    ensure_packages(args.quick)
    workdir = args.workdir or tempfile.mkdtemp(prefix="fire-bench-", dir="/tmp")
    os.makedirs(workdir, exist_ok=True)
    try:
        return run_bench(args, workdir, count)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def run_bench(args: argparse.Namespace, workdir: str, count: int) -> int:
    started = time.monotonic()
    compile_fire()
    bundles = make_bundles(workdir)
    fire_env: dict[str, str] = {}
    if args.fire:
        fire_prefix, fire_desc = args.fire.split(), args.fire
        fire_env["PYTHONPATH"] = REPO  # for a `python -m fire` given as --fire
    else:
        fire_prefix, fire_desc = fire_launcher(workdir)
    unified = os.path.ismount(UNIFIED)
    b = Bench(args, workdir)
    b.rts = {
        "fire": Runtime("fire", fire_prefix, fire_env, os.path.join(workdir, "root-fire"), False),
        "runc": Runtime("runc", [shutil.which("runc") or "runc"], {},
                        os.path.join(workdir, "root-runc"), False),
        "crun": Runtime("crun", [shutil.which("crun") or "crun"], {},
                        os.path.join(workdir, "root-crun"), unified),
        FLOOR: Runtime(FLOOR, [*interpreter_of(fire_prefix), "-c", EXEC_AT_ONCE,
                               shutil.which("runc") or "/usr/sbin/runc"], {},
                       os.path.join(workdir, "root-floor"), False),
    }
    load0 = os.getloadavg()
    print(f"fire: {fire_desc}\nworkdir: {workdir}\n{args.runs} runs after {args.warmup} warm-up, "
          f"interleaved; {os.cpu_count()} CPUs; load average {load0[0]:.2f}", flush=True)
    try:
        seccomp_ok = fire_seccomp_supported(b.rts["fire"])
        for name in args.bundles.split(","):
            runtimes = list(RUNTIMES)
            unsupported = name == "seccomp" and not seccomp_ok
            if unsupported:
                runtimes.remove("fire")
            print(f"== {name}: run", flush=True)
            b.measure_run(name, bundles[name], runtimes)
            print(f"== {name}: create, start, wait, delete", flush=True)
            b.measure_engine(name, bundles[name],
                             [*runtimes, FLOOR] if name == "default" else runtimes)
            if unsupported:
                for m in b.order:
                    if m.endswith(f"({name})"):
                        b.series(m, "fire").problem = "unsupported"
        print(f"== state, kill, list with {count} containers; --version", flush=True)
        b.measure_many(bundles["default"], count)
        if args.hyperfine:
            hyperfine(b, bundles["default"])
        print("== fire-supervise", flush=True)
        sup = supervisor_numbers(count, args.quick)
        pods: list[str] = []
        if args.cri:
            print("== pod start through the CRI (bench/cri.py)", flush=True)
            pods = cri_numbers(args.quick)
    finally:
        for rt in b.rts.values():
            rt.close()
    load1 = os.getloadavg()
    print()
    print(f"Fire vs runc vs crun on {platform.node()} ({platform.release()}), "
          f"{args.runs} interleaved runs after {args.warmup} warm-up; "
          f"load average {load0[0]:.2f} -> {load1[0]:.2f}; {time.monotonic() - started:.0f} s")
    print("times in ms: median (min-max); RSS in MiB; ratio = median / runc's median")
    print()
    print(report(b))
    print()
    print("targets (issue 9; never asserted):")
    print("\n".join(targets(b)))
    print()
    print("\n".join(sup))
    if args.cri:
        print()
        print("\n".join(pods))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({m: {rt: {"values": s.values, "problem": s.problem} for rt, s in per.items()}
                       for m, per in b.results.items()}, f, indent=1)
    return 1 if args.quick and broken(b) else 0


def broken(b: Bench) -> bool:
    """--quick (CI) fails when the benchmark itself does not work: fire or runc
    could not run the default bundle.  Times never fail it."""
    bad = False
    for measure in ("run /bin/true (default)", "engine total (default)"):
        for rt in ("fire", "runc"):
            s = b.results.get(measure, {}).get(rt)
            if s is None or s.problem or not s.values:
                print(f"bench: {rt}: {measure}: {s.problem if s else 'not measured'}",
                      file=sys.stderr)
                bad = True
    return bad


if __name__ == "__main__":
    sys.exit(main())
