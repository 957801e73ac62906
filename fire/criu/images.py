"""The image and work directories of a checkpoint, with runc's defaults and checks.

The image directory defaults to ``./checkpoint`` (runc's ``getDefaultImagePath``);
``--parent-path`` must be relative to it and name a directory (a pre-dump's images);
the work directory (CRIU's logs) defaults to the image directory.  A directory CRIU
could not write is refused here, before CRIU starts, with its path.
"""

from __future__ import annotations

import json
import os

from fire.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.criu.request import Flags


class ImageError(UsageError):
    """An image, work or parent directory that cannot be used."""


def image_path(flags: Flags) -> str:
    return os.path.abspath(flags.image_path or os.path.join(os.getcwd(), "checkpoint"))


def open_dir(path: str, what: str, create: bool, writable: bool) -> int:
    """An O_PATH-free directory fd (CRIU reads and writes through it)."""
    if create:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ImageError("cannot create the {what} {path}: {reason}", what=what, path=path,
                             reason=exc.strerror) from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ImageError("cannot open the {what} {path}: {reason}", what=what, path=path,
                         reason=exc.strerror) from None
    if writable:
        probe = f".fire-probe-{os.getpid()}"
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600,
                             dir_fd=fd))
            os.unlink(probe, dir_fd=fd)
        except OSError as exc:
            os.close(fd)
            raise ImageError("the {what} {path} is not writable: {reason}", what=what, path=path,
                             reason=exc.strerror) from None
    return fd


def check_parent(images: str, parent: str) -> None:
    if not parent:
        return
    if os.path.isabs(parent):
        raise ImageError("--parent-path must be relative (to --image-path)")
    real = os.path.join(images, parent)
    if not os.path.isdir(real):
        raise ImageError("invalid --parent-path: {path} is not a directory", path=real)


def write_descriptors(images_fd: int, pid: int) -> None:
    """What the container's fds 0-2 are (runc's descriptors.json)."""
    links: list[str] = []
    for fd in range(3):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            links.append("/dev/null")
    data = json.dumps(links).encode()
    out = os.open("descriptors.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                  0o600, dir_fd=images_fd)
    try:
        os.write(out, data)
    finally:
        os.close(out)


def read_descriptors(images: str) -> list[str]:
    path = os.path.join(images, "descriptors.json")
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        raise ImageError("{path} is missing: not a checkpoint of a container (or only a "
                         "pre-dump)", path=path) from None
    except (OSError, ValueError) as exc:
        raise ImageError("cannot read {path}: {reason}", path=path, reason=str(exc)) from None
    if not isinstance(data, list):
        raise ImageError("cannot read {path}: {reason}", path=path, reason="not a JSON list")
    return [str(x) for x in data]
