"""What a stage module sees of the create that runs it (``StageHost``).

The stages that live with their subsystem (``fire.net.stage``, ``fire.storage.stage``)
need four things of the driver: the container's state and state directory (to
record what they are about to make), the store's root, the undo stack (to push
their undo before they make anything), and the stage channel (to report a stage
of their own).  ``fire.container.create.Creation`` provides them; the stage
modules depend on this Protocol, not on the driver, so the driver can import them
without a circle.  Only type checkers import this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from fire.spec.state import State
    from fire.store import ContainerDir, Store


class StageHost(Protocol):
    @property
    def store(self) -> Store: ...
    @property
    def state(self) -> State | None: ...
    @property
    def cdir(self) -> ContainerDir | None: ...
    @property
    def undo(self) -> list[tuple[str, Callable[[], None]]]:
        """(what, undo) pairs, undone newest first if a later stage fails."""
        ...

    def stage(self, name: str, phase: str = "start") -> None:
        """Report a stage's start (or ``phase``: "done") on the stage channel."""
        ...
