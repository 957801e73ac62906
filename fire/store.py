"""The state directory (``--root``): the only writer of container state.

Layout: ``<root>/<id>/`` per container, holding ``state.json`` (written atomically:
a temporary file, then ``rename``) and the files the container's commands share
(the init's ``exec.sock``, a copy of ``config.json``…).  Claiming an id is one
``mkdir``: of many concurrent creates of one id exactly one succeeds, the others
get ``EEXIST``.  Every command that changes a container holds an exclusive
``flock`` on its directory.
"""

from __future__ import annotations

import fcntl
import os

from fire.errors import ContainerError, NotFound, StateCorrupt
from fire.spec.state import State, StateError

DEFAULT_ROOT = "/run/fire"
STATE_FILE = "state.json"


def valid_id(cid: str) -> bool:
    """runc's rule: letters, digits and ``_ + - .``; not ``.`` or ``..``."""
    if not cid or cid in (".", ".."):
        return False
    return all(c.isascii() and (c.isalnum() or c in "_+-.") for c in cid)


def check_id(cid: str) -> None:
    if not valid_id(cid):
        raise ContainerError("invalid container id {shown}", shown=repr(cid))


class ContainerDir:
    """One container's directory, opened (and possibly locked) by this command."""

    def __init__(self, root: str, cid: str, fd: int) -> None:
        self.root = root
        self.id = cid
        self.path = os.path.join(root, cid)
        self.fd = fd
        self._written: bytes | None = None  # the state.json this object last wrote

    def lock(self, blocking: bool = True) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def read_state(self) -> State:
        try:
            fd = os.open(STATE_FILE, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            raise StateCorrupt(None, id=self.id, detail="state.json is missing") from None
        try:
            data = b""
            while chunk := os.read(fd, 65536):
                data += chunk
        finally:
            os.close(fd)
        try:
            return State.from_json(data)
        except StateError as exc:
            raise StateCorrupt(None, id=self.id, detail=str(exc)) from None

    def write_state(self, state: State) -> None:
        """Atomically; not again when it would write what this object last wrote
        (``create`` records its state at stages that may change nothing; every
        writer of a container's state holds its lock, through one ContainerDir)."""
        data = state.to_json()
        if data == self._written:
            return
        tmp = f".{STATE_FILE}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600,
                     dir_fd=self.fd)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, STATE_FILE, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        self._written = data

    def remove(self) -> None:
        """Remove the directory and everything in it (it holds only plain files,
        sockets and fifos that Fire made)."""
        self._written = None
        for entry in os.listdir(self.fd):
            try:
                os.unlink(entry, dir_fd=self.fd)
            except IsADirectoryError:
                _rmtree_at(self.fd, entry)
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _rmtree_at(dirfd: int, name: str) -> None:
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        for entry in os.listdir(fd):
            try:
                os.unlink(entry, dir_fd=fd)
            except IsADirectoryError:
                _rmtree_at(fd, entry)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dirfd)


class Store:
    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = os.path.abspath(root)

    def ensure_root(self) -> None:
        """Make ``--root`` (0700: private to its owner) if it does not exist."""
        if os.path.isdir(self.root):
            return
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            os.chmod(self.root, 0o700)  # whatever the umask; parents keep makedirs' 0777-umask
        except OSError as exc:
            raise ContainerError("cannot create the state directory {path}: {reason}",
                                 path=self.root, reason=exc.strerror) from None

    def claim(self, cid: str) -> ContainerDir:
        """Create the container's directory; fail if the id is taken."""
        check_id(cid)
        self.ensure_root()
        path = os.path.join(self.root, cid)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise ContainerError("container with id exists: {id}", id=cid) from None
        except OSError as exc:
            raise ContainerError("invalid container id {shown}: {reason}", shown=repr(cid),
                                 reason=exc.strerror) from None
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        cdir = ContainerDir(self.root, cid, fd)
        cdir.lock()
        return cdir

    def open(self, cid: str, lock: bool = False) -> ContainerDir:
        check_id(cid)
        try:
            fd = os.open(os.path.join(self.root, cid),
                         os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(cid) from None
        cdir = ContainerDir(self.root, cid, fd)
        if lock:
            cdir.lock()
        return cdir

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        # Fire's own shared files (leases, volumes, the supervisor socket) use names
        # that are not valid ids ("@ipam", "@supervisor.sock"), so they never clash.
        return sorted(n for n in names if valid_id(n))
