"""Bad input (issue #2 §6): one line naming the field or path, exit 1, no traceback,
and nothing left behind — no state directory, cgroup, mount or process."""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import Bundle, Fire, Result, cgroup_dirs_of

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


def assert_one_line_error(r: Result, *expected: str) -> None:
    assert r.code == 1, r
    assert "Traceback" not in r.err, r.err
    lines = r.err.splitlines()
    assert len(lines) == 1, f"one line on stderr, got {r.err!r}"
    for text in expected:
        assert text in lines[0], (text, lines[0])


def assert_nothing_left(fire: Fire, cid: str) -> None:
    assert fire("state", cid).code == 1
    assert not (fire.root / cid).exists()
    assert cgroup_dirs_of(cid) == []


# ----------------------------------------------------------------------------- config.json

Mutation = "Callable[[dict[str, Any]], None]"


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets ``a.b.0.c`` in the config."""

    def apply(cfg: dict[str, Any]) -> None:
        keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
        node: Any = cfg
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return apply


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(cfg: dict[str, Any]) -> None:
        keys = path.split(".")
        node: Any = cfg
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return apply


def _append(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def apply(cfg: dict[str, Any]) -> None:
        node: Any = cfg
        for key in path.split("."):
            node = node[key]
        node.append(value)

    return apply


BAD_CONFIGS: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("negative uid", _set("process.user.uid", -1),
     ["$.process.user.uid", "expected int >= 0, got -1"]),
    ("uid too large", _set("process.user.uid", 2**32), ["$.process.user.uid"]),
    ("args not a list", _set("process.args", "sh"), ["$.process.args", "expected array"]),
    ("args empty", _set("process.args", []), ["$.process.args"]),
    ("terminal not a bool", _set("process.terminal", "yes"), ["$.process.terminal"]),
    ("root not an object", _set("root", 5), ["$.root", "expected object"]),
    ("ociVersion missing", _drop("ociVersion"), ["$.ociVersion", "required"]),
    ("ociVersion unsupported", _set("ociVersion", "2.0.0"), ["$.ociVersion", "2.0.0"]),
    ("root path missing", _drop("root.path"), ["$.root.path", "required"]),
    ("relative mount destination", _append("mounts", {"destination": "rel/dir",
                                                      "type": "tmpfs", "source": "tmpfs"}),
     ["$.mounts[7].destination", "rel/dir"]),
    ("mount destination wrong type", _set("mounts.0.destination", 7),
     ["$.mounts[0].destination", "expected str"]),
    ("bind without a source", _append("mounts", {"destination": "/x", "options": ["bind"]}),
     ["$.mounts[7].source"]),
    ("unknown namespace", _append("linux.namespaces", {"type": "bogus"}),
     ["$.linux.namespaces[6].type", "bogus"]),
    ("duplicate namespace", _append("linux.namespaces", {"type": "pid"}),
     ["$.linux.namespaces[6].type", "pid", "twice"]),
    ("relative namespace path", _append("linux.namespaces", {"type": "time",
                                                             "path": "proc/1/ns/time"}),
     ["$.linux.namespaces[6].path"]),
    ("user ns without maps", _append("linux.namespaces", {"type": "user"}),
     ["$.linux.uidMappings"]),
    ("rlimit unknown", _set("process.rlimits", [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
     ["$.process.rlimits[0].type", "RLIMIT_BOGUS"]),
    ("rlimit soft above hard", _set("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 10,
                                                         "hard": 1}]),
     ["$.process.rlimits[0]"]),
    ("env without =", _set("process.env", ["PATH=/bin", "JUSTANAME"]),
     ["$.process.env[1]", "JUSTANAME"]),
    ("relative cwd", _set("process.cwd", "tmp"), ["$.process.cwd"]),
    ("hostname without uts", _set("linux.namespaces", [{"type": "mount"}, {"type": "pid"}]),
     ["$.hostname", "uts"]),
    ("host sysctl", _set("linux.sysctl", {"kernel.panic": "1"}), ["$.linux.sysctl.kernel.panic"]),
    ("relative masked path", _set("linux.maskedPaths", ["proc/kcore"]),
     ["$.linux.maskedPaths[0]"]),
    ("device without major", _set("linux.devices", [{"path": "/dev/x", "type": "c"}]),
     ["$.linux.devices[0]"]),
    ("device bad type", _set("linux.devices", [{"path": "/dev/x", "type": "z", "major": 1,
                                                "minor": 1}]),
     ["$.linux.devices[0].type"]),
    ("time offsets without time ns", _set("linux.timeOffsets", {"boottime": {"secs": 1}}),
     ["$.linux.timeOffsets"]),
    ("bad propagation", _set("linux.rootfsPropagation", "sideways"),
     ["$.linux.rootfsPropagation", "sideways"]),
    ("relative hook", _set("hooks", {"prestart": [{"path": "bin/true"}]}),
     ["$.hooks.prestart[0].path"]),
    ("memory limit wrong type", _set("linux.resources", {"memory": {"limit": "1g"}}),
     ["$.linux.resources.memory.limit", "expected int"]),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), BAD_CONFIGS,
                         ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_one_line_naming_the_path(fire: Fire, bundle: Bundle, name: str,
                                                mutate: Callable[[dict[str, Any]], None],
                                                expected: list[str]) -> None:
    mutate(bundle.config)
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert_one_line_error(r, "invalid config.json", *expected)
    assert_nothing_left(fire, cid)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"ociVersion": ', "malformed JSON"),
    ('{"ociVersion": "1.0.0",}', "malformed JSON"),
    ("", "malformed JSON"),
    ("[1, 2]", "$: expected object"),
    ("null", "$: expected object"),
    ("\xff\xfe", "malformed JSON"),
    ("[" * 100000, "$"),
])
def test_malformed_json(fire: Fire, bundle: Bundle, text: str, expected: str) -> None:
    (bundle.path / "config.json").write_text(text, errors="surrogateescape")
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert_one_line_error(r, "invalid config.json", expected)
    assert_nothing_left(fire, cid)


def test_unknown_properties_are_ignored(fire: Fire, bundle: Bundle) -> None:
    bundle.config["somethingNew"] = {"a": 1}
    bundle.config["process"]["futureField"] = [1, 2]
    bundle.config["linux"]["notYetInTheSpec"] = True
    bundle.args("true").write()
    assert fire("run", "-b", str(bundle.path), fire.unique_id()).code == 0


def test_missing_rootfs(fire: Fire, bundle: Bundle) -> None:
    bundle.config["root"] = {"path": "no-such-rootfs"}
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert_one_line_error(r, "$.root.path", str(bundle.path / "no-such-rootfs"))
    assert_nothing_left(fire, cid)


def test_missing_bundle_and_config(fire: Fire, tmp_path: Path) -> None:
    cid = fire.unique_id()
    r = fire("create", "-b", str(tmp_path / "nowhere"), cid)
    assert_one_line_error(r, str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    r = fire("create", "-b", str(tmp_path / "empty"), cid)
    assert_one_line_error(r, str(tmp_path / "empty" / "config.json"))
    assert_nothing_left(fire, cid)


@pytest.mark.parametrize("kind", ["fifo", "socket", "device", "directory"])
def test_config_that_is_not_a_regular_file(fire: Fire, bundle: Bundle, kind: str) -> None:
    """Refused at once, one line naming the path (a FIFO made create wait forever
    for a writer)."""
    import socket
    import stat

    config = bundle.path / "config.json"
    bundle.write()
    config.unlink()
    if kind == "fifo":
        os.mkfifo(config)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(config))
        sock.close()
    elif kind == "device":
        os.mknod(config, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's
    else:
        config.mkdir()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid, timeout=20)
    assert_one_line_error(r, str(config), "not a regular file")
    assert_nothing_left(fire, cid)


def test_missing_program_leaves_nothing(fire: Fire, bundle: Bundle) -> None:
    bundle.args("/no/such/binary").write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert_one_line_error(r, "/no/such/binary")
    assert_nothing_left(fire, cid)


def test_a_failing_mount_leaves_nothing(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.config["mounts"].append({"destination": "/x", "type": "bind",
                                    "source": str(tmp_path / "absent"), "options": ["bind"]})
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert_one_line_error(r, str(tmp_path / "absent"))
    assert_nothing_left(fire, cid)


def test_debug_shows_the_chain(fire: Fire, bundle: Bundle) -> None:
    bundle.config["process"]["user"]["uid"] = -1
    bundle.write()
    r = fire("--debug", "create", "-b", str(bundle.path), fire.unique_id())
    assert r.code == 1
    assert "Traceback" in r.err
    assert "$.process.user.uid" in r.err.splitlines()[-1]


# ----------------------------------------------------------------------------- ids


@pytest.mark.parametrize("bad", ["a" * 1025, "ü", "a\nb", "/abs", "a:b", "*"])
def test_more_invalid_ids(fire: Fire, bundle: Bundle, bad: str) -> None:
    bundle.write()
    r = fire("create", "-b", str(bundle.path), "--", bad)
    assert_one_line_error(r, "invalid container id")
    assert not fire.root.exists() or os.listdir(fire.root) == []


@pytest.mark.parametrize("command", [["state"], ["start"], ["kill"], ["delete"],
                                     ["delete", "--force"]])
def test_commands_refuse_invalid_ids(fire: Fire, command: list[str]) -> None:
    r = fire(*command, "../escape")
    assert_one_line_error(r, "invalid container id")


def test_twenty_parallel_creates_of_one_id(fire: Fire, bundle: Bundle) -> None:
    """Exactly one wins, the others say it exists, and the winner is unharmed."""
    bundle.args("sh", "-c", "echo winner ran").write()
    cid = fire.unique_id()
    results: list[Result] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def one() -> None:
        barrier.wait()
        r = fire("create", "-b", str(bundle.path), cid, timeout=120)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.code == 0]
    losers = [r for r in results if r.code != 0]
    assert len(winners) == 1, results
    assert len(losers) == 19
    for r in losers:
        assert_one_line_error(r, "container with id exists", cid)
    st = fire.state(cid)
    assert st["status"] == "created"
    assert os.path.exists(f"/proc/{st['pid']}")
    assert cgroup_dirs_of(cid), "the winner's cgroup is still there"
    assert fire("start", cid).code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert fire("delete", cid).code == 0


# ----------------------------------------------------------------------------- lifecycle errors


def test_lifecycle_errors(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    assert fire("start", cid).code == 0
    assert_one_line_error(fire("start", cid), "cannot start an already running container")
    assert_one_line_error(fire("delete", cid),
                          f"cannot delete container {cid} that is not stopped: running")
    assert fire.state(cid)["status"] == "running", "a refused delete changes nothing"
    assert fire("kill", cid, "KILL").code == 0
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert_one_line_error(fire("kill", cid), "container not running")
    assert_one_line_error(fire("start", cid), "cannot start a container that has stopped")
    assert fire("delete", cid).code == 0
    for command in (["state"], ["start"], ["kill"], ["delete"]):
        assert_one_line_error(fire(*command, cid), "container does not exist")


def test_bad_signal(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    for sig in ("SIGBOGUS", "99", "RTMIN+99", ""):
        assert_one_line_error(fire("kill", cid, sig), "signal")
    assert fire.state(cid)["status"] == "created"


def test_config_without_process_creates_then_fails_at_start(fire: Fire, bundle: Bundle) -> None:
    del bundle.config["process"]
    bundle.write()
    cid = fire.unique_id()
    r = fire("create", "-b", str(bundle.path), cid)
    assert r.code == 0, r
    assert fire.state(cid)["status"] == "created"
    r = fire("start", cid)
    assert_one_line_error(r, "process")
    # The failed start stopped the container and kept it for delete (runc, crun).
    assert fire.wait_status(cid, "stopped")["status"] == "stopped"
    assert_one_line_error(fire("start", cid), "cannot start a container that has stopped")
    assert fire("delete", cid).code == 0
    assert_nothing_left(fire, cid)


@pytest.mark.parametrize("argv", [
    ["create"], ["create", "--bogus", "x"], ["create", "--preserve-fds", "many", "x"],
    ["kill"], ["list", "--format", "yaml"], ["nonsense-command"], ["--log-format", "xml", "list"],
])
def test_usage_errors(fire: Fire, argv: list[str]) -> None:
    assert_one_line_error(fire(*argv))


def test_state_json_corrupt_is_one_line(fire: Fire, bundle: Bundle) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    pid = fire.state(cid)["pid"]
    state_file = fire.root / cid / "state.json"
    good = state_file.read_text()
    state_file.write_text("{not json")
    assert_one_line_error(fire("state", cid), cid, "state")
    state_file.write_text(good)
    json.loads(good)
    assert fire("delete", "--force", cid).code == 0
    assert fire("state", cid).code == 1
    assert not os.path.exists(f"/proc/{pid}/exe")
