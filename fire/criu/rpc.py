"""CRIU's RPC: one ``criu swrk FD`` per request, over a SOCK_SEQPACKET socketpair.

Why RPC and not the ``criu dump``/``criu restore`` command lines: the RPC is what
runc and crun drive, so the same options mean the same thing; it hands the restored
tasks' pids and the orphaned terminal master back to us (``notify`` messages with
SCM_RIGHTS) at the moment the container needs them; and CRIU pauses at its
``setup-namespaces`` step so that the runtime can run the prestart hooks there,
as runc does.  The command line can do none of these.

The messages are CRIU's own ``rpc.proto`` (``criu_req``/``criu_resp``), loaded at run
time from the classes Debian's ``criu`` package ships for its ``pycriu`` module
(``/usr/lib/python3/dist-packages/pycriu/rpc_pb2.py``, generated from
``/usr/include/criu/rpc.proto``): Fire carries no copy of them.  They need the
``protobuf`` package, which is imported only here, by the two commands that use it.

Never hang: our end of the socketpair is the only one left once criu has started
(its end is closed here), so a criu that dies reads as EOF, and a failure names
CRIU's log file and the first error it wrote there.
"""

from __future__ import annotations

import os
import subprocess

from fire.criu import MIN_VERSION
from fire.errors import FireError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

RPC_PB2 = "/usr/lib/python3/dist-packages/pycriu/rpc_pb2.py"
_MAX_MESSAGE = 1 << 20


class CriuError(FireError):
    """CRIU is missing, too old, or failed (the message names its log)."""


_pb: ModuleType | None = None


def messages() -> ModuleType:
    """The rpc_pb2 module (criu_req, criu_opts, …), loaded once per process."""
    global _pb
    if _pb is not None:
        return _pb
    path = os.environ.get("FIRE_CRIU_RPC_PB2", RPC_PB2)
    if not os.path.exists(path):
        raise CriuError("CRIU's RPC definitions are missing ({path}); install Debian's criu "
                        "package", path=path)
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("fire_criu_rpc_pb2", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except ImportError as exc:
        raise CriuError("cannot load CRIU's RPC definitions {path}: {reason} (pip install "
                        "protobuf)", path=path, reason=str(exc)) from None
    _pb = module
    return module


def criu_path(given: str | None = None) -> str:
    """runc's ``--criu PATH`` when given, else ``$FIRE_CRIU``, else criu from PATH."""
    import shutil

    found = shutil.which(given or os.environ.get("FIRE_CRIU", "criu"),
                         path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        raise CriuError("criu is not installed (checkpoint and restore need CRIU {need} or "
                        "newer: apt-get install criu)", need=version_text(MIN_VERSION))
    return found


def version_text(number: int) -> str:
    return f"{number // 10000}.{number // 100 % 100}" + (f".{number % 100}" if number % 100 else "")


class Session:
    """One ``criu swrk``: start it, send one request, serve its notifications."""

    def __init__(self, criu: str, pass_fds: tuple[int, ...] = (), stdio: bool = False,
                 log_path: str = "") -> None:
        import _socket

        ours, theirs = _socket.socketpair(_socket.AF_UNIX,
                                          _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        self.sock = ours
        self.log_path = log_path
        null = subprocess.DEVNULL
        try:
            # restore: CRIU's stdio become the restored tasks' "pipe:" fds (inherit_fd)
            self.proc = subprocess.Popen(
                [criu, "swrk", str(theirs.fileno())], pass_fds=(theirs.fileno(), *pass_fds),
                stdin=None if stdio else null, stdout=None if stdio else null,
                stderr=None if stdio else null)
        except OSError as exc:
            ours.close()
            raise CriuError("cannot start {criu}: {reason}", criu=criu,
                            reason=exc.strerror) from None
        finally:
            theirs.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, req: object,
             on_notify: Callable[[str, int, list[int]], None] | None = None) -> object:
        """Send ``req``; answer each notification; return the final response."""
        pb = messages()
        self.sock.send(req.SerializeToString())  # type: ignore[attr-defined]
        while True:
            data, fds = self._recv()
            if not data:
                self.finish()
                raise CriuError("criu exited before answering ({status}){log}",
                                status=self._status(), log=self.log_hint())
            resp = pb.criu_resp()
            resp.ParseFromString(data)
            if not resp.success:
                for fd in fds:
                    os.close(fd)
                raise self.failure(resp)
            if resp.type == pb.NOTIFY:
                try:
                    if on_notify is not None:
                        on_notify(resp.notify.script, resp.notify.pid, fds)
                finally:
                    for fd in fds:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                self.sock.send(pb.criu_req(type=pb.NOTIFY, notify_success=True)
                               .SerializeToString())
                continue
            return resp

    def _recv(self) -> tuple[bytes, list[int]]:
        import _socket
        import array

        size = _socket.CMSG_SPACE(16 * 4)
        data, ancillary, _flags, _addr = self.sock.recvmsg(_MAX_MESSAGE, size,
                                                           _socket.MSG_CMSG_CLOEXEC)
        fds: list[int] = []
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                arr = array.array("i")
                arr.frombytes(payload[: len(payload) - len(payload) % arr.itemsize])
                fds.extend(arr)
        return data, fds

    def failure(self, resp: object) -> CriuError:
        errno_ = getattr(resp, "cr_errno", 0)
        reason = getattr(resp, "cr_errmsg", "") or first_error(self.log_path)
        if not reason and errno_:
            reason = os.strerror(errno_)
        self.finish()
        return CriuError("criu failed: {reason}{log}", reason=reason or "no reason given",
                         log=self.log_hint())

    def log_hint(self) -> str:
        return f" (log: {self.log_path})" if self.log_path else ""

    def _status(self) -> str:
        code = self.proc.returncode
        if code is None:
            return "running"
        return f"signal {-code}" if code < 0 else f"status {code}"

    def finish(self, timeout: float = 30.0) -> int | None:
        """Close our end (criu then exits) and reap criu."""
        if self.sock.fileno() >= 0:
            self.sock.close()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def first_error(log_path: str) -> str:
    """The first ``Error (file:line): text`` CRIU wrote to its log, or ""."""
    if not log_path:
        return ""
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                at = line.find("Error (")
                if at >= 0:
                    text = line[at:].strip()
                    close = text.find("): ")
                    return text[close + 3:] if close >= 0 else text
    except OSError:
        pass
    return ""


def version(criu: str) -> int:
    """CRIU's version as runc numbers it (3.17.1 -> 31701)."""
    pb = messages()
    session = Session(criu)
    try:
        resp = session.call(pb.criu_req(type=pb.VERSION))
    finally:
        session.finish()
    v = resp.version  # type: ignore[attr-defined]
    return int(v.major_number) * 10000 + int(v.minor_number) * 100 + int(v.sublevel or 0)


def check_version(criu: str) -> int:
    found = version(criu)
    if found < MIN_VERSION:
        raise CriuError("CRIU {found} is too old: Fire needs {need} or newer ({criu})",
                        found=version_text(found), need=version_text(MIN_VERSION), criu=criu)
    return found
