"""Sockets that live in another network namespace.

A socket belongs to the network namespace its creator was in when it was made,
for its whole life.  So Fire never runs code "inside" a container's namespace:
the calling thread ``setns``'es into it, makes the socket (a netlink socket for
pyroute2, or an ``AF_INET`` one for an ioctl), and goes back before doing
anything else.  ``setns`` changes only the calling thread: this works the same
in the single-threaded ``fire create`` and in a trio worker thread of the
supervisor (``trio.to_thread.run_sync``), and it does not fork, unlike pyroute2's
own ``NetNS``.  The thread's own namespace is restored before the function
returns, including on errors.
"""

from __future__ import annotations

import os

from fire.syscalls import ns as nsc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")


def open_netns(pid: int) -> int:
    """An fd of ``pid``'s network namespace."""
    return os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def same_as_ours(nsfd: int) -> bool:
    """Is ``nsfd`` the calling thread's own network namespace?"""
    mine = os.stat("/proc/thread-self/ns/net")
    theirs = os.fstat(nsfd)
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def made_in(nsfd: int, make: Callable[[], T]) -> T:
    """Call ``make`` (which opens a socket) with this thread in namespace ``nsfd``."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        nsc.setns(nsfd, nsc.CLONE_NEWNET, "the container's network namespace")
        try:
            return make()
        finally:
            nsc.setns(own, nsc.CLONE_NEWNET, "the runtime's network namespace")
    finally:
        os.close(own)
