"""``update``: change the resource limits of a live container.

The new values are merged into the resources the container was created (or last
updated) with, which its state keeps: a v2 file often needs a value the caller did
not repeat (``cpu.max`` holds quota *and* period; ``memory.swap.max`` is swap minus
the memory limit).  The merged document goes through the same translation as
``create``, restricted to the fields given, so an invalid value is refused with
its path before anything is written.  A 0 where runc's ``update`` reads "not set"
(what Docker sends for every limit its user did not give) leaves that limit as it
is (``drop_unset``).  Device rules are not updated (as with runc:
cgroup v1 cannot change them without a window where everything is denied).
"""

from __future__ import annotations

import json

from fire.cgroup import driver as cgroup_driver
from fire.cgroup.rootless import has_none, no_cgroup_error
from fire.cgroup.translate import drop_unset, given_fields, translate
from fire.container.status import load
from fire.errors import CgroupError, NotRunning
from fire.log import log
from fire.spec.state import CREATING, STOPPED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.spec.config import Resources
    from fire.store import Store


def merge(old: dict[str, object], new: dict[str, object]) -> dict[str, object]:
    """``new`` over ``old``: objects merge key by key; lists and values replace."""
    out = dict(old)
    for key, value in new.items():
        before = out.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            out[key] = merge(before, value)
        else:
            out[key] = value
    return out


def decode(doc: dict[str, object], document: str) -> Resources:
    """``doc`` as ``linux.resources`` (the spec's types and ranges); errors name the
    JSON path inside ``document``."""
    import msgspec

    from fire.spec.config import Resources
    from fire.spec.load import decode_error

    try:
        return msgspec.convert(doc, type=Resources)
    except msgspec.ValidationError as exc:
        raise decode_error(exc, document, json.dumps(doc).encode()) from None


def update(store: Store, cid: str, changes: dict[str, object],
           document: str = "resources") -> None:
    cdir, state, status = load(store, cid, lock=True)
    try:
        if status in (STOPPED, CREATING):
            raise NotRunning(cid)
        mgr = cgroup_driver.from_state(state.cgroup)
        if mgr is None and has_none(state.cgroup):
            raise no_cgroup_error(cid, "update")
        if mgr is None:
            raise CgroupError("container {id} has no cgroup", id=cid)
        changes = drop_unset(changes)  # engines' zeroes: leave those limits as they are
        decode(changes, document)  # errors point into what the caller wrote
        if "devices" in changes:
            log.warning("{document}: devices are not updated on a live container; "
                        "ignored", document=document)
            changes = {k: v for k, v in changes.items() if k != "devices"}
        given = given_fields(changes)
        if not given:
            return
        merged = merge(mgr.resources or {}, changes)
        res = decode(merged, document)
        translation = translate(res, mgr.where, prefix="", only=given, document=document)
        for warning in translation.warnings:
            log.warning("{warning}", warning=warning)
        mgr.apply(translation, updating=True)
        mgr.resources = merged
        cg = dict(state.cgroup or {})
        cg.update(mgr.to_state())
        state.cgroup = cg
        cdir.write_state(state)
    finally:
        cdir.close()

