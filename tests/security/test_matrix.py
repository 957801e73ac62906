"""The attack matrix of issue 3: one test per case, on the real kernel, as root.

Threat model (crun's): config.json is trusted but may be wrong (clear errors); the
rootfs and everything running in the container are hostile (the host must stay
untouched).  "Nothing left" means: no state directory, no mount, no cgroup, no
process, no new fd.

Cases that exercise a cgroup controller (devices/memory/pids) first check on the
live container that the limit is applied: a limit not applied fails the case.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from fire.lifecycle.stages import CREATE
from fire.procfs import start_time
from fire.store import check_id
from tests.conftest import REPO, cgroup_dirs_of
from tests.security.helpers import caps_of, sha256, tree_hashes

if TYPE_CHECKING:

    from tests.conftest import Bundle, Fire, Result

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


# ----------------------------------------------------------------------------- helpers


def own_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def assert_nothing_left(fire: Fire, cid: str) -> None:
    """No state directory, no cgroup (mounts and processes: the no_leaks fixture)."""
    assert not (fire.root / cid).exists(), "state directory left"
    assert cgroup_dirs_of(cid) == [], "cgroup left"


def one_line_error(r: Result) -> str:
    assert r.code == 1, r
    assert "Traceback" not in r.err, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    return lines[0]


def run(fire: Fire, bundle: Bundle, *argv: str, **kw: Any) -> Result:
    bundle.args(*argv).write()
    return fire("run", "-b", str(bundle.path), fire.unique_id(), **kw)


def host_canary(tmp_path: Path, name: str = "CANARY") -> Path:
    """A host directory a hostile rootfs points at; its content must not change."""
    canary = tmp_path / name
    canary.mkdir()
    (canary / "keep").write_text("host data\n")
    return canary


def snapshot(path: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        out[str(p)] = (st.st_mode, st.st_size)
    return out


def mountinfo() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


# ----------------------------------------------------------------------------- 1-7


def test_case_01_malformed_or_wrong_typed_config(fire: Fire, bundle: Bundle) -> None:
    good = json.dumps(bundle.config)
    cases = {
        "{ bad": "malformed JSON",
        "[]": "expected `object`",
        good.replace('"uid": 0', '"uid": "0"'): "$.process.user.uid",
        good.replace('"uid": 0', '"uid": true'): "$.process.user.uid",
        good.replace('"uid": 0', '"uid": NaN'): "malformed JSON",
        good.replace('"uid": 0', '"uid": ' + "9" * 5000): "$.process.user.uid",
        good[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}": "nested too deeply",
        good[: len(good) // 2]: "input ends early",
    }
    fds = own_fds()
    for text, words in cases.items():
        (bundle.path / "config.json").write_text(text)
        cid = fire.unique_id()
        line = one_line_error(fire("create", "-b", str(bundle.path), cid))
        assert "config.json" in line
        assert words.replace("`", "") in line.replace("`", ""), (text[:40], line)
        assert_nothing_left(fire, cid)
    assert own_fds() == fds


def test_case_02_unknown_fields_at_every_level_are_accepted(fire: Fire, bundle: Bundle) -> None:
    c = bundle.config
    for obj in (c, c["process"], c["process"]["user"], c["process"]["capabilities"],
                c["process"]["rlimits"][0], c["root"], c["mounts"][0], c["linux"],
                c["linux"]["namespaces"][0], c["linux"]["resources"],
                c["linux"]["resources"]["devices"][0]):
        obj["fireTestUnknown"] = {"nested": [1, "two", None]}
    c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "fireTestUnknown": 1,
                             "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ALLOW",
                                           "fireTestUnknown": True}]}
    c["hooks"] = {"fireTestUnknown": [], "prestart": [{"path": "/bin/true", "x": 1}]}
    r = run(fire, bundle, "echo", "ok")
    assert (r.code, r.out) == (0, "ok\n"), r


def test_case_03_a_100_mib_config_is_refused_quickly(fire: Fire, bundle: Bundle) -> None:
    path = bundle.path / "config.json"
    with open(path, "w") as f:
        f.write('{"ociVersion": "1.0.0", "padding": "')
        chunk = "x" * (1 << 20)
        for _ in range(100):
            f.write(chunk)
        f.write('"}')
    cid = fire.unique_id()
    probe = ("import resource, subprocess, sys, time; t = time.monotonic(); "
             "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(r.returncode, time.monotonic() - t, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "print(r.stderr, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", probe, *fire.argv, "--root", str(fire.root),
                           "create", "-b", str(bundle.path), cid], capture_output=True,
                          text=True, env=fire.env(), timeout=60)
    code, seconds, max_rss_kib = proc.stdout.split()
    assert code == "1"
    assert "the limit is" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert float(seconds) < 10, "refused quickly (generous margin on a shared machine)"
    assert int(max_rss_kib) < 80 * 1024, "the 100 MiB file was not read into memory"
    assert_nothing_left(fire, cid)


def test_case_04_invalid_ids(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.write()
    before = sorted(os.listdir(tmp_path))
    for bad in ["", ".", "..", "a/b", "../x", "a b", " lead", "x\x01", "../../etc/passwd"]:
        r = fire("create", "-b", str(bundle.path), bad)
        line = one_line_error(r)
        assert "invalid container id" in line or "container id is required" in line, line
    # NUL cannot travel in argv; the check itself refuses it.
    with pytest.raises(Exception, match="invalid container id"):
        check_id("x\x00y")
    assert sorted(os.listdir(tmp_path)) == before or set(os.listdir(tmp_path)) - set(before) \
        == {"root"}, "nothing written outside --root"
    assert not (tmp_path / "x").exists()
    if fire.root.exists():
        assert os.listdir(fire.root) == []


def test_case_05_parallel_creates_of_one_id(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    with contextlib.ExitStack() as stack:
        outs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in range(20)]
        procs = [fire.popen("create", "-b", str(bundle.path), cid, stdout=out, stderr=out)
                 for out in outs]
        codes = [p.wait(timeout=120) for p in procs]
        texts = []
        for out in outs:
            out.seek(0)
            texts.append(out.read())
    assert codes.count(0) == 1, list(zip(codes, texts, strict=True))
    for code, text in zip(codes, texts, strict=True):
        if code:
            assert "container with id exists" in text, text
    st = fire.state(cid)
    assert st["status"] == "created"
    assert fire("start", cid).code == 0
    assert fire.state(cid)["status"] == "running", "the winner is unharmed"
    assert fire("kill", cid, "KILL").code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert fire("delete", cid).code == 0


def test_case_06_bad_signal_and_bad_namespaces(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    line = one_line_error(fire("kill", cid, "FOO"))
    assert "FOO" in line
    assert fire.state(cid)["status"] == "created", "the container is unaffected"
    assert fire("delete", cid).code == 0

    for namespaces, where in (
            ([{"type": "foo"}], "$.linux.namespaces[0].type"),
            ([{"type": "mount"}, {"type": "pid"}, {"type": "pid"}], "$.linux.namespaces[2].type")):
        bundle.config["linux"]["namespaces"] = namespaces
        bundle.write()
        other = fire.unique_id()
        line = one_line_error(fire("create", "-b", str(bundle.path), other))
        assert where in line, line
        assert_nothing_left(fire, other)


def _cgroup_file(cid: str, controller: str, name: str) -> str | None:
    for d in cgroup_dirs_of(cid):
        if f"/{controller}/" in d + "/" or d.startswith(f"/sys/fs/cgroup/{controller}"):
            path = os.path.join(d, name)
            if os.path.exists(path):
                with open(path) as f:
                    return f.read().strip()
    return None


def test_case_07_bad_resources_are_refused_before_any_cgroup(fire: Fire, bundle: Bundle) -> None:
    for resources, where in (
            ({"memory": {"limit": -2}}, "$.linux.resources.memory.limit"),
            ({"memory": {"limit": 2**64}}, "$.linux.resources.memory.limit"),
            ({"cpu": {"period": 0}}, "$.linux.resources.cpu.period"),
            ({"unified": {"../x": "1"}}, "$.linux.resources.unified"),
    ):
        bundle.config["linux"]["resources"] = resources
        bundle.write()
        cid = fire.unique_id()
        line = one_line_error(fire("create", "-b", str(bundle.path), cid))
        assert where in line, line
        assert_nothing_left(fire, cid)

    # pids -1 means unlimited ("max"), as the spec says.
    bundle.config["linux"]["resources"] = {"pids": {"limit": 10}}
    bundle.args("sleep", "100").write()
    probe = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), probe).code == 0
    applied = _cgroup_file(probe, "pids", "pids.max")
    assert fire("delete", "--force", probe).code == 0
    assert applied == "10", "linux.resources.pids is not applied"
    bundle.config["linux"]["resources"] = {"pids": {"limit": -1}}
    bundle.write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    assert _cgroup_file(cid, "pids", "pids.max") == "max"
    assert fire("delete", "--force", cid).code == 0


# ----------------------------------------------------------------------------- 8-9 hooks


def test_case_08_failing_or_missing_prestart_hooks(fire: Fire, bundle: Bundle) -> None:
    rootfs = bundle.own_rootfs()
    for hooks, words in (
            ([{"path": "/bin/true"}, {"path": "/bin/false"}], "prestart hook #1 (/bin/false)"),
            ([{"path": "/nonexistent/hook"}], "prestart hook #0 (/nonexistent/hook)"),
    ):
        bundle.config["hooks"] = {"prestart": hooks}
        bundle.args("touch", "/ran").write()
        cid = fire.unique_id()
        line = one_line_error(fire("run", "-b", str(bundle.path), cid))
        assert words in line, line
        assert not (rootfs / "ran").exists(), "the process never ran"
        assert_nothing_left(fire, cid)


def test_case_09_a_hook_past_its_timeout_is_killed_with_its_children(
        fire: Fire, bundle: Bundle) -> None:
    marker = f"1000.{uuid.uuid4().int % 10**6}"
    bundle.config["hooks"] = {"prestart": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"sleep {marker} & sleep {marker}"],
         "timeout": 1}]}
    bundle.args("true").write()
    cid = fire.unique_id()
    t = time.monotonic()
    line = one_line_error(fire("create", "-b", str(bundle.path), cid))
    elapsed = time.monotonic() - t
    assert "ran past its timeout" in line, line
    assert elapsed < 8, f"~3 s expected (generous margin on a shared machine): {elapsed:.1f}"
    left = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "the background sleep is killed too"
    assert_nothing_left(fire, cid)


# ----------------------------------------------------------------------------- 10-14 paths


def test_case_10_mount_destinations_through_symlinks_stay_inside(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    canary = host_canary(tmp_path)
    before = snapshot(canary)
    rootfs = bundle.own_rootfs()
    os.symlink(str(canary), rootfs / "mnt")  # absolute, pointing at the host
    os.symlink("../../../../../../../.." + str(canary), rootfs / "up")  # a ../ chain
    (rootfs / "deep/a").mkdir(parents=True)
    os.symlink("../../../..", rootfs / "deep/a/b")
    bundle.config["mounts"] += [
        {"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/up/sub", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/deep/a/b/c", "type": "bind", "source": str(bundle.path),
         "options": ["rbind", "ro"]},
    ]
    r = run(fire, bundle, "sh", "-c", "touch /mnt/x /up/sub/y && echo wrote")
    assert (r.code, r.out) == (0, "wrote\n"), r
    assert snapshot(canary) == before, "the host directory is unchanged"
    assert str(canary) not in mountinfo(), "nothing mounted on the host"
    # The symlinks were followed inside the rootfs.
    assert (rootfs / str(canary).lstrip("/")).is_dir()
    assert (rootfs / "c").is_dir()

    bundle.config["mounts"].append({"destination": "/", "type": "tmpfs", "source": "tmpfs"})
    r = run(fire, bundle, "sh", "-c", "ls /")
    assert r.code in (0, 1), r
    assert snapshot(canary) == before
    assert str(rootfs) not in mountinfo(), "nothing mounted on the host"


def test_case_11_proc_must_be_a_real_proc_on_a_real_directory(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    canary = host_canary(tmp_path)
    rootfs = bundle.own_rootfs()
    (rootfs / "proc").rmdir()
    os.symlink(str(canary), rootfs / "proc")
    bundle.write()
    cid = fire.unique_id()
    line = one_line_error(fire("create", "-b", str(bundle.path), cid))
    assert "/proc" in line
    assert "must be mounted on an ordinary directory" in line
    assert_nothing_left(fire, cid)
    assert os.listdir(canary) == ["keep"]

    os.unlink(rootfs / "proc")
    (rootfs / "proc").mkdir()
    bundle.config["mounts"][0] = {"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}
    bundle.write()
    cid = fire.unique_id()
    line = one_line_error(fire("create", "-b", str(bundle.path), cid))
    assert "not of type proc" in line
    assert_nothing_left(fire, cid)


def test_case_12_dev_symlinked_to_a_host_directory(fire: Fire, bundle: Bundle,
                                                   tmp_path: Path) -> None:
    canary = host_canary(tmp_path)
    before = snapshot(canary)
    rootfs = bundle.own_rootfs()
    (rootfs / "dev").rmdir()
    os.symlink(str(canary), rootfs / "dev")
    r = run(fire, bundle, "true")  # /dev as a tmpfs (runc spec's default)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if not m["destination"].startswith("/dev")]
    r2 = run(fire, bundle, "true")  # no /dev mount: the nodes are made in rootfs/dev
    for result in (r, r2):
        assert "Traceback" not in result.err
    assert snapshot(canary) == before, "the host directory is unchanged"
    assert str(canary) not in mountinfo()


def test_case_13_dev_null_symlinked_to_core_pattern(fire: Fire, bundle: Bundle,
                                                    tmp_path: Path) -> None:
    with open("/proc/sys/kernel/core_pattern") as f:
        core_pattern = f.read()
    rootfs = bundle.own_rootfs()
    (rootfs / "dev/null").unlink(missing_ok=True)
    os.symlink("/proc/sys/kernel/core_pattern", rootfs / "dev/null")
    (rootfs / "etc/secret").write_text("secret\n")
    bundle.config["linux"]["maskedPaths"] = ["/etc/secret", "/proc/kcore"]
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if not m["destination"].startswith("/dev")]
    # Fire makes its own /dev/null (a real node replaces the link) and masks with it.
    r = run(fire, bundle, "sh", "-c", "ls -l /dev/null; cat /etc/secret; echo end")
    assert r.code == 0, r
    assert r.out.startswith("c"), r.out
    assert "1,   3" in r.out, r.out
    assert "secret" not in r.out
    # /dev bind-mounted from a directory where null is that link: no device is made,
    # the mask needs a verified null device, and there is none: create fails.
    devdir = tmp_path / "devdir"
    devdir.mkdir()
    os.symlink("/proc/sys/kernel/core_pattern", devdir / "null")
    bundle.config["mounts"].append({"destination": "/dev", "type": "bind",
                                    "source": str(devdir), "options": ["rbind"]})
    bundle.write()
    cid = fire.unique_id()
    line = one_line_error(fire("create", "-b", str(bundle.path), cid))
    assert "/dev/null" in line
    assert_nothing_left(fire, cid)
    with open("/proc/sys/kernel/core_pattern") as f:
        assert f.read() == core_pattern, "the host's core_pattern is unchanged"


def test_case_14_sysctls_redirected_or_not_namespaced(fire: Fire, bundle: Bundle) -> None:
    watched = {p: Path(p).read_text() for p in ("/proc/sys/kernel/core_pattern",
                                                  "/proc/sys/kernel/hostname")}
    for key, value in (
            ("kernel.core_pattern", "|/tmp/evil %p"),  # not namespaced
            ("net.ipv4/../../../sysrq-trigger", "h"),  # a path that leaves /proc/sys
            ("net./../../../kernel/core_pattern", "|/tmp/evil"),
            ("kernel.hostname/../core_pattern", "|/tmp/evil"),
    ):
        bundle.config["linux"]["sysctl"] = {key: value}
        bundle.write()
        cid = fire.unique_id()
        line = one_line_error(fire("create", "-b", str(bundle.path), cid))
        assert "sysctl" in line or "/proc/sys" in line, line
        assert_nothing_left(fire, cid)
    for path, content in watched.items():
        assert Path(path).read_text() == content, f"{path} unchanged"
    # A namespaced one still works, in the container only (/proc/sys left writable
    # here: the order of sysctls and readonlyPaths is the core's business).
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    bundle.config["linux"]["readonlyPaths"] = []
    r = run(fire, bundle, "cat", "/proc/sys/net/ipv4/ip_forward")
    assert (r.code, r.out) == (0, "1\n"), r


# ----------------------------------------------------------------------------- 15-18 the runtime


def test_case_15_cwd_through_proc_self_fd_never_reaches_the_host(
        fire: Fire, bundle: Bundle) -> None:
    host_markers = {str(REPO), str(fire.root), "/sys/fs/cgroup", "(unreachable)"}
    for n in range(3, 21):
        bundle.process["cwd"] = f"/proc/self/fd/{n}"
        r = run(fire, bundle, "sh", "-c", "pwd; ls -a")
        if r.code == 0:  # allowed only if it is a directory of the container's own
            assert not any(m in r.out for m in host_markers), (n, r.out)
            assert r.out.startswith("/"), (n, r.out)
        else:
            assert "Traceback" not in r.err
    for cwd in ("/proc/1/cwd", "/proc/self/root/..", "/proc/thread-self/cwd/.."):
        bundle.process["cwd"] = cwd
        r = run(fire, bundle, "pwd")
        assert r.code != 0 or not any(m in r.out for m in host_markers), (cwd, r)


def _copy_interpreter_into(rootfs: Path) -> list[str]:
    """The host interpreter's loader, libraries and encodings, at the same paths in
    the rootfs: what a hostile image needs for ``#!/proc/self/exe`` to really run
    the host's interpreter inside the container.  Returns the host files copied."""
    import sysconfig

    exe = os.path.realpath(sys.executable)
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in ldd.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) > 2 and parts[2].startswith("/"):
            libs.append(parts[2])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    for lib in libs:
        dest = rootfs / lib.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(lib), dest)
    stdlib = sysconfig.get_paths()["stdlib"]
    shutil.copytree(f"{stdlib}/encodings", rootfs / stdlib.lstrip("/") / "encodings",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return [os.path.realpath(lib) for lib in libs]


ATTACK = """#!/proc/self/exe -S
import os, time
writer = os.fork()
if writer == 0:
    os.execv("/writer", ["/writer"])
print("interpreter", os.readlink("/proc/self/exe"), flush=True)
time.sleep(0.5)  # the writer sees this process run the interpreter
keep = os.open("/proc/self/exe", os.O_PATH)
os.set_inheritable(keep, True)
try:
    os.close(os.open("/proc/self/exe", os.O_WRONLY | os.O_APPEND))
    print("SELF-WRITABLE", flush=True)
except OSError as exc:
    print("self refused:", exc.strerror, flush=True)
# CVE-2019-5736: once this image no longer runs the interpreter, reopen it for writing.
os.execv("/bin/sh", ["sh", "-c", "sleep 0.3; if true >> /proc/self/fd/%d; then "
         "echo REOPEN-WRITABLE; else echo reopen refused; fi; touch /tmp/stop; "
         "while [ ! -e /tmp/writer-done ]; do sleep 0.1; done" % keep])
"""

WRITER = """#!/bin/sh
# Zero-byte appends: opening is the whole attack, and writes nothing even if it works.
while [ ! -e /tmp/stop ]; do
  for f in /proc/[0-9]*/exe /proc/[0-9]*/map_files/* /proc/[0-9]*/fd/*; do
    case "$(readlink "$f" 2>/dev/null)" in
      *python*|*libpython*|*fire*)
        [ -e /tmp/saw ] || { echo "saw $(readlink "$f")"; touch /tmp/saw; }
        if true >> "$f" 2>/dev/null; then echo "WROTE $f"; fi ;;
    esac
  done
done
echo writer done
touch /tmp/writer-done
"""


def test_case_16_proc_self_exe_entrypoint_cannot_touch_the_host_runtime(
        fire: Fire, bundle: Bundle) -> None:
    """The host's interpreter, libpython and Fire's files keep their hashes after a
    container runs the host interpreter through ``#!/proc/self/exe`` and tries to
    open it for writing, directly and through an O_PATH fd after exec (the
    CVE-2019-5736 technique), while a writer loops on /proc/*/exe, map_files and fd.
    The container gets CAP_SYS_PTRACE and CAP_DAC_OVERRIDE: non-dumpability is not
    what protects the files here, the sealed interpreter is."""
    rootfs = bundle.own_rootfs()
    libs = _copy_interpreter_into(rootfs)
    (rootfs / "entry").write_text(ATTACK)
    (rootfs / "writer").write_text(WRITER)
    os.chmod(rootfs / "entry", 0o755)
    os.chmod(rootfs / "writer", 0o755)
    watched = [os.path.realpath(sys.executable), *libs]
    before = {p: sha256(p) for p in watched}
    fire_before = tree_hashes(str(REPO / "fire"))
    caps = ["CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER", "CAP_KILL"]
    bundle.process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    r = run(fire, bundle, "/entry")  # the kernel resolves /proc/self/exe in the init
    assert "interpreter" in r.out, f"the attack did not run the interpreter: {r}"
    assert "self refused: Read-only file system" in r.out, r
    assert "reopen refused" in r.out, r
    assert "saw /python" in r.out, f"the writer never saw the interpreter running: {r}"
    assert "writer done" in r.out, r
    for bad in ("SELF-WRITABLE", "REOPEN-WRITABLE", "WROTE"):
        assert bad not in r.out, r.out
    assert {p: sha256(p) for p in watched} == before
    assert tree_hashes(str(REPO / "fire")) == fire_before


def test_case_17_no_code_from_the_rootfs_runs_in_fire(fire: Fire, bundle: Bundle,
                                                      tmp_path: Path) -> None:
    """Modules at the init's import paths *inside* the rootfs, NSS modules, an
    nsswitch.conf that loads them, and PYTHON*/LD_* in process.env: none of it may
    run in Fire (each would leave a /PWNED-* file in the rootfs)."""
    import sysconfig

    rootfs = bundle.own_rootfs()
    payload = "open('/PWNED-{name}', 'w').close()\n"
    paths = sysconfig.get_paths()
    for directory in {paths["stdlib"], paths["platstdlib"], str(REPO), str(REPO / "fire"),
                      str(REPO / "fire" / "init")}:
        target = rootfs / directory.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        for name in ("json", "subprocess", "locale", "signal", "socket", "pwd", "grp",
                     "traceback", "linecache", "warnings", "gettext", "sitecustomize",
                     "usercustomize", "ctypes", "errno", "select", "fcntl", "struct",
                     "codecs", "io", "os", "posixpath", "stat", "typing", "abc"):
            (target / f"{name}.py").write_text(payload.format(name=name))
    enc = rootfs / paths["stdlib"].lstrip("/") / "encodings"
    enc.mkdir(parents=True, exist_ok=True)
    for name in ("__init__", "idna", "utf_8", "ascii", "latin_1", "aliases"):
        (enc / f"{name}.py").write_text(payload.format(name=f"encodings.{name}"))
    src = tmp_path / "nss.c"
    src.write_text('#include <fcntl.h>\n#include <unistd.h>\n'
                   '__attribute__((constructor)) static void pwn(void) {'
                   ' close(open("/PWNED-nss", O_CREAT | O_WRONLY, 0644)); }\n')
    lib = rootfs / "lib" / "x86_64-linux-gnu"
    lib.mkdir(parents=True, exist_ok=True)
    built = subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib / "libnss_evil.so.2"),
                            str(src)], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"no C compiler to build the hostile NSS module: {built.stderr[:200]}")
    for name in ("libnss_files.so.2", "libnss_compat.so.2", "libnss_dns.so.2"):
        shutil.copy(lib / "libnss_evil.so.2", lib / name)
    (rootfs / "etc/nsswitch.conf").write_text("passwd: evil files\ngroup: evil files\n"
                                              "hosts: evil files\n")
    env = ["PATH=/bin:/sbin", "HOME=/home/user", "PYTHONPATH=/evil",
           "LD_PRELOAD=/lib/x86_64-linux-gnu/libnss_evil.so.2", "PYTHONSTARTUP=/evil.py",
           "PYTHONHOME=/evil", "LD_LIBRARY_PATH=/lib/x86_64-linux-gnu"]
    bundle.process["env"] = env
    bundle.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5]}
    bundle.process["terminal"] = False
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/true"}],
                              "createContainer": [{"path": "/bin/true"}]}
    r = run(fire, bundle, "env", env={"LD_PRELOAD": "", "PYTHONWARNINGS": "default",
                                      "FIRE_CALLER_SECRET": "1"})
    assert r.code == 0, r
    assert sorted(r.out.splitlines()) == sorted(env), "the env inside is exactly process.env"
    # An error after pivot_root (the program is missing) takes the error paths too.
    r = run(fire, bundle, "/no/such/program")
    assert r.code == 1
    assert "Traceback" not in r.err
    pwned = sorted(p.name for p in rootfs.iterdir() if p.name.startswith("PWNED"))
    assert pwned == [], f"code from the rootfs ran in Fire: {pwned}"


def test_case_18_only_stdio_and_preserved_fds_reach_the_container(
        fire: Fire, bundle: Bundle) -> None:
    r = run(fire, bundle, "ls", "/proc/self/fd")
    assert r.out.split() == ["0", "1", "2", "3"], r  # 3: ls's own directory fd
    # --preserve-fds N passes the caller's fds 3..3+N-1: the caller puts a pipe there.
    script = ("import os, subprocess, sys; r, w = os.pipe(); os.dup2(r, 3); os.dup2(w, 4); "
              "sys.exit(subprocess.run(sys.argv[1:], pass_fds=(3, 4)).returncode)")
    bundle.args("ls", "/proc/self/fd").write()
    out = subprocess.run([sys.executable, "-c", script, *fire.argv, "--root", str(fire.root),
                          "run", "--preserve-fds", "2", "-b", str(bundle.path),
                          fire.unique_id()], capture_output=True, text=True, env=fire.env(),
                         timeout=60)
    assert out.stdout.split() == ["0", "1", "2", "3", "4", "5"], out

    # Fire's own fds: twenty create/start/delete cycles through the library, in one
    # process, leave its fd table as it was.
    bundle.args("true").write()
    cycle = f"""
import os, sys
sys.path.insert(0, {str(REPO)!r})
from fire.container.create import Options, create
from fire.container.delete import delete
from fire.container.start import start
from fire.store import Store
store = Store({str(fire.root)!r})
def fds():
    return sorted(os.listdir("/proc/self/fd"))
counts = []
for i in range(21):
    cid = "fdcycle-%d-%d" % (os.getpid(), i)
    created = create(store, cid, Options(bundle={str(bundle.path)!r}))
    created.cdir.close()
    start(store, cid)
    delete(store, cid, force=True)
    counts.append(len(fds()))
print(counts)
"""
    out = subprocess.run([sys.executable, "-c", cycle], capture_output=True, text=True,
                         env=fire.env(), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(set(counts[1:])) == 1, f"fd count grows: {counts}"


# ----------------------------------------------------------------------------- 19-22 limits


def test_case_19_capabilities_and_no_new_privs(fire: Fire, bundle: Bundle) -> None:
    bundle.process["capabilities"] = {k: ["CAP_NET_BIND_SERVICE"] for k in
                                      ("bounding", "effective", "permitted")}
    bundle.process["noNewPrivileges"] = True
    bundle.own_rootfs()
    r = run(fire, bundle, "sh", "-c", "cat /proc/self/status; chown 1:1 /etc/passwd")
    c = caps_of(r.out)
    assert c["CapEff"] == c["CapPrm"] == c["CapBnd"] == "0000000000000400", c
    assert c["CapInh"] == c["CapAmb"] == "0000000000000000", c
    assert c["NoNewPrivs"] == "1"
    assert r.code == 1
    assert os.strerror(errno.EPERM) in r.err, "chown fails with EPERM"


def test_case_20_seccomp_errno_and_kill(fire: Fire, bundle: Bundle) -> None:
    bundle.own_rootfs()
    for rule, expected in (
            ({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}, errno.EPERM),
            ({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 100}, 100)):
        bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                             "syscalls": [rule]}
        r = run(fire, bundle, "mkdir", "/tmp/d")
        assert r.code == 1
        assert os.strerror(expected) in r.err, r
        assert not (bundle.rootfs / "tmp/d").exists()
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getcwd"], "action": "SCMP_ACT_KILL"}]}
    assert run(fire, bundle, "pwd").code == 159


def _devices_applied(fire: Fire, bundle: Bundle) -> bool:
    """Is linux.resources.devices applied (a deny-all leaves no ``a *:* rwm``)?"""
    bundle.config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    try:
        listing = _cgroup_file(cid, "devices", "devices.list")
        if listing is not None:
            return "a *:* rwm" not in listing
        pid = fire.state(cid)["pid"]  # cgroup v2: a BPF program, not a file to read
        with open(f"/proc/{pid}/cgroup") as f:
            return "0::" in f.read() and _bpf_device_program_attached(cid)
    finally:
        fire("delete", "--force", cid)


def _bpf_device_program_attached(cid: str) -> bool:
    for d in cgroup_dirs_of(cid):
        r = subprocess.run(["bpftool", "cgroup", "list", d], capture_output=True, text=True)
        if "cgroup_device" in r.stdout or "device" in r.stdout:
            return True
    return False


def test_case_21_devices_cgroup(fire: Fire, bundle: Bundle) -> None:
    assert _devices_applied(fire, bundle), "linux.resources.devices is not applied"
    caps = ["CAP_MKNOD", "CAP_SYSLOG", "CAP_DAC_OVERRIDE", "CAP_CHOWN"]
    bundle.process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    script = ("mknod /dev/kmsg2 c 1 11; head -c 1 /dev/kmsg2 >/dev/null && echo KMSG-READ; "
              "echo x > /dev/null && echo NULL-OK")
    bundle.config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    r = run(fire, bundle, "sh", "-c", script)
    assert "KMSG-READ" not in r.out, r
    assert os.strerror(errno.EPERM) in r.err, r
    assert "NULL-OK" in r.out, "/dev/null always works"
    bundle.config["linux"]["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rwm"}]}
    r = run(fire, bundle, "sh", "-c", script)
    assert "KMSG-READ" in r.out, r
    assert "NULL-OK" in r.out


def _limit_applied(fire: Fire, bundle: Bundle, resources: dict[str, Any], controller: str,
                   name: str, expected: str) -> bool:
    bundle.config["linux"]["resources"] = resources
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    try:
        return _cgroup_file(cid, controller, name) == expected
    finally:
        fire("delete", "--force", cid)


def test_case_22_memory_and_pids_limits(fire: Fire, bundle: Bundle) -> None:
    mib32 = 32 * 1024 * 1024
    memory = {"memory": {"limit": mib32}}
    v1 = os.path.isdir("/sys/fs/cgroup/memory")
    applied = _limit_applied(fire, bundle, memory, "memory",
                             "memory.limit_in_bytes" if v1 else "memory.max", str(mib32))
    assert applied, "linux.resources.memory is not applied"
    bundle.config["linux"]["resources"] = memory
    hog = "x=a; while true; do x=$x$x$x$x; done"
    bundle.args("sh", "-c", hog).write()
    cid = fire.unique_id()
    r = fire("run", "--keep", "-b", str(bundle.path), cid, timeout=120)
    assert r.code == 137, r
    assert fire.state(cid)["status"] == "stopped"
    assert fire("delete", cid).code == 0

    bundle.config["linux"]["resources"] = {"pids": {"limit": 10}}
    # busybox sh exits when a fork fails: the bomb runs in a subshell, and the parent
    # uses builtins only until the sleeps are gone.
    bomb = ("(i=0; while [ $i -lt 40 ]; do sleep 3 & i=$((i+1)); done) 2>/tmp/forks; "
            "for f in /sys/fs/cgroup/pids/pids.current /sys/fs/cgroup/pids.current; do "
            "[ -e $f ] && P=$f; done; read cur < $P; echo current $cur; "
            "while read c < $P && [ $c -gt 1 ]; do :; done; "
            "echo failed $(grep -c fork /tmp/forks)")
    bundle.own_rootfs()
    r = run(fire, bundle, "sh", "-c", bomb, timeout=120)
    found = dict(line.split() for line in r.out.splitlines() if line.count(" ") == 1)
    assert int(found.get("failed", "0")) > 0, f"some forks failed: {r}"
    assert 0 < int(found.get("current", "0")) <= 10, r


# ----------------------------------------------------------------------------- 23-25 lifecycle


def test_case_23_a_crash_at_any_create_stage_is_cleaned_by_delete_force(
        fire: Fire, bundle: Bundle) -> None:
    bundle.config["hooks"] = {"createContainer": [{"path": "/bin/true"}]}  # reach every stage
    bundle.args("sleep", "100").write()
    for stage in [s.name for s in CREATE]:
        cid = fire.unique_id(stage.replace(":", "-"))
        r = fire("create", "-b", str(bundle.path), cid, env={"FIRE_TEST_CRASH_AT": stage})
        assert r.code == -9, (stage, r)
        pids: list[tuple[int, int]] = []
        state_file = fire.root / cid / "state.json"
        if state_file.exists():
            raw = json.loads(state_file.read_text())
            pids = [(raw.get("pid", 0), raw.get("pidStart", 0)),
                    (raw.get("initPid", 0), raw.get("initStart", 0))]
        d = fire("delete", "--force", cid)
        assert d.code == 0, (stage, d)
        assert_nothing_left(fire, cid)
        deadline = time.monotonic() + 10
        while any(pid and start_time(pid) == started for pid, started in pids):
            assert time.monotonic() < deadline, f"{stage}: a process of the container is left"
            time.sleep(0.05)


def test_case_24_corrupt_state_files(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    ids = sorted(fire.unique_id() for _ in range(3))
    for cid in ids:
        assert fire("create", "-b", str(bundle.path), cid).code == 0
    good, corrupt, truncated = ids
    # Kept to clean up after: with its state unreadable, `delete --force` cannot know the
    # container's processes and cgroup (it says so), so the test puts them back below.
    originals = {cid: (fire.root / cid / "state.json").read_bytes() for cid in ids}
    (fire.root / corrupt / "state.json").write_bytes(b"\x00garbage{")
    full = (fire.root / truncated / "state.json").read_bytes()
    (fire.root / truncated / "state.json").write_bytes(full[: len(full) // 2])
    for cid in (corrupt, truncated):
        line = one_line_error(fire("state", cid))
        assert cid in line, line
        assert "state file is unreadable" in line, line
        assert fire("kill", cid, "KILL").code == 1
    listing = fire("list", "--format", "json")
    assert listing.code == 0
    assert [row["id"] for row in listing.json()] == [good], "list shows the others"
    for cid in (corrupt, truncated):
        removed = fire("delete", "--force", cid)
        assert removed.code == 0
        assert not (fire.root / cid).exists()
        assert "could not be identified" in removed.err, removed
        (fire.root / cid).mkdir(mode=0o711)
        (fire.root / cid / "state.json").write_bytes(originals[cid])
        assert fire("delete", "--force", cid).code == 0

    # A reader never sees a partial state.json while it is rewritten.
    from fire.spec.state import State
    from fire.store import Store

    cdir = Store(str(fire.root)).open(good)
    stop = threading.Event()
    seen: list[str] = []

    def reader() -> None:
        path = fire.root / good / "state.json"
        while not stop.is_set():
            try:
                json.loads(path.read_bytes())
            except ValueError as exc:
                seen.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        state = cdir.read_state()
        for i in range(400):
            state.annotations = {"n": "x" * (i * 37 % 5000)}
            cdir.write_state(state)
        readers = [fire("state", good) for _ in range(5)]
    finally:
        stop.set()
        thread.join()
        cdir.close()
    assert seen == []
    assert all(r.code == 0 for r in readers)
    assert fire("delete", "--force", good).code == 0

    # A reused pid is never signalled: a state naming a live host process with another
    # start time.
    victim = subprocess.Popen(["sleep", "100"])
    try:
        cid = fire.unique_id()
        (fire.root / cid).mkdir(mode=0o711)
        fake = State(oci_version="1.3.0", id=cid, status="running", bundle=str(bundle.path),
                     pid=victim.pid, pidStart=(start_time(victim.pid) or 0) + 7,
                     initPid=victim.pid, initStart=1)
        (fire.root / cid / "state.json").write_bytes(fake.to_json())
        assert fire.state(cid)["status"] == "stopped"
        assert fire("kill", cid, "KILL").code == 1
        assert fire("kill", "--all", cid, "KILL").code in (0, 1)
        assert fire("delete", "--force", cid).code == 0
        time.sleep(0.2)
        assert victim.poll() is None, "the process that reused the pid was signalled"
    finally:
        victim.kill()
        victim.wait()


def test_case_25_exit_codes_and_signals(fire: Fire, bundle: Bundle) -> None:
    for code in (0, 1, 42, 255):
        assert run(fire, bundle, "sh", "-c", f"exit {code}").code == code

    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    with tempfile.TemporaryFile("w+") as out:
        proc = fire.popen("run", "-b", str(bundle.path), cid, stdout=out, stderr=out)
        wait_running(fire, cid)
        assert fire("kill", cid, "KILL").code == 0
        assert proc.wait(timeout=30) == 137

    no_pidns = [ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"]
    bundle.config["linux"]["namespaces"] = no_pidns
    assert run(fire, bundle, "sh", "-c", "kill -TERM $$").code == 143
    assert run(fire, bundle, "sh", "-c", "kill -SEGV $$").code == 139

    trap = ("for s in TERM HUP USR1; do trap \"echo got $s\" $s; done; echo ready; "
            "while [ ! -e /tmp/done ]; do sleep 0.1; done")
    bundle.own_rootfs()
    bundle.args("sh", "-c", trap).write()
    cid = fire.unique_id()
    with tempfile.TemporaryFile("w+") as out:
        proc = fire.popen("run", "-b", str(bundle.path), cid, stdout=out, stderr=out)
        deadline = time.monotonic() + 30
        while True:
            out.seek(0)
            if "ready" in out.read():
                break
            assert time.monotonic() < deadline, "the container never got ready"
            time.sleep(0.05)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
            proc.send_signal(sig)
            time.sleep(0.5)
        (bundle.rootfs / "tmp/done").touch()
        proc.wait(timeout=30)
        out.seek(0)
        text = out.read()
    for name in ("TERM", "HUP", "USR1"):
        assert f"got {name}" in text, text

    orphans = "for i in $(seq 100); do (sleep 0.2 &); done; sleep 2"
    bundle.args("sh", "-c", orphans).write()
    cid = fire.unique_id()
    with tempfile.TemporaryFile("w+") as out:
        proc = fire.popen("run", "-b", str(bundle.path), cid, stdout=out, stderr=out)
        time.sleep(1.5)
        zombies = [pid for pid in _children_of(proc.pid) if _state_of(pid) == "Z"]
        proc.wait(timeout=30)
    assert zombies == [], f"{len(zombies)} orphaned grandchildren left as zombies"


def wait_running(fire: Fire, cid: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        r = fire("state", cid)
        if r.code == 0 and r.json()["status"] == "running":
            return
        assert time.monotonic() < deadline, f"{cid} never ran: {r}"
        time.sleep(0.05)


def _children_of(pid: int) -> list[int]:
    from fire.procfs import children

    return children(pid)


def _state_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return ""
    return data[data.rindex(")") + 2:].split()[0]
