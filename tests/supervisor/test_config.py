"""The TOML file: defaults, paths, and errors that name the file and the value's path."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fire.errors import ConfigError, FireError
from fire.supervisor import config as cfg
from fire.supervisor.supervisor import Supervisor

if TYPE_CHECKING:
    from pathlib import Path

EXAMPLE = b"""
[containers.db]
bundle = "/srv/db"
restart = "always"

[containers.web]
bundle = "web"
depends_on = ["db"]
restart = "on-failure"
max_restarts = 3
stop_signal = "TERM"
stop_timeout = 10
forward_signals = ["USR2"]

[containers.web.healthcheck]
command = ["sh", "-c", "test -e /tmp/ready"]
interval = 2
timeout = 1
retries = 3
"""


def test_the_issue_example_decodes() -> None:
    config = cfg.parse(EXAMPLE, "fire.toml", "/etc/fire")
    assert list(config.containers) == ["db", "web"]
    db, web = config.containers["db"], config.containers["web"]
    assert db.bundle == "/srv/db"
    assert web.bundle == "/etc/fire/web", "relative bundles are relative to the file"
    assert (db.restart, db.max_restarts, db.stop_timeout, db.depends_on) == ("always", None, 10.0,
                                                                             [])
    assert (web.restart, web.max_restarts, web.depends_on) == ("on-failure", 3, ["db"])
    assert web.forward_signums == {12}
    assert web.healthcheck is not None
    assert (web.healthcheck.command, web.healthcheck.interval, web.healthcheck.retries) == (
        ["sh", "-c", "test -e /tmp/ready"], 2.0, 3)
    assert config.settings.parallel_starts == 4


@pytest.mark.parametrize(("text", "where", "detail"), [
    (b'[containers.web]\nbundle = "b"\nrestart = "sometimes"', "$.containers.web.restart",
     "unknown value 'sometimes'"),
    (b'[containers.web]\nbundle = "b"\nmax_restarts = -1', "$.containers.web.max_restarts",
     ">= 0"),
    (b'[containers.web]\nrestart = "no"', "$.containers.web.bundle", "required field is missing"),
    (b'[containers.web]\nbundle = "b"\nstop_timeout = "ten"', "$.containers.web.stop_timeout",
     "invalid duration 'ten' (examples: 5s, 500ms, 1m)"),
    (b'[containers.web]\nbundle = "b"\n[containers.web.healthcheck]\ncommand = ["true"]\n'
     b'timeout = "2 s"', "$.containers.web.healthcheck.timeout", "invalid duration '2 s'"),
    (b'[containers.web]\nbundle = "b"\n[containers.web.healthcheck]\ncommand = ["true"]\n'
     b'interval = "0s"', "$.containers.web.healthcheck.interval", "> 0.0"),
    (b'[supervisor]\nstats_interval = "often"', "$.supervisor.stats_interval",
     "invalid duration 'often'"),
    (b'[containers.web]\nbundle = "b"\ncolour = "red"', "$.containers.web",
     "unknown field colour"),
    (b'[containers.web]\nbundle = "b"\n[containers.web.healthcheck]\ncommand = []',
     "$.containers.web.healthcheck.command", "length >= 1"),
    (b'[containers.web]\nbundle = "b"\n[containers.web.healthcheck]\ncommand = ["true"]\n'
     b'interval = 0', "$.containers.web.healthcheck.interval", "> 0.0"),
    (b'[containers.web]\nbundle = "b"\ndepends_on = ["db"]', "$.containers.web.depends_on[0]",
     "no container named 'db'"),
    (b'[containers.web]\nbundle = "b"\nstop_signal = "SIGNOPE"', "$.containers.web.stop_signal",
     "unknown signal"),
    (b'[containers.web]\nbundle = "b"\nforward_signals = ["HUP"]',
     "$.containers.web.forward_signals[0]", "SIGHUP is the supervisor's own (reload)"),
    (b'[containers.web]\nbundle = "b"\nforward_signals = ["KILL"]',
     "$.containers.web.forward_signals[0]", "cannot be caught"),
    (b'[containers."my web"]\nbundle = "b"', "$.containers['my web']", "not a valid container id"),
    (b'[supervisor]\nstats_interval = 0', "$.supervisor.stats_interval", "> 0.0"),
    (b'[containerz.web]\nbundle = "b"', "$.containerz", "unknown table"),
])
def test_errors_name_the_path(text: bytes, where: str, detail: str) -> None:
    with pytest.raises(ConfigError) as info:
        cfg.parse(text, "/etc/fire.toml")
    message = str(info.value)
    assert message.startswith(f"invalid /etc/fire.toml: {where}: "), message
    assert detail in message
    assert "\n" not in message


def test_malformed_toml_is_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        cfg.parse(b"[containers.web\nbundle = 1", "x.toml")
    assert str(info.value).startswith("invalid x.toml: malformed TOML: ")
    assert "line 1" in str(info.value)


def test_a_dependency_cycle_is_refused() -> None:
    text = b"""
[containers.a]
bundle = "a"
depends_on = ["c"]
[containers.b]
bundle = "b"
depends_on = ["a"]
[containers.c]
bundle = "c"
depends_on = ["b"]
"""
    with pytest.raises(ConfigError) as info:
        cfg.parse(text, "f.toml")
    assert "a dependency cycle: a → c → b → a" in str(info.value)


def test_find_cycle() -> None:
    assert cfg.find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) is None
    assert cfg.find_cycle({"a": ["a"]}) == ["a", "a"]


def test_bare_bundles_get_defaults_and_their_directory_name(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    config = cfg.with_bundles(cfg.Config(), [str(tmp_path / "redis") + "/"])
    assert list(config.containers) == ["redis"]
    c = config.containers["redis"]
    assert (c.bundle, c.restart, c.stop_signal, c.healthcheck) == (str(tmp_path / "redis"), "no",
                                                                   "TERM", None)
    with pytest.raises(ConfigError, match="already supervised"):
        cfg.with_bundles(config, [str(tmp_path / "redis")])
    with pytest.raises(ConfigError, match="not a valid container id"):
        cfg.with_bundles(config, [str(tmp_path / "a b")])


def test_load_reads_a_file_and_remembers_it(tmp_path: Path) -> None:
    path = tmp_path / "fire.toml"
    path.write_bytes(b'[containers.x]\nbundle = "x"\n')
    config = cfg.load(str(path))
    assert config.path == str(path)
    assert config.containers["x"].bundle == str(tmp_path / "x")
    with pytest.raises(FireError, match="cannot read"):
        cfg.load(str(tmp_path / "missing.toml"))


def test_containers_compare_equal_when_unchanged() -> None:
    """A reload restarts what changed: equality of the decoded Structs decides."""
    a = cfg.parse(EXAMPLE, "f", "/etc").containers
    b = cfg.parse(EXAMPLE.replace(b"retries = 3", b"retries = 4"), "f", "/etc").containers
    assert a["db"] == b["db"]
    assert a["web"] != b["web"]


def test_stops_follow_the_dependency_edges_in_parallel(tmp_path: Path) -> None:
    """Each unit stops once its dependants are gone; the whole takes the longest
    chain (web → api → db: 3 s), not a sum of levels (solo is not in a level)."""
    import trio
    import trio.testing

    sup = Supervisor(str(tmp_path / "root"), cfg.Config())
    deps = {"db": [], "cache": [], "api": ["db", "cache"], "web": ["api"], "solo": []}
    took = {"db": 1.0, "cache": 0.5, "api": 1.0, "web": 1.0, "solo": 2.5}
    began: dict[str, float] = {}
    ended: dict[str, float] = {}

    class Stopping:
        def __init__(self, cid: str) -> None:
            self.cid = cid

        async def stop(self) -> None:
            began[self.cid] = trio.current_time()
            await trio.sleep(took[self.cid])
            ended[self.cid] = trio.current_time()

    sup.units = {cid: Stopping(cid) for cid in deps}  # type: ignore[misc]

    async def main() -> None:
        await sup.stop_units(list(deps), deps)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert began == {"web": 0, "solo": 0, "api": 1, "db": 2, "cache": 2}
    assert max(ended.values()) == 3, "the longest chain, not 1 + 1 + 2.5"


NET_STORAGE = b"""
[containers.web]
bundle = "/srv/web"
network = "bridge"
bridge = "fire1"
subnet = "10.90.0.0/24"
ports = ["127.0.0.1:8080:80/tcp", "8443:443"]
rootfs = { overlay = true, keep = true }
volumes = ["data:/var/lib/db", "/srv/conf:/etc/app:ro", "tmpfs:/scratch:size=16m"]

[containers.plain]
bundle = "/srv/plain"
rootfs = { overlay = true }
"""


def test_network_and_storage_keys_become_create_flags() -> None:
    """docs/network-storage.md §1's table, row by row."""
    config = cfg.parse(NET_STORAGE)
    assert config.containers["web"].create_flags() == [
        "--network", "bridge", "--bridge", "fire1", "--subnet", "10.90.0.0/24",
        "-p", "127.0.0.1:8080:80/tcp", "-p", "8443:443", "--keep-overlay",
        "-v", "data:/var/lib/db", "-v", "/srv/conf:/etc/app:ro", "-v", "tmpfs:/scratch:size=16m"]
    assert config.containers["plain"].create_flags() == ["--overlay"]
    assert cfg.Container(bundle="/b").create_flags() == [], "nothing set: the bundle decides"
    assert cfg.Container(bundle="/b", rootfs=cfg.Rootfs(keep=True)).create_flags() == [
        "--keep-overlay"], "keep implies the overlay"


def test_a_changed_network_setting_makes_a_different_container() -> None:
    """What a reload compares: the network key is part of the container's settings."""
    a = cfg.parse(b'[containers.w]\nbundle = "/b"\nnetwork = "none"').containers["w"]
    b = cfg.parse(b'[containers.w]\nbundle = "/b"\nnetwork = "host"').containers["w"]
    assert a != b
    assert a == cfg.parse(b'[containers.w]\nbundle = "/b"\nnetwork = "none"').containers["w"]


@pytest.mark.parametrize(("line", "where", "detail"), [
    (b'network = "wifi"', "$.containers.web.network", "'wifi'"),
    (b'ports = ["8080:99999"]', "$.containers.web.ports[0]",
     "'8080:99999': '99999' is not a port number (1-65535)"),
    (b'ports = ["80:80", "nonsense"]', "$.containers.web.ports[1]", "is not a port like"),
    (b'ports = "80:80"', "$.containers.web.ports", "expected array"),
    (b'subnet = "10.1.2.3/24"', "$.containers.web.subnet", "host bits are set"),
    (b'bridge = "a/b"', "$.containers.web.bridge", "not a valid interface name"),
    (b'network = "host"\nports = ["80:80"]', "$.containers.web.ports",
     "only applies to network = \"bridge\", not 'host'"),
    (b'network = "none"\nsubnet = "10.90.0.0/24"', "$.containers.web.subnet", "only applies"),
    (b'rootfs = { overlay = "yes" }', "$.containers.web.rootfs.overlay", "expected bool"),
    (b'rootfs = { size = 3 }', "$.containers.web.rootfs", "unknown field size"),
    (b'volumes = ["data"]', "$.containers.web.volumes[0]", "is not a volume like"),
    (b'volumes = ["relative/dir:/data"]', "$.containers.web.volumes[0]",
     "the source must be an absolute path"),
])
def test_network_and_storage_errors_name_the_path(line: bytes, where: str, detail: str) -> None:
    with pytest.raises(ConfigError) as caught:
        cfg.parse(b'[containers.web]\nbundle = "b"\n' + line + b"\n")
    text = str(caught.value)
    assert text.startswith(f"invalid fire.toml: {where}: "), text
    assert detail in text


def test_durations_are_numbers_or_strings_everywhere() -> None:
    """As docker and compose files write them, and as `fire events --interval` takes them."""
    from fire.container.events import parse_duration as events_parser
    from fire.durations import parse_duration

    assert events_parser is parse_duration, "one shared parser"
    text = b"""
[supervisor]
stats_interval = "500ms"
[containers.web]
bundle = "/b"
stop_timeout = "1m30s"
[containers.web.healthcheck]
command = ["true"]
interval = "2s"
timeout = 1.5
start_period = "1m"
[containers.db]
bundle = "/b"
stop_timeout = 3
"""
    config = cfg.parse(text, "fire.toml")
    assert config.settings.stats_interval == 0.5
    web = config.containers["web"]
    assert web.stop_timeout == 90
    assert web.healthcheck is not None
    assert (web.healthcheck.interval, web.healthcheck.timeout, web.healthcheck.start_period,
            web.healthcheck.retries) == (2, 1.5, 60, 3)
    assert config.containers["db"].stop_timeout == 3
    same = cfg.parse(text.replace(b'"1m30s"', b"90"), "fire.toml")
    assert same.containers["web"] == web, "a reload that only respells a duration changes nothing"


def test_healthcheck_defaults() -> None:
    hc = cfg.Healthcheck(command=["true"])
    assert (hc.interval, hc.timeout, hc.retries, hc.start_period) == (30, 10, 3, 0)


def test_cgroup_manager_systemd_puts_containers_in_a_slice() -> None:
    """Global and per container; the default slice is fire.slice."""
    config = cfg.parse(b'[supervisor]\ncgroup_manager = "systemd"\n'
                       b'[containers.a]\nbundle = "/a"\n'
                       b'[containers.b]\nbundle = "/b"\nslice = "web-x.slice"\n'
                       b'[containers.c]\nbundle = "/c"\ncgroup_manager = "cgroupfs"\n')
    a, b, c = (config.containers[k] for k in "abc")
    assert a.global_flags() == ["--systemd-cgroup"]
    assert a.create_flags() == ["--systemd-slice", "fire.slice"]
    assert b.create_flags() == ["--systemd-slice", "web-x.slice"]
    assert (c.global_flags(), c.create_flags()) == ([], [])
    one = cfg.parse(b'[containers.d]\nbundle = "/d"\ncgroup_manager = "systemd"\n')
    assert one.containers["d"].create_flags() == ["--systemd-slice", "fire.slice"]
    plain = cfg.parse(b'[containers.e]\nbundle = "/e"\n').containers["e"]
    assert (plain.global_flags(), plain.create_flags()) == ([], [])


@pytest.mark.parametrize(("text", "where"), [
    (b'[supervisor]\nslice = "fire"\n[containers.a]\nbundle = "/a"\n', "$.supervisor.slice"),
    (b'[containers.a]\nbundle = "/a"\nslice = "a--b.slice"\n', "$.containers.a.slice"),
    (b'[containers.a]\nbundle = "/a"\ncgroup_manager = "sd"\n', "$.containers.a.cgroup_manager"),
])
def test_bad_cgroup_settings_name_the_path(text: bytes, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        cfg.parse(text)
    assert str(caught.value).startswith(f"invalid fire.toml: {where}: "), str(caught.value)
