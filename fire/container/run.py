"""``run``: create, start and wait in the foreground, forwarding signals.

One dedicated channel carries every signal Fire receives: the handlers do nothing
but let ``set_wakeup_fd`` write the signal's number into a pipe, and the wait loop
reads that pipe beside the container's pidfd and the terminal.  What each signal
means is ``fire.signals.forward``'s decision: SIGCHLD reaps, SIGWINCH resizes the
container's terminal, every other signal goes to the container's process through
its pidfd.  The channel is open before ``create`` starts, as runc's handler is: a
signal that arrives while the container is being set up is neither lost nor able
to kill Fire half-way; it reaches the container once it runs.

Fire is a child subreaper for the whole run, so the orphans of a container
without its own pid namespace (and of processes exec'd into it) are re-parented
to Fire: every child of this process is ours to reap, so reaping is a plain
``waitpid(-1, WNOHANG)`` loop.  The result is the container's exit code, or 128+N
after a signal N.  The channel and the loop are fire/container/foreground.py's
(``exec`` waits with them too).
"""

from __future__ import annotations

import os

from fire.container.create import Options, create
from fire.container.delete import delete
from fire.container.foreground import SignalChannel, Terminal, Waiter, reap
from fire.container.start import start
from fire.errors import FireError
from fire.log import log
from fire.syscalls import proc as p

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.store import Store


def run(store: Store, cid: str, opts: Options, detach: bool = False, keep: bool = False) -> int:
    opts.foreground = not detach
    if detach:
        created = create(store, cid, opts)
        created.cdir.close()
        start(store, cid)
        return 0
    p.prctl(p.PR_SET_CHILD_SUBREAPER, 1, what="prctl(PR_SET_CHILD_SUBREAPER)")
    channel = SignalChannel()
    terminal: Terminal | None = None
    made = False
    try:
        created = create(store, cid, opts)
        made = True
        pid = created.state.pid
        created.cdir.close()
        if created.master >= 0:
            terminal = Terminal(created.master)
        start(store, cid)
        pidfd = os.pidfd_open(pid)
        try:
            return Waiter(pid, pidfd, channel, terminal).wait()
        finally:
            os.close(pidfd)
    finally:
        if terminal is not None:
            terminal.restore()
            os.close(terminal.master)
        channel.close()
        if made and not keep:
            try:
                delete(store, cid, force=True)
            except FireError as exc:
                log.warning("{error}", error=str(exc))
        reap()
