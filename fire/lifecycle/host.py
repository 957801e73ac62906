"""What a stage module sees of the create that runs it (``StageHost``).

The stages that live with their subsystem (``fire.net.stage``, ``fire.storage.stage``)
need three things of the driver: the container's state and state directory (to
record in state.json what they are about to make, before they make it: the
driver's undo of their stage and ``delete`` read it there), the store's root, and
the stage channel.  ``fire.container.create.Creation`` provides them; the stage
modules depend on this Protocol, not on the driver, so the driver can import them
without a circle.  Only type checkers import this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fire.spec.state import State
    from fire.store import ContainerDir, Store


class StageHost(Protocol):
    @property
    def store(self) -> Store: ...
    @property
    def state(self) -> State | None: ...
    @property
    def cdir(self) -> ContainerDir | None: ...
    def stage(self, name: str, phase: str = "start") -> None:
        """Report a stage's start (or ``phase``: "done") on the stage channel."""
        ...
