"""``delete`` of a stopped container does its teardown once: the engine path
waits for it (docs/performance.md).  Killing what is left and removing the cgroup
each used to load the cgroup from state.json (a parse of /proc/self/mountinfo)
and walk every hierarchy's ``cgroup.procs``: twice the work of one, on every
``delete``, for nothing the second pass could find that the first did not kill
(a process that escapes is still killed before each retried ``rmdir``)."""

from __future__ import annotations

import time

import pytest

from fire.cgroup import hierarchy
from fire.cgroup.manager import Manager
from fire.container.delete import delete
from fire.store import Store
from tests.conftest import cgroup_dirs_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


@pytest.mark.parametrize("status", ["created", "stopped"])
def test_delete_reads_the_cgroup_and_walks_its_processes_once(
        fire: Fire, bundle: Bundle, monkeypatch: pytest.MonkeyPatch, status: str) -> None:
    """A created container (its init waits), and a stopped one: the engine path's
    ``delete`` after the container's exit."""
    cid = fire.unique_id()
    bundle.args("true")
    bundle.write()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    if status == "stopped":
        assert fire("start", cid).code == 0
        deadline = time.monotonic() + 10
        while fire.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
            time.sleep(0.01)
    assert fire.state(cid)["status"] == status
    assert cgroup_dirs_of(cid)
    calls = {"mountinfo": 0, "pids": 0}
    parse, pids = hierarchy.parse_mountinfo, Manager.pids

    def counted_parse(text: str) -> list[hierarchy.Hierarchy]:
        calls["mountinfo"] += 1
        return parse(text)

    def counted_pids(self: Manager) -> list[int]:
        calls["pids"] += 1
        return pids(self)

    monkeypatch.setattr(hierarchy, "parse_mountinfo", counted_parse)
    monkeypatch.setattr(Manager, "pids", counted_pids)
    delete(Store(str(fire.root)), cid, force=True)
    assert calls == {"mountinfo": 1, "pids": 1}
    assert cgroup_dirs_of(cid) == []
    assert fire("state", cid).code == 1
