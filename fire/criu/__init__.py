"""Checkpoint and restore through CRIU (``fire checkpoint``, ``fire restore``).

``rpc`` speaks CRIU's RPC protocol (``criu swrk``); ``request`` turns a container's
configuration into CRIU's options (pure).  Nothing here is imported on the engine
path: only the two commands load it.
"""

from __future__ import annotations

# 3.14: the cgroup v2 freezer; 3.15: external pid namespaces (what runc checks for).
MIN_VERSION = 31500
# What `fire checkpoint` and `fire restore` accept (docs/engines.md), for `fire features`.
SUPPORTED = ("image-path", "work-path", "parent-path", "leave-running", "pre-dump",
             "tcp-established", "ext-unix-sk", "shell-job", "file-locks",
             "manage-cgroups-mode", "empty-ns", "auto-dedup", "console-socket", "pid-file",
             "detach", "bundle", "lsm-profile", "lsm-mount-context")


def features() -> dict[str, str]:
    """Annotations of the features document: runc's checkpoint flag, and Fire's own
    details (no CRIU process is started: ``features`` stays instant)."""
    import shutil

    return {"org.opencontainers.runc.checkpoint.enabled": "true",
            "run.fire.checkpoint.criu": ("rpc (criu swrk), CRIU >= 3.15"
                                         + ("" if shutil.which("criu", path=_PATH)
                                            else "; criu is not installed")),
            "run.fire.checkpoint.flags": ",".join(SUPPORTED)}


_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
