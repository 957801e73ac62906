"""The reaper: pidfd waits with exit statuses, and orphan reaping that leaves the
processes trio waits for alone.  Runs in a child interpreter, which becomes the
child subreaper (pytest itself must not)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO

SCRIPT = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    import trio
    from fire.supervisor.reaper import Reaper, become_subreaper, open_pidfd
    from fire import procfs

    become_subreaper()
    reaper = Reaper()
    out = {}

    # An orphan: a child forks a grandchild and exits; the grandchild is re-parented
    # to us and exits.  An owned child (as trio's would be) also exits.
    orphan_parent = subprocess.Popen(["sh", "-c", "sh -c 'sleep 0.2; exit 5' & exit 0"])
    orphan_parent.wait()
    owned = subprocess.Popen(["sh", "-c", "exit 7"])
    reaper.owned.add(owned.pid)
    time.sleep(0.6)
    with reaper.hold():
        out["held"] = reaper.reap_orphans()
    out["deferred_then"] = [(pid, s.code) for pid, s in reaper.reaped]
    out["owned_status"] = owned.wait()  # still ours to collect

    async def main():
        child = subprocess.Popen(["sh", "-c", "exit 3"])
        fd = open_pidfd(child.pid, int(procfs.stat_fields(child.pid)[19]))
        out["exit3"] = repr(await reaper.wait(fd, child.pid))
        os.close(fd)
        child.returncode = 0  # reaped by the reaper: tell Popen not to wait
        killed = subprocess.Popen(["sleep", "100"])
        fd = os.pidfd_open(killed.pid)
        killed.kill()
        out["killed"] = repr(await reaper.wait(fd, killed.pid))
        killed.returncode = 0
        # Not our child: its parent (sh) waits for it.
        parent = subprocess.Popen(["sh", "-c", "sleep 100 & echo $!; wait"], stdout=subprocess.PIPE)
        grandchild = int(parent.stdout.readline())
        fd = os.pidfd_open(grandchild)
        os.kill(grandchild, signal.SIGTERM)
        out["foreign"] = repr(await reaper.wait(fd, grandchild))
        parent.wait()
        parent.stdout.close()
        out["stale"] = open_pidfd(grandchild, 12345)

    trio.run(main)
    print(out)
""")


def test_reaper() -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    out = ast.literal_eval(r.stdout)
    assert out["held"] == [], "nothing is reaped while a spawn holds it off"
    assert [code for _pid, code in out["deferred_then"]] == [5], "…then the orphan is"
    assert out["owned_status"] == 7, "the owned child's status was left for its waiter"
    assert out["exit3"] == "ExitStatus(code=3, signal=None)"
    assert out["killed"] == "ExitStatus(code=137, signal=9)"
    assert out["foreign"] == "ExitStatus(code=None, signal=None)", "not our child: unknown"
    assert out["stale"] is None, "a pid whose start time differs is not opened"
