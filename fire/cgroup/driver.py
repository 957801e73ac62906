"""Which cgroup driver manages a container: cgroupfs (``Manager``) or a systemd scope
(``SystemdManager``, ``--systemd-cgroup``).

The choice lives here, above both drivers, because the systemd driver subclasses
the cgroupfs one: were the base class to pick its subclass, the two modules would
import each other.  The systemd module (and its D-Bus client) is imported only when
a container asks for it or its state says it was created with it.
"""

from __future__ import annotations

from fire.cgroup.manager import Manager, resolve_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cgroup.hierarchy import Hierarchy


def for_config(cgroups_path: str | None, cid: str, systemd: bool = False) -> Manager:
    """The manager ``create`` uses: a systemd scope (``--systemd-cgroup``, the path in
    ``slice:prefix:name`` form) or a cgroupfs path."""
    if systemd:
        from fire.cgroup.sdname import parse
        from fire.cgroup.systemd import SystemdManager

        return SystemdManager.for_unit(parse(cgroups_path, cid))
    return Manager(resolve_path(cgroups_path, cid))


def from_state(data: dict[str, object] | None,
               hierarchies: list[Hierarchy] | None = None) -> Manager | None:
    """The manager of a container's cgroup as its state records it (None: no cgroup)."""
    if not data or not isinstance(data.get("path"), str):
        return None
    if data.get("driver") == "systemd":  # recorded at create (cgroup/systemd.py)
        from fire.cgroup.systemd import SystemdManager

        return SystemdManager.load(data, hierarchies)
    return Manager.load(data, hierarchies)
