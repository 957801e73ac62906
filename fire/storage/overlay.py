"""The overlay rootfs, runtime side: where the upper layer lives.

The bundle's rootfs is the overlay's lower layer and is never written.  The
upper and work directories live in the container's state directory,
``<state>/overlay/{upper,work}`` (the work directory must be on the upper's
filesystem), and go with it on delete.  A kept upper layer
(``run.fire.overlay.keep``) is moved out to ``<root>/@overlay/<id>`` on delete and
moved back in by the next create of that id: a supervised container that is
restarted finds its files again.  Both moves are ``rename``\\ s within the root
directory, atomic; state.json records ``keep`` before anything is made, so
``delete --force`` after a crash knows which way to go.

The overlay itself is mounted by the init in the container's own mount
namespace (``fire.storage.inside``): the host never sees it, and it goes when
the namespace does.
"""

from __future__ import annotations

import os

from fire.storage import StorageError

KEPT = "@overlay"
DIR = "overlay"


def kept_path(root: str, cid: str) -> str:
    return os.path.join(root, KEPT, cid)


def prepare(state_dir: str, root: str, cid: str, keep: bool, owner: tuple[int, int] | None
            ) -> tuple[str, str]:
    """Make (or bring back) the layer; return (upper, work)."""
    layer = os.path.join(state_dir, DIR)
    kept = kept_path(root, cid)
    try:
        if keep and os.path.isdir(kept):
            os.rename(kept, layer)
        else:
            os.mkdir(layer, 0o700)
        upper, work = os.path.join(layer, "upper"), os.path.join(layer, "work")
        for path in (upper, work):
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                pass
            if owner is not None:
                # The container's root (a user namespace) must own its layer.
                os.chown(path, *owner)
    except OSError as exc:
        raise StorageError("the overlay's upper layer in {path}: {reason}", path=layer,
                           reason=exc.strerror) from None
    return upper, work


def release(state_dir: str, root: str, cid: str, keep: bool) -> None:
    """On delete: move a kept layer out of the state directory (the rest goes with
    the directory)."""
    layer = os.path.join(state_dir, DIR)
    if not keep or not os.path.isdir(layer):
        return
    kept = kept_path(root, cid)
    os.makedirs(os.path.dirname(kept), mode=0o700, exist_ok=True)
    try:
        os.rename(layer, kept)
    except OSError as exc:
        raise StorageError("keeping the upper layer in {path}: {reason}", path=kept,
                           reason=exc.strerror) from None
