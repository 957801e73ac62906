"""``fire-supervise [--root DIR] [--config fire.toml] [--metrics HOST:PORT] [BUNDLE…]``

Runs in the foreground until SIGTERM or SIGINT (then stops every container and
exits 0).  SIGHUP (or ``fire reload``) reloads the file, SIGUSR1 prints a status
table; ``--pid-file`` says where to send them (``pidof`` cannot: it is Python).  Errors in
the command line or the file: one line on stderr, exit 1, nothing started.
"""

from __future__ import annotations

import os
import sys

from fire.cli.args import Opt, parse, usage
from fire.errors import FireError, UsageError, describe

OPTIONS = [
    Opt("--root", value=True, default=None,
        help="state directory (default /run/fire; $XDG_RUNTIME_DIR/fire for a non-root user)",
        metavar="DIR"),
    Opt("-c", "--config", value=True, default=None, help="the TOML file of containers",
        metavar="FILE"),
    Opt("--metrics", value=True, default=None, help="serve Prometheus /metrics here",
        metavar="HOST:PORT"),
    Opt("--pid-file", value=True, default=None, help="write the supervisor's pid here "
        "(for kill -HUP; or: fire reload)", metavar="FILE"),
    Opt("--debug", help="log every stage, check and output line"),
    Opt("-v", "--version", help="print the version"),
    Opt("-h", "--help", help="show this help"),
]
# "0": the engine commands are new interpreters, not forked (fire.supervisor.forkserver).
FORK_SERVER_ENV = "FIRE_SUPERVISE_FORK_SERVER"
SYNOPSIS = ("[--root DIR] [--config fire.toml] [--metrics HOST:PORT] [--pid-file FILE] "
            "[BUNDLE…]")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        parsed = parse(args, OPTIONS)
        if parsed.flag("help"):
            lines = usage("", SYNOPSIS, OPTIONS).splitlines()[1:]
            sys.stdout.write("\n".join([f"usage: fire-supervise {SYNOPSIS}", *lines]) + "\n")
            return 0
        if parsed.flag("version"):
            from fire import __version__

            sys.stdout.write(f"fire-supervise version {__version__}\n")
            return 0
        from fire.rootless import default_root

        return _run(parsed.text("root") or os.environ.get("FIRE_ROOT") or default_root(),
                    parsed.text("config"), parsed.text("metrics"), parsed.args, debug,
                    parsed.text("pid_file"))
    except FireError as exc:
        _fail(str(exc), exc, debug)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        _fail(describe(exc), exc, debug)
        return 1


def _run(root: str, config_path: str | None, metrics: str | None, bundles: list[str],
         debug: bool, pid_file: str | None = None) -> int:
    from fire.supervisor import config as cfg

    if config_path is None and not bundles:
        raise UsageError("nothing to supervise: give --config FILE or BUNDLE directories")
    address = None
    if metrics is not None:  # the command line first, then the file
        from fire.supervisor.metrics import parse_address

        address = parse_address(metrics)
    config = cfg.load(config_path) if config_path else cfg.Config()
    config = cfg.with_bundles(config, bundles)
    cfg.check_bundles(config, bundles)

    import trio

    from fire.supervisor.journal import Journal
    from fire.supervisor.supervisor import Supervisor

    supervisor = Supervisor(root, config, bundles=bundles, metrics=address,
                            journal=Journal(debug=debug), pid_file=pid_file)
    server = None
    if os.environ.get(FORK_SERVER_ENV, "1") != "0":  # forked now: trio has no threads yet
        from fire.supervisor.engine import environment
        from fire.supervisor.forkserver import ForkServer

        server = ForkServer()
        if server.start(environment()):
            supervisor.engine.forkserver = server
    try:
        trio.run(supervisor.run)
    finally:
        if server is not None:
            server.stop()
    return 0


def _fail(message: str, exc: BaseException, debug: bool) -> None:
    if debug:
        import traceback

        sys.stderr.write("".join(traceback.format_exception(exc)))
    sys.stderr.write(f"fire-supervise: {message}\n")


if __name__ == "__main__":
    sys.exit(main())
