"""The ``fire`` command: runc's command line.

``main`` parses the global options, then imports only the module of the command
asked for (``fire.cli.<command>``): ``state`` never pays for msgspec, ``create``
never for rich, and nothing on the engine path imports trio, rich, textual,
pyroute2 or asyncio (a test checks it with ``python -X importtime``).

Exit codes: 0 on success, 1 on error (one line on stderr, and in ``--log`` as
runc writes it), and for ``run`` the container's own code.
"""

from __future__ import annotations

import gc
import os
import sys

from fire.cli.args import Opt, parse
from fire.errors import FireError, UsageError, describe
from fire.i18n import message
from fire.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from fire.cli.args import Parsed

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line description)
    "create": ("create", "create a container"),
    "start": ("start", "start the program of a created container"),
    "run": ("run", "create and start a container, and wait for it"),
    "state": ("state", "print the state of a container"),
    "kill": ("kill", "send a signal to a container's process"),
    "delete": ("delete", "delete a container"),
    "list": ("listing", "list containers"),
    "ps": ("ps", "list a container's processes (or, without an id, the containers)"),
    "exec": ("exec", "run a process in a running container"),
    "pause": ("pause", "pause all processes of a container"),
    "resume": ("pause", "resume a paused container"),
    "update": ("update", "change a running container's resource limits"),
    "checkpoint": ("checkpoint", "dump a running container's processes with CRIU"),
    "restore": ("restore", "make a container again from a CRIU checkpoint"),
    "events": ("events", "stats and OOM events of a container; --follow: supervisor events"),
    "spec": ("spec", "write a default config.json"),
    "features": ("features", "print the features Fire supports (JSON)"),
    "demo": ("demo", "build the default busybox bundle and run it"),
    "logs": ("logs", "print a supervised container's output"),
    "reload": ("reload", "make the root's fire-supervise read its file again (as SIGHUP)"),
    "top": ("top", "open the status view of containers and the supervisor"),
}

GLOBAL_OPTIONS = [
    Opt("--root", value=True, default=None,
        help="state directory (default /run/fire; $XDG_RUNTIME_DIR/fire for a non-root user)"),
    Opt("--log", value=True, default=None, help="log file (default: stderr)"),
    Opt("--log-format", value=True, default="text", help="text or json"),
    Opt("--debug", help="debug logging and error chains"),
    Opt("--systemd-cgroup", help="put containers in systemd scopes (cgroupsPath slice:prefix:name)"),
    Opt("--rootless", value=True, default="auto",
        help="true, false or auto: rootless cgroup handling (auto: not root or in a user "
             "namespace)"),
    Opt("--criu", value=True, default=None, help="the criu binary (checkpoint, restore)"),
    Opt("-v", "--version", help="print the version"),
    Opt("-h", "--help", help="show this help"),
]


class Context:
    """Global options, shared by every command."""

    def __init__(self, parsed: Parsed) -> None:
        from fire import rootless

        rootless.configure(parsed.text("rootless"))
        self.root = parsed.text("root") or os.environ.get("FIRE_ROOT") or rootless.default_root()
        self.debug = parsed.flag("debug")
        self.systemd_cgroup = parsed.flag("systemd_cgroup")
        self.criu = parsed.text("criu")

    def store(self) -> object:
        from fire.store import Store

        return Store(self.root)


def _split_globals(argv: list[str]) -> tuple[list[str], list[str]]:
    """Global options come before the command name."""
    takes_value = {n for o in GLOBAL_OPTIONS if o.value for n in o.names}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            break
        i += 1
        if arg in takes_value:
            i += 1
    return argv[:i], argv[i:]


def help_text() -> str:
    lines = ["usage: fire [global options] COMMAND [options] [arguments]", "",
             "Fire — an OCI container runtime (runc's command line) and supervisor.", "",
             "commands:"]
    lines += [f"  {name:<10} {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "global options:"]
    for o in GLOBAL_OPTIONS:
        names = ", ".join(o.names) + (" VALUE" if o.value else "")
        lines.append(f"  {names:<24} {o.help}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    # A command allocates mostly long-lived objects (modules, classes, msgspec's
    # types) and ends within milliseconds: young-generation collections during its
    # imports cost ~2.5 ms of `create`.  A high threshold keeps them rare without
    # turning the collector off for long-running commands (run, events --follow).
    gc.set_threshold(100_000, 20, 20)
    args = sys.argv[1:] if argv is None else argv
    head, rest = _split_globals(args)
    debug = "--debug" in head
    try:
        parsed = parse(head, GLOBAL_OPTIONS)
        fmt = parsed.text("log_format") or "text"
        if fmt not in ("text", "json"):
            raise UsageError("--log-format must be text or json, not {fmt!r}", fmt=fmt)
        log.configure(parsed.text("log"), fmt, parsed.flag("debug"))
        if parsed.flag("version"):
            from fire import SPEC_VERSION, __version__

            sys.stdout.write(f"fire version {__version__}\nspec: {SPEC_VERSION}\n")
            return 0
        if not rest:
            if parsed.flag("help"):
                sys.stdout.write(help_text() + "\n")
                return 0
            if sys.stdin.isatty() and sys.stdout.isatty():
                rest = ["top"]
            else:
                raise UsageError("no command given; see fire --help")
        command, cargs = rest[0], rest[1:]
        if command == "help":
            sys.stdout.write(help_text() + "\n")
            return 0
        if command not in COMMANDS:
            raise UsageError("unknown command {command!r}; see fire --help", command=command)
        ctx = Context(parsed)
        module = __import__(f"fire.cli.{COMMANDS[command][0]}", fromlist=["run"])
        code: int = module.run(ctx, command, cargs)
        log.finish()
        return code
    except FireError as exc:
        _debug_chain(exc, debug)
        log.finish(str(exc))
        return 1
    except KeyboardInterrupt:
        log.finish(message("interrupted"))
        return 130
    except (OSError, ValueError, RuntimeError) as exc:
        # Not expected: still one line, the chain with --debug.
        _debug_chain(exc, debug)
        log.finish(describe(exc))
        return 1


def leave(code: int) -> NoReturn:
    """End the process with ``code`` now, skipping the interpreter's finalisation.

    Tearing down ``create``'s ~150 modules (msgspec's types, the config model,
    ctypes) costs ≈8 ms after the container is already created, and 1-3 ms for the
    light commands: time an engine waits for, spent on nothing it can see.  A
    command has written everything it means to by now (its files through raw fds,
    the log through ``log.finish``, no threads left), so only Python's own
    stdout and stderr buffers need flushing; a reader that went away is ignored,
    as the interpreter's own exit would.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _debug_chain(exc: BaseException, debug: bool) -> None:
    if not debug:
        return
    import traceback

    sys.stderr.write("".join(traceback.format_exception(exc)))
