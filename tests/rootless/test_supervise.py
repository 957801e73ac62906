"""``fire-supervise`` run by an ordinary user: its socket, logs and containers under
the user's runtime directory (``$XDG_RUNTIME_DIR/fire``), rootless containers,
a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from fire.procfs import children
from tests.rootless.conftest import fire_only

if TYPE_CHECKING:
    from tests.rootless.conftest import Runtime, User, UserBundle

pytestmark = fire_only

FIRE_SUPERVISE = [sys.executable, "-c", "from fire.supervisor.cli import main; "
                  "raise SystemExit(main())"]


def test_supervise_as_a_user(runtime: Runtime, ubundle: UserBundle, user: User) -> None:
    ubundle.args("sh", "-c", "trap 'exit 0' TERM; echo hello; while :; do sleep 0.1; done")
    ubundle.write()
    conf = ubundle.path / "fire.toml"
    conf.write_text(f'[containers.web]\nbundle = "{ubundle.path}"\n')
    user.chown(ubundle.path)
    proc = subprocess.Popen(user.argv([*FIRE_SUPERVISE, "--config", str(conf)]),
                            cwd=ubundle.path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "web" in runtime("list", "-q").out.split() and \
                    runtime.state("web")["status"] == "running":
                break
            time.sleep(0.2)
        assert runtime.state("web")["status"] == "running"
        sock = runtime.root / "@supervisor.sock"
        st = sock.stat()
        assert stat.S_ISSOCK(st.st_mode)
        assert st.st_uid == user.uid
        deadline = time.monotonic() + 30
        logs = runtime("logs", "web")
        while "hello" not in logs.out and time.monotonic() < deadline:
            time.sleep(0.2)
            logs = runtime("logs", "web")
        assert "hello" in logs.out, logs
    finally:
        # to fire-supervise itself (runuser's child): runuser would end the session
        for pid in children(proc.pid):
            os.kill(pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "web: stopped: stopped on request" in err, err
    assert runtime.listed() == []
