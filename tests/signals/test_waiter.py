"""The foreground waiter when the container's process exits before the process that
forked it.

With a new pid namespace the first init forks the container's process and exits at
once; until that exit reaches the kernel, the container's process is the first
init's child, not ours.  Under load the container can exit first (a ``/bin/true``
run while the first init waits for a core): its zombie only becomes ours — Fire is
its subreaper — when the first init's exit re-parents it.  The waiter must wait for
that, not report an unknown status (255).  The process tree is built here with plain
forks, so the race is not left to the scheduler.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os, time
    from fire.container.foreground import SignalChannel, Waiter
    from fire.syscalls import proc as p
    p.prctl(p.PR_SET_CHILD_SUBREAPER, 1, what="prctl")
    channel = SignalChannel()
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:  # the first init: forks the container's process, exits late
        child = os.fork()
        if child == 0:
            os._exit(7)
        os.write(w, str(child).encode())
        time.sleep(0.5)
        os._exit(0)
    pid = int(os.read(r, 32))
    pidfd = os.pidfd_open(pid)
    print(Waiter(pid, pidfd, channel, None).wait())
""")


def test_a_process_that_exits_before_its_parent_is_waited_for() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=30, check=True)
    assert out.stdout.strip() == "7", out.stdout + out.stderr
