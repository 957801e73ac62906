"""Volumes as config mounts.

A volume becomes one more entry of the spec's ``mounts``, so the init mounts it
exactly like config.json's mounts: destination resolved inside the rootfs with
``openat2(RESOLVE_IN_ROOT)``, bind sources cloned with ``open_tree``, options
parsed by the same code (``fire.spec.mountopts``).

* named (``data:/var/lib/db``): a directory ``<root>/@volumes/<name>``, made on
  first use (mode 0755, owned by the container's root), kept across containers;
  Fire never deletes it.
* bind (``/srv/conf:/etc/app:ro``): the host path, which must exist.
* tmpfs (``tmpfs:/scratch:size=16m``): a tmpfs, ``nosuid,nodev,mode=1777`` unless
  the options say otherwise.
"""

from __future__ import annotations

import os

from fire.storage import StorageError
from fire.storage.settings import BIND, NAMED, TMPFS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.spec.config import Mount
    from fire.storage.settings import Volume

VOLUMES = "@volumes"


def volume_path(root: str, name: str) -> str:
    return os.path.join(root, VOLUMES, name)


def prepare(volume: Volume, root: str, owner: tuple[int, int] | None) -> tuple[Mount, bool]:
    """The volume's mount, and whether its mount point is a directory."""
    from fire.spec.config import Mount

    if volume.kind == TMPFS:
        options = ["nosuid", "nodev", *volume.options]
        if not any(o.startswith("mode=") for o in options):
            options.append("mode=1777")
        return Mount(destination=volume.dest, type="tmpfs", source="tmpfs",
                     options=options), True
    if volume.kind == NAMED:
        source = volume_path(root, volume.source)
        try:
            os.makedirs(os.path.dirname(source), mode=0o711, exist_ok=True)
            os.mkdir(source, 0o755)
            if owner is not None:
                os.chown(source, *owner)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StorageError("volume {volume}: {path}: {reason}", volume=str(volume),
                               path=source, reason=exc.strerror) from None
    else:
        assert volume.kind == BIND
        source = volume.source
    try:
        is_dir = os.path.isdir(source)
        os.stat(source)
    except OSError as exc:
        raise StorageError("volume {volume}: {path}: {reason}", volume=str(volume), path=source,
                           reason=exc.strerror) from None
    return Mount(destination=volume.dest, type="bind", source=source,
                 options=["rbind", *volume.options]), is_dir
