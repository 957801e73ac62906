"""A container created through the launcher, whose init used the import cache: the
init holds no fd of the cache while it waits (fire/importcache.py, uninstall)."""

from __future__ import annotations

import os

from fire import launcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire


def test_the_waiting_init_holds_no_fd_of_the_import_cache(tmp_path: Path, fire: Fire,
                                                           bundle: Bundle) -> None:
    path = tmp_path / "fire-launcher"
    launcher.write(str(path))
    cache = launcher.cache_path(str(path))
    assert os.path.isfile(cache)
    fire.argv = [str(path)]  # the launcher, as engines run fire
    cid = fire.unique_id()
    fire("create", "--bundle", str(bundle.args("true").write()), cid, check=True)
    pid = fire.state(cid)["pid"]
    fds = os.listdir(f"/proc/{pid}/fd")
    targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds]
    assert len(targets) >= 3  # stdio at least: the listing worked
    assert cache not in targets, targets
    assert not any(t.endswith(".imports") for t in targets), targets
    fire("delete", "--force", cid, check=True)
