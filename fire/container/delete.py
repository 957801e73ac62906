"""``delete [--force]``: destroy a stopped (or created) container."""

from __future__ import annotations

from fire.cgroup.freezer import thaw
from fire.container.destroy import destroy
from fire.container.status import current
from fire.errors import NotFound, StateCorrupt
from fire.lifecycle import machine as lm
from fire.log import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.store import Store


def delete(store: Store, cid: str, force: bool = False) -> None:
    try:
        cdir = store.open(cid, lock=True)
    except NotFound:
        if force:
            return  # already gone: what the containerd shim expects
        raise
    try:
        try:
            state = cdir.read_state()
        except StateCorrupt:
            if not force:
                raise
            log.warning("container {id}: its state is unreadable, so its processes and cgroup "
                        "could not be identified; removing its directory", id=cid)
            cdir.remove()
            return
        machine = lm.Machine(cid, current(state))
        for action in machine.send(lm.FORCE_DELETE if force else lm.DELETE):
            if action == lm.THAW:
                thaw(state.cgroup)
            elif action == lm.KILL_ALL:
                destroy(cdir, state)
                return
    finally:
        cdir.close()
