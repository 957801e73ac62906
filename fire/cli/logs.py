"""fire logs [--follow] [--tail N] ID

Prints the output of a container run by ``fire-supervise``: its stdout and
stderr as they were written (``2>&1``), kept in ``<root>/@logs/<id>.log`` and
the rotated ``.log.1``, ``.log.2`` … (``fire.supervisor.files``), oldest first.
``--follow`` keeps printing what the container writes, across rotations and
restarts, until interrupted.
"""

from __future__ import annotations

import os
import sys
import time

from fire.cli.args import Opt
from fire.cli.common import need_id, parse_command
from fire.errors import ContainerError
from fire.store import check_id
from fire.supervisor.files import identity, rotating_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from fire.cli import Context

OPTIONS = [
    Opt("-f", "--follow", help="keep printing new output"),
    Opt("-n", "--tail", value=True, default=None, convert=int,
        help="print only the last N lines first", metavar="N"),
]
POLL = 0.2  # seconds between looks at a followed file
STALE_ROTATION = 5.0  # seconds after which a left-over rotation copy is ignored


def tail_lines(paths: list[str], count: int) -> bytes:
    """The last ``count`` lines of the concatenation of ``paths`` (oldest first)."""
    if count <= 0:
        return b""
    kept: list[bytes] = []
    for path in reversed(paths):  # a log file is at most a few MiB: read it whole
        with open(path, "rb") as f:
            kept = f.read().splitlines(keepends=True) + kept
        if len(kept) >= count:
            break
    return b"".join(kept[-count:])


def follow(path: str, out: BinaryIO, start: int) -> None:
    """Print what is appended to ``path`` from ``start``, across rotations.

    The supervisor rotates by copy-then-truncate (``fire.supervisor.files.LogFile``):
    the file keeps its inode, and what we had not printed yet is at the end of a
    new ``.log.1`` (a new inode each time).  So a new ``.log.1`` means: print its
    bytes past our offset, then go on from the start of the current file.  It is
    looked for after each read, and what that read got is dropped when there is
    one (it may be the new file's bytes, read at the old offset).  A file
    shorter than our offset without a new ``.log.1`` (a single generation, or a
    truncation by someone else) is read again from 0 — on the second look only:
    the supervisor renames the new ``.log.1`` into place just after it truncates.
    A file replaced under its name (removed and made again) is read from its start.
    While the supervisor's copy (``<id>.log.rotating``) exists, a shorter file is
    that rotation's truncation, however long the supervisor takes to rename the copy
    (a busy machine): never read again from 0 then, or the rotated bytes would be
    printed twice.
    """
    rotated = rotated_path(path)
    seen = identity(rotated)
    f = _open(path)
    inode = os.fstat(f.fileno()).st_ino if f is not None else 0
    if f is not None:
        f.seek(start)
    shrunk = False  # seen shorter than our offset once already
    while True:
        offset = f.tell() if f is not None else 0
        data = f.read(65536) if f is not None else b""
        now = identity(rotated)  # after the read: what it read may be from after a rotation
        if f is not None and now is not None and now != seen:
            seen = now
            shrunk = False
            out.write(_read_from(rotated, offset))  # the end of what was rotated away
            out.flush()
            f.seek(0)
            continue
        if data:
            out.write(data)
            out.flush()
            continue
        try:
            st: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None and (f is None or st.st_ino != inode):
            if f is not None:
                out.write(f.read())  # the end of the file that was replaced
                out.flush()
                f.close()
            f = _open(path)
            inode = st.st_ino
            continue
        if f is not None and os.fstat(f.fileno()).st_size < f.tell():
            if _rotating(path):  # truncated by a rotation whose .log.1 is not in place yet
                shrunk = False
                time.sleep(POLL)
                continue
            if shrunk:
                f.seek(0)
                shrunk = False
                continue
            shrunk = True
        time.sleep(POLL)


def rotated_path(path: str) -> str:
    return path + ".1"


def _rotating(path: str) -> bool:
    """A rotation is under way: its copy exists and is fresh (one left by a
    supervisor killed mid-rotation is ignored after ``STALE_ROTATION`` seconds)."""
    try:
        age = time.time() - os.stat(rotating_path(path)).st_mtime
    except FileNotFoundError:
        return False
    return age < STALE_ROTATION


def _read_from(path: str, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""


def _open(path: str) -> BinaryIO | None:
    try:
        return open(path, "rb")  # kept open while following
    except FileNotFoundError:
        return None


def run(ctx: Context, command: str, argv: list[str]) -> int:
    parsed = parse_command(command, argv, OPTIONS, "[--follow] [--tail N] ID")
    if parsed is None:
        return 0
    cid = need_id(parsed, command)
    check_id(cid)
    from fire.supervisor.files import log_files, log_path

    paths = log_files(ctx.root, cid)
    if not paths and not parsed.flag("follow"):
        raise ContainerError("no output recorded for container {id} (only containers run by "
                             "fire-supervise have logs)", id=cid)
    if not paths and not os.path.lexists(os.path.join(ctx.root, cid)):
        # Not an error: a supervisor may not have started it yet (it waits for a
        # dependency).  But a typo must not look like a quiet container.
        from fire.log import log

        log.warning("no container {id} in {root} (and no output recorded): waiting for it "
                    "to appear", id=cid, root=ctx.root)
    out = sys.stdout.buffer
    tail = parsed.text("tail")
    try:
        if tail is None:
            for path in paths:
                with open(path, "rb") as f:
                    while chunk := f.read(65536):
                        out.write(chunk)
        else:
            out.write(tail_lines(paths, int(tail)))
        out.flush()
        if parsed.flag("follow"):
            current = log_path(ctx.root, cid)
            size = os.path.getsize(current) if os.path.exists(current) else 0
            follow(current, out, size)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except KeyboardInterrupt:
        pass
    return 0
