"""The ``storage`` stage of ``create`` and the storage part of ``delete``.

    validate ─ claim ─ cgroup ─ storage ─ network ─ spawn ─ … (init: rootfs, mounts)

``storage`` (runtime, before the init exists) records the settings in state.json
(``extra.storage``) before it makes anything, then makes the overlay's upper
layer (or brings a kept one back) and the named volumes' directories, and adds
the volumes to the spec's mounts.  ``complete_plan`` gives the init the overlay
and the mount points to make; the init mounts the overlay in the container's
mount namespace (``fire.storage.inside``), or, with a user namespace, attaches the
one the runtime made (``fire.storage.detached``).  ``teardown`` (``delete``, and the undo
of a failed create) moves a kept upper layer out of the state directory; the
rest goes with the directory.  Named volumes are never removed.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.init.plan import OverlayPlan, Plan
    from fire.lifecycle.host import StageHost
    from fire.spec.config import Spec
    from fire.spec.state import State
    from fire.storage.settings import StorageSettings


class Prepared:
    """What the plan needs from the ``storage`` stage."""

    __slots__ = ("mountpoints", "overlay")

    def __init__(self) -> None:
        self.overlay: OverlayPlan | None = None
        self.mountpoints: list[tuple[str, bool]] = []


def parse(spec: Spec) -> StorageSettings | None:
    """Validate stage: the settings, or None (an engine's bundle: nothing imported)."""
    if not any(key.startswith("run.fire.") for key in spec.annotations or ()):
        return None
    from fire.storage import settings as storage_settings

    return storage_settings.parse(spec.annotations)


def _user_namespace(spec: Spec) -> tuple[bool, tuple[int, int] | None]:
    """(has a user namespace, the host uid/gid of its root when Fire makes it)."""
    linux = spec.linux
    if linux is None:
        return False, None
    entries = [ns for ns in linux.namespaces or [] if ns.type == "user"]
    if not entries:
        return False, None
    if entries[0].path:
        return True, None

    def host_id(maps: object) -> int | None:
        for mp in maps or []:  # type: ignore[attr-defined]
            if mp.container_id <= 0 < mp.container_id + mp.size:
                return int(mp.host_id)
        return None

    uid, gid = host_id(linux.uid_mappings), host_id(linux.gid_mappings)
    return True, (uid, gid) if uid is not None and gid is not None else None


def prepare(creation: StageHost, spec: Spec, settings: StorageSettings
            ) -> tuple[Spec, Prepared]:
    import msgspec

    from fire.storage import overlay, volumes

    state = creation.state
    cdir = creation.cdir
    assert state is not None
    assert cdir is not None
    root = creation.store.root
    state.extra = {**(state.extra or {}), "storage": {
        "overlay": settings.overlay, "keep": settings.keep,
        "volumes": [str(v) for v in settings.volumes]}}
    cdir.write_state(state)  # recorded before made: the undo (and delete) reads it
    userns, owner = _user_namespace(spec)
    out = Prepared()
    if settings.overlay:
        upper, work = overlay.prepare(cdir.path, root, state.id, settings.keep, owner)
        out.overlay = {"upper": upper, "work": work, "userxattr": userns, "tree": -1}
    mounts = []
    for volume in settings.volumes:
        mount, is_dir = volumes.prepare(volume, root, owner)
        mounts.append(mount)
        out.mountpoints.append((volume.dest, is_dir))
    if mounts:
        spec = msgspec.structs.replace(spec, mounts=[*(spec.mounts or []), *mounts])
    return spec, out


def complete_plan(plan: Plan, prepared: Prepared | None) -> None:
    if prepared is None:
        return
    plan["overlay"] = prepared.overlay
    plan["mountpoints"] += prepared.mountpoints


def teardown(root: str, state_dir: str, state: State) -> None:
    record = (state.extra or {}).get("storage")
    if not isinstance(record, dict):
        return
    from fire.storage import overlay

    overlay.release(state_dir, root, state.id, bool(record.get("keep")))
