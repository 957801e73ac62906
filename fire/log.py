"""Logging with runc's contract (``--log FILE``, ``--log-format text|json``, ``--debug``).

Engines read what a failing command leaves in its log: containerd takes the last
``"level":"error"`` line, podman parses the whole file as one JSON object.  So lines
are buffered and written when the command ends: on success every line at or above
the enabled level; on failure only the error line (plus, with ``--debug``, the rest,
before it).  The error message also goes to stderr, as runc prints it.

Without ``--log``, text lines go straight to stderr in a human form
(``fire: warning: …``); JSON lines go to stderr on exit, like the file.
"""

from __future__ import annotations

import os
import sys
import time

from fire.i18n import N_, message, render, tr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
LABELS = {"debug": N_("debug"), "warning": N_("warning"), "error": N_("error")}


class Logger:
    def __init__(self) -> None:
        self.path: str | None = None
        self.fmt = "text"
        self.debug_enabled = False
        self._pending: list[tuple[str, str, str]] = []  # (level, message, time)
        # Called before a line goes to stderr: `fire run`'s progress line erases itself.
        self.on_write: Callable[[], None] | None = None

    def configure(self, path: str | None, fmt: str, debug: bool) -> None:
        self.path = path
        self.fmt = fmt
        self.debug_enabled = debug

    # ------------------------------------------------------------------ emitting
    def log(self, level: str, template: str, **params: object) -> None:
        if level == "debug" and not self.debug_enabled:
            return
        message = render(template, params)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.path is None and self.fmt == "text":
            label = tr(LABELS[level]) + ": " if level in LABELS else ""
            if self.on_write is not None:
                self.on_write()
            _write_stderr(f"fire: {label}{message}\n")
            return
        self._pending.append((level, message, stamp))

    def debug(self, template: str, **params: object) -> None:
        self.log("debug", template, **params)

    def info(self, template: str, **params: object) -> None:
        self.log("info", template, **params)

    def warning(self, template: str, **params: object) -> None:
        self.log("warning", template, **params)

    # ------------------------------------------------------------------ the end
    def finish(self, error: str | None = None) -> None:
        """Write the buffered lines; ``error`` is the failing command's message."""
        lines = self._pending
        self._pending = []
        if self.on_write is not None:
            self.on_write()
        if error is not None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            kept = lines if self.debug_enabled else []
            lines = [*kept, ("error", error, stamp)]
        if self.path is None and self.fmt == "text":
            if error is not None:
                _write_stderr(f"fire: {error}\n")
            return
        text = "".join(self._format(level, msg, stamp) for level, msg, stamp in lines)
        if self.path is None:
            _write_stderr(text)
            return
        if text:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    os.write(fd, text.encode())
                finally:
                    os.close(fd)
            except OSError as exc:
                _write_stderr("fire: " + message("cannot write log {path}: {reason}",
                                                 path=self.path, reason=exc.strerror) + "\n")
        if error is not None:
            _write_stderr(error + "\n")

    def _format(self, level: str, msg: str, stamp: str) -> str:
        if self.fmt == "json":
            import json

            return json.dumps({"level": level, "msg": msg, "time": stamp}, ensure_ascii=False) + "\n"
        return f'time="{stamp}" level={level} msg={_quote(msg)}\n'


def _quote(msg: str) -> str:
    return '"' + msg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _write_stderr(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


log = Logger()
