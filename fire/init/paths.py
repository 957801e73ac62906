"""Paths inside the container's rootfs, resolved so that nothing escapes it.

The rootfs is hostile: any component may be a symlink pointing at ``/`` of the
host, at ``..``, or at ``/proc/self/fd/N``.  Every lookup therefore goes through
``openat2(rootfd, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``, which makes the
kernel treat ``rootfd`` as ``/`` for every symlink it follows.  Creating a missing
mount point is a walk that re-resolves each prefix the same way and follows a
dangling symlink by hand (inside the root) rather than letting ``mkdir`` do it.
The result is an ``O_PATH`` fd, and mounts target ``/proc/self/fd/N``: the path
cannot be swapped between the check and the use.
"""

from __future__ import annotations

import errno
import os
import posixpath

from fire.syscalls import KernelError
from fire.syscalls.fs import (
    RESOLVE_IN_ROOT,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
)
from fire.syscalls.kernel import KERNEL, Kernel

IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
MAX_LINKS = 40


def fd_path(fd: int) -> str:
    """A path that names ``fd`` for calls that only take paths (mount(2))."""
    return f"/proc/self/fd/{fd}"


def split(path: str) -> list[str]:
    return [p for p in posixpath.normpath("/" + path).split("/") if p and p != "."]


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH, *,
                 no_symlinks: bool = False, no_xdev: bool = False, mode: int = 0,
                 k: Kernel = KERNEL) -> int:
    """Open ``path`` (absolute, inside the container) confined to ``rootfd``."""
    resolve = IN_ROOT | (RESOLVE_NO_SYMLINKS if no_symlinks else 0) | (
        RESOLVE_NO_XDEV if no_xdev else 0)
    return k.openat2(rootfd, path.lstrip("/") or ".", flags, resolve, mode, shown=path)


def mkdir_all(rootfd: int, path: str, mode: int = 0o755, k: Kernel = KERNEL) -> int:
    """``mkdir -p`` inside the root; returns an ``O_PATH`` fd of the directory."""
    parts = split(path)
    links = 0
    i = 0
    fd = os.dup(rootfd)
    try:
        while i < len(parts):
            sub = "/" + "/".join(parts[: i + 1])
            try:
                nfd = open_in_root(rootfd, sub, os.O_PATH | os.O_DIRECTORY, k=k)
            except KernelError as exc:
                if exc.errno != errno.ENOENT:
                    raise
                try:
                    os.mkdir(parts[i], mode, dir_fd=fd)
                except FileExistsError:
                    # A dangling symlink: follow it ourselves, inside the root.
                    links += 1
                    if links > MAX_LINKS:
                        raise KernelError(errno.ELOOP, "mkdir", sub) from None
                    target = os.readlink(parts[i], dir_fd=fd)
                    base = "/" if target.startswith("/") else "/" + "/".join(parts[:i])
                    parts = split(posixpath.join(base, target)) + parts[i + 1:]
                    os.close(fd)
                    fd = os.dup(rootfd)
                    i = 0
                    continue
                nfd = open_in_root(rootfd, sub, os.O_PATH | os.O_DIRECTORY, k=k)
            os.close(fd)
            fd = nfd
            i += 1
        return fd
    except BaseException:
        os.close(fd)
        raise


def ensure_file(rootfd: int, path: str, mode: int = 0o644, k: Kernel = KERNEL) -> int:
    """Open (creating if needed) a file inside the root to mount over; O_PATH fd.

    A dangling symlink on the way is followed by hand, inside the root, as
    ``mkdir_all`` does: the file is made where the link points, never outside.
    """
    for _ in range(MAX_LINKS):
        try:
            return open_in_root(rootfd, path, k=k)
        except KernelError as exc:
            if exc.errno != errno.ENOENT:
                raise
        parent, name = posixpath.split(posixpath.normpath("/" + path))
        pfd = mkdir_all(rootfd, parent, k=k)
        try:
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, mode, dir_fd=pfd)
                os.close(fd)
            except FileExistsError:
                # A dangling symlink: its target, resolved inside the root.
                target = os.readlink(name, dir_fd=pfd)
                path = posixpath.join(parent, target)
                continue
        finally:
            os.close(pfd)
        return open_in_root(rootfd, path, k=k)
    raise KernelError(errno.ELOOP, "open", path)


def ensure_mountpoint(rootfd: int, path: str, is_dir: bool, k: Kernel = KERNEL) -> int:
    return mkdir_all(rootfd, path, k=k) if is_dir else ensure_file(rootfd, path, k=k)
