"""Run as pid 1 of a private pid namespace (``unshare --pid --fork --mount-proc``):
make a container's pid come back as a stranger's, then point fire at it.

In a namespace of our own nobody else forks, so ``ns_last_pid`` makes the next
fork take exactly the number we want: a real pid reuse, not a simulated one.
Prints one JSON object with what happened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> None:
    root, bundle, cid = sys.argv[1:4]
    fire = [sys.executable, "-m", "fire", "--root", root]

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*fire, *args], capture_output=True, text=True, timeout=60)

    def reap() -> None:
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    return
            except ChildProcessError:
                return

    out: dict[str, object] = {}
    # The container keeps the runtime's stdout and stderr: not pipes we wait on.
    assert subprocess.run([*fire, "run", "-d", "-b", bundle, cid], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=60).returncode == 0
    pid = json.loads(call("state", cid).stdout)["pid"]
    out["pid"] = pid
    assert call("kill", cid, "KILL").returncode == 0
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        reap()  # we are pid 1: the container's process was re-parented to us
        time.sleep(0.01)
    stranger = None
    for _ in range(20):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        stranger = subprocess.Popen(["sleep", "1000"])
        if stranger.pid == pid:
            break
        stranger.kill()
        stranger.wait()
    assert stranger is not None
    out["reused"] = stranger.pid == pid
    for name, args in (("kill", ("kill", cid, "KILL")), ("kill_all", ("kill", "--all", cid, "KILL")),
                       ("delete", ("delete", cid))):
        r = call(*args)
        out[name] = [r.returncode, r.stderr.strip()]
        out[f"alive_after_{name}"] = stranger.poll() is None
    out["state_after"] = call("state", cid).returncode
    stranger.kill()
    stranger.wait()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
