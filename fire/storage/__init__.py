"""Storage for containers Fire runs itself: an overlay rootfs and volumes.

Off by default (engines bring their own images and mounts): a container asks for
it with the ``run.fire.overlay``/``run.fire.volumes`` annotations or the
``fire create/run --overlay/--volume`` flags (docs/network-storage.md).

* ``settings``: the annotations (pure).
* ``overlay``: the upper layer's directories on the runtime side (in the state
  directory; moved to ``<root>/@overlay/<id>`` when kept).
* ``volumes``: volumes as config mounts (named volumes live in
  ``<root>/@volumes/<name>``), so the init mounts them with the same symlink-safe
  resolution as config.json's mounts.
* ``inside``: the init's part: the overlay itself, mounted in the container's own
  mount namespace so the host never sees it, and mount points made without
  writing into a read-only image.
* ``detached``: with a user namespace, the overlay and the binds from ``--root``
  made by the runtime (host root) and only attached by the init, which cannot
  reach ``--root``.
* ``stage``: what ``create`` and ``delete`` call.
"""

from __future__ import annotations

from fire.errors import FireError


class StorageError(FireError):
    """Preparing or removing a container's storage failed (a template + params)."""


class Invalid(ValueError):
    """A volume that does not parse: a translatable template and its parameters."""

    def __init__(self, template: str, **params: object) -> None:
        super().__init__(template.format(**params))
        self.template = template
        self.params = params
