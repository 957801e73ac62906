"""Hook policy of runtime-spec 1.3 (`config.md` POSIX hooks, `runtime.md` lifecycle).

Pure data and decisions, no I/O: which phases exist, where each runs, and what a
failure of each means.  Both hook runners (sync and trio) and the lifecycle machine
read this table, so the rules live in one place.

Where runc differs (kept here so nobody "fixes" it back): runc treats a failing
poststart hook as a warning (runc #5182) and a failing poststop hook as fatal to
``delete`` (runc #2905).  runtime-spec 1.3 says the opposite for both; we follow the
spec: poststart failure ⇒ the container is stopped and deleted; poststop failure ⇒
a warning, ``delete`` succeeds.
"""

from __future__ import annotations

# phase -> (config key, who runs it, namespace, fatal?)
RUNTIME = "runtime"  # fire's own process, in the runtime's namespaces
INIT = "init"  # the container's init, inside the container's namespaces

PHASES: dict[str, tuple[str, str, bool]] = {
    "prestart": ("prestart", RUNTIME, True),
    "createRuntime": ("create_runtime", RUNTIME, True),
    "createContainer": ("create_container", INIT, True),
    "startContainer": ("start_container", INIT, True),
    "poststart": ("poststart", RUNTIME, True),
    "poststop": ("poststop", RUNTIME, False),
}

# In spec order.
ORDER = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop")

# The container status a hook of each phase sees in its state JSON.
STATUS = {
    "prestart": "creating",
    "createRuntime": "creating",
    "createContainer": "creating",
    "startContainer": "created",
    "poststart": "running",
    "poststop": "stopped",
}


def is_fatal(phase: str) -> bool:
    """Does a failure of this phase fail the operation (stop + delete the container)?"""
    return PHASES[phase][2]


def attribute(phase: str) -> str:
    """The Hooks struct attribute holding this phase's hooks."""
    return PHASES[phase][0]


def describe(phase: str, index: int, path: str) -> str:
    return f"{phase} hook #{index} ({path})"
