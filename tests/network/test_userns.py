"""A bridged container with a user namespace: its /etc/hosts and /etc/resolv.conf
live in the state directory under ``--root`` (0700), out of the container root's
reach; the runtime clones them and the init attaches them (fire.storage.detached)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from fire.net import hostfiles
from tests.integration.core_support import open_rootfs, userns  # noqa: F401  (a fixture)
from tests.network.conftest import Netns, unique_bridge
from tests.network.test_modes import bridge_annotations

if TYPE_CHECKING:
    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def test_bridge_hosts_files_in_a_user_namespace(fire: Fire, bundle: Bundle, netns: Netns,
                                                open_rootfs: str) -> None:  # noqa: F811
    userns(bundle, open_rootfs)
    bridge = unique_bridge()
    bundle.args("sh", "-c", "id -u; cat /etc/hosts; echo --; cat /etc/resolv.conf")
    bundle.config["annotations"] = bridge_annotations(bridge, "10.213.9.0/24")
    bundle.write()
    cid = fire.unique_id()
    r = fire("run", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    uid, rest = r.out.split("\n", 1)
    hosts, resolv = rest.split("--\n")
    assert uid == "0"
    assert hosts.startswith("127.0.0.1\tlocalhost\n")
    assert f"10.213.9.2\t{bundle.config['hostname']} {cid}" in hosts
    with open(hostfiles.HOST_RESOLV_CONF) as f:
        assert resolv == hostfiles.resolv_conf(f.read()), "not the generated resolv.conf"
    assert not os.path.exists(os.path.join(open_rootfs, "etc", "hosts")), \
        "the read-only image was written"
