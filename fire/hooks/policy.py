"""Hook policy of runtime-spec 1.3 (`config.md` POSIX hooks, `runtime.md` lifecycle).

Pure data and decisions, no I/O: which phases exist, who runs each and in which
namespaces, what status and pid the hook is shown, what a failure means, and the
words every failure is reported in.  Both hook runners (``runner``: pidfd + poll,
``trio_runner``: trio) and the lifecycle machine read this module, so the rules and
the messages live in one place.

The lifecycle of ``runtime.md`` (1.3), and where each hook runs here:

====  ===============  ==========  ============  ==============================
step  phase            run by      namespaces    a failure
====  ===============  ==========  ============  ==============================
3     prestart         runtime     runtime's     error; stop, go to step 12
4     createRuntime    runtime     runtime's     error; stop, go to step 12
5     createContainer  init        container's   error; stop, go to step 12
7     startContainer   init        container's   error; stop, go to step 12
9     poststart        runtime     runtime's     error; stop, go to step 12
13    poststop         runtime     runtime's     a warning; the rest goes on
====  ===============  ==========  ============  ==============================

Step 12 destroys the container (undoes step 2) and step 13 runs the poststop hooks,
so every fatal failure above ends with the container gone *and* its poststop hooks
run.  Where runc differs (kept here so nobody "fixes" it back): after a failing
poststart hook runc runs no poststop hook (runc #5182), and since runc #2905 a
failing poststop hook makes ``delete`` fail.  runtime-spec 1.3 says otherwise for
both (steps 9 and 13); Fire follows the spec: poststart failure ⇒ stop, destroy,
poststop hooks; poststop failure ⇒ a warning, and ``delete`` succeeds.

Hook numbers in messages count from 0 within their phase, as runc's
("prestart hook #0 (/usr/bin/x) failed: exit status 1"), so logs of both runtimes
read alike.
"""

from __future__ import annotations

from fire.errors import HookError
from fire.i18n import N_, message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

RUNTIME = "runtime"  # fire's own process, in the runtime's namespaces
INIT = "init"  # the container's init, inside the container's namespaces

# phase -> (config attribute, who runs it, fatal?)
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

# The hooks that belong to the create operation (runtime.md steps 3-5).
CREATE_PHASES = ("prestart", "createRuntime", "createContainer")

# The container status a hook of each phase sees in its state JSON.  The create
# phase's hooks are lifecycle steps 3-5, and runtime.md defines ``created`` as
# "after step 2" (``creating`` is step 2 itself): so ``created``, as crun sends and
# runtime-tools' hooks_stdin checks (runc 1.1 sends ``creating``; docs/conformance.md).
STATUS = {
    "prestart": "created",
    "createRuntime": "created",
    "createContainer": "created",
    "startContainer": "created",
    "poststart": "running",
    "poststop": "stopped",
}

# Message templates (English; translated through the catalog like every FireError).
NOT_STARTED = N_("{name}: cannot run it: {reason}")
FAILED = N_("{name} failed: {reason}{tail}")
TIMED_OUT = N_("{name} ran past its timeout of {timeout}s")
KILLED_BY = N_("killed by signal {signal}")
EXIT_STATUS = N_("exit status {code}")
WARNING = N_("{error} (a poststop hook failure is only a warning; the container is deleted)")


def is_fatal(phase: str) -> bool:
    """Does a failure of this phase fail the operation (stop + delete the container)?"""
    return PHASES[phase][2]


def runs_in_init(phase: str) -> bool:
    return PHASES[phase][1] == INIT


def attribute(phase: str) -> str:
    """The Hooks struct attribute holding this phase's hooks."""
    return PHASES[phase][0]


def hook_name(phase: str, index: int, path: str) -> str:
    """How messages name a hook: ``createRuntime hook #1 (/usr/bin/netns)``."""
    return f"{phase} hook #{index} ({path})"


def describe(phase: str, index: int, path: str) -> str:
    return hook_name(phase, index, path)


def state(base: Mapping[str, object], phase: str, pid: int) -> dict[str, object]:
    """The state a hook of ``phase`` reads on its stdin.

    ``base`` holds the container's ociVersion, id, bundle and annotations; ``pid`` is
    the container process *as seen from the hook's own pid namespace* (the caller
    knows which namespace the hook runs in).  A stopped container has no process:
    the pid is left out, as runc leaves it out (the spec requires it only for
    ``created`` and ``running``).
    """
    out: dict[str, object] = {"ociVersion": base.get("ociVersion", ""), "id": base.get("id", ""),
                              "status": STATUS[phase]}
    if STATUS[phase] != "stopped" and pid > 0:
        out["pid"] = pid
    out["bundle"] = base.get("bundle", "")
    if base.get("annotations"):
        out["annotations"] = base["annotations"]
    return out


def seconds(timeout: float | None) -> str:
    """``1`` for 1.0, ``0.5`` for 0.5 (the spec's timeouts are whole seconds)."""
    if timeout is None:
        return "?"
    return str(int(timeout)) if float(timeout).is_integer() else str(timeout)


def exit_reason(code: int) -> str:
    """``exit status 3`` or ``killed by signal 9`` for an exit code (negative: signal)."""
    if code < 0:
        return message(KILLED_BY, signal=-code)
    return message(EXIT_STATUS, code=code)


def not_started(name: str, reason: str) -> HookError:
    return HookError(NOT_STARTED, name=name, reason=reason)


def timed_out(name: str, timeout: float | None) -> HookError:
    return HookError(TIMED_OUT, name=name, timeout=seconds(timeout))


def failed(name: str, code: int, output: str) -> HookError:
    """A hook that exited non-zero; the last line it printed says why, usually."""
    text = output.strip()
    tail = text.splitlines()[-1].strip() if text else ""
    return HookError(FAILED, name=name, reason=exit_reason(code), tail=f": {tail}" if tail else "")


def output_lines(name: str, output: str) -> list[str]:
    """What a hook printed, as log lines naming the hook."""
    return [f"{name}: {line}" for line in output.splitlines() if line.strip()]
