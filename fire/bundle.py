"""Building the default bundle: a busybox-static rootfs and a config.json.

Used by ``fire demo``, the tests and the benchmark, so that no registry is
needed: ``busybox-static`` (Debian) provides one static binary and every applet is
a symlink to it.
"""

from __future__ import annotations

import json
import os
import shutil

from fire.errors import FireError

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
DIRS = ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run", "usr/bin",
        "home")


def find_busybox() -> str:
    for path in BUSYBOX_CANDIDATES:
        if os.path.exists(path):
            return path
    raise FireError("busybox not found: install busybox-static (apt-get install busybox-static)")


def applets(busybox: str) -> list[str]:
    import subprocess

    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout
    return [a for a in out.split() if a and "/" not in a]


def make_rootfs(path: str) -> None:
    """A minimal rootfs: busybox, its applets as links, /etc/passwd and group."""
    busybox = find_busybox()
    for d in DIRS:
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    target = os.path.join(path, "bin", "busybox")
    if not os.path.exists(target):
        shutil.copy2(busybox, target)
    for applet in applets(busybox):
        link = os.path.join(path, "bin", applet)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:"
                      "/bin/false\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
        "etc/group": "root:x:0:\ntty:x:5:\nnogroup:x:65534:\nuser:x:1000:\n",
        "etc/hostname": "fire\n",
    }
    for rel, content in files.items():
        with open(os.path.join(path, rel), "w") as f:
            f.write(content)


def make_bundle(path: str, config: dict[str, object] | None = None) -> str:
    """A bundle directory with ``rootfs/`` and ``config.json``; returns its path."""
    from fire.spec.default import default_spec

    os.makedirs(path, exist_ok=True)
    make_rootfs(os.path.join(path, "rootfs"))
    cfg = config if config is not None else default_spec(
        args=["sh", "-c", "echo Hello from Fire! && uname -a && id && hostname"],
        terminal=False)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return path
