"""Joining the init to its cgroup while config.json is decoded (create's fast path).

Why: the first write to a ``cgroup.procs`` after a quiet spell waits for an RCU
grace period (the kernel's ``cgroup_threadgroup_rwsem`` is a per-CPU rw-semaphore):
5-17 ms on the 2-CPU VM we measure on, a fifth of ``create`` (runc waits too).  The
wait takes no CPU, so it can overlap the ~15 ms of CPU that importing msgspec and
decoding config.json take, provided the cgroup is known before the decoding.

So, right after the init is spawned, ``begin`` reads ``linux.cgroupsPath`` with a
plain JSON parse (fire.jsonlite: no types, no msgspec), claims the container id,
records the cgroup and the init in state.json (what ``delete --force`` needs, before
it exists), makes the directories and joins the init in a second thread (the write
releases the GIL).  ``finish`` waits for that thread, before anything else forks,
and checks that the decoded config names the same cgroup.  The claim and cgroup
stages then only complete the record and apply the limits (runc also joins before it
writes the limits; the init only waits for its plan until then).

Rootless, or anything unusual (no ``linux`` object, a systemd-style path, JSON that does not
parse) makes ``begin`` return None: create then does all of it in its usual stages,
and reports the error there.
"""

from __future__ import annotations

import _thread
import os
import sys
from stat import S_ISREG

from fire import jsonlite, rootless
from fire.cgroup.manager import Manager, resolve_path
from fire.errors import CgroupError, ConfigError
from fire.procfs import start_time
from fire.spec.state import CREATING, State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.store import ContainerDir, Store

_UNKNOWN = object()
MAX_CONFIG_BYTES = 8 * 1024 * 1024  # fire.spec.load's limit (not imported: msgspec)
JOIN_SWITCH_INTERVAL = 0.0002  # seconds, while the join runs (see Early)


def _cgroups_path(config: str) -> object:
    """``linux.cgroupsPath`` (str or None), or _UNKNOWN when the file says otherwise."""
    try:
        # Non-blocking, regular files only: a FIFO must not hang the open; what is
        # not a file is refused by fire.spec.load with the message.
        fd = os.open(config, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
        with open(fd, "rb") as f:
            if not S_ISREG(os.fstat(fd).st_mode):
                return _UNKNOWN
            data = f.read(MAX_CONFIG_BYTES + 1)
        raw = jsonlite.loads(data) if len(data) <= MAX_CONFIG_BYTES else None
    except (OSError, ValueError, RecursionError):
        return _UNKNOWN
    linux = raw.get("linux") if isinstance(raw, dict) else None
    if not isinstance(linux, dict):
        return _UNKNOWN
    path = linux.get("cgroupsPath")
    return path if path is None or isinstance(path, str) else _UNKNOWN


class Early:
    """The claimed directory, the state record, the cgroup, and the joining thread.

    Only the first ``cgroup.procs`` write waits for the grace period: the next ones,
    made right after it, find it passed (≈0.01 ms each; 10 hierarchies on a v1
    host).  But between two writes the thread needs the GIL back, and the main
    thread, busy importing, hands it over only every switch interval (5 ms): the
    writes then come so far apart that several paid a grace period of their own (a
    join of 20 ms was seen).  So, while the thread lives, the interval is 0.2 ms."""

    def __init__(self, cdir: ContainerDir, state: State, cgroup: Manager, pid: int) -> None:
        self.cdir = cdir
        self.state = state
        self.cgroup = cgroup
        self._error: BaseException | None = None
        self._done = _thread.allocate_lock()
        self._done.acquire()
        self._waited = False
        self._interval = sys.getswitchinterval()
        sys.setswitchinterval(JOIN_SWITCH_INTERVAL)
        _thread.start_new_thread(self._join, (pid,))

    def _join(self, pid: int) -> None:
        try:
            self.cgroup.add(pid)
        except BaseException as exc:  # reported by finish(), in the main thread
            self._error = exc
        finally:
            self._done.release()

    def wait(self) -> None:
        if not self._waited:
            self._done.acquire()
            self._waited = True
            sys.setswitchinterval(self._interval)

    def finish(self, decoded: Manager) -> Manager:
        """Wait for the join; the cgroup, if the decoded config names the same one."""
        self.wait()
        if self._error is not None:
            raise self._error
        if decoded.path != self.cgroup.path:
            raise ConfigError("$.linux.cgroupsPath", "config.json changed while it was read")
        return self.cgroup


def begin(store: Store, cid: str, bundle: str, pid: int, created: str,
          claimed: Callable[[ContainerDir], None],
          making: Callable[[Manager], None], made: list[str] | None = None) -> Early | None:
    """Claim ``cid``, make its cgroup and start joining the init ``pid`` to it.

    ``claimed`` is told of the directory as soon as it exists, ``making`` of the
    cgroup before it is made (``made``: the directories fire-supervise made, when it
    made it ahead): the caller's undos (create's claim and cgroup stages)
    then know what to remove if anything fails, here or later."""
    if rootless.enabled():
        return None  # its cgroup is decided on the decoded config (fire.cgroup.rootless)
    path = _cgroups_path(os.path.join(bundle, "config.json"))
    if path is _UNKNOWN:
        return None
    try:
        cgroup = Manager(resolve_path(path if isinstance(path, str) else None, cid))
    except CgroupError:
        return None
    cdir = store.claim(cid)
    claimed(cdir)
    state = State(id=cid, status=CREATING, bundle=bundle, created=created, initPid=pid,
                  initStart=start_time(pid) or 0)
    # ``made``: the directories fire-supervise already made (fire.prepared), ours.
    cgroup.created = cgroup.planned() if made is None else list(made)
    state.cgroup = cgroup.to_state()
    cdir.write_state(state)
    making(cgroup)
    cgroup.create()
    return Early(cdir, state, cgroup, pid)
