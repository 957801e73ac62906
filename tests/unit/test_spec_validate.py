"""Cross-field rules of runtime-spec 1.3 (fire.spec.validate), no root needed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fire.errors import ConfigError
from fire.spec.default import default_spec
from fire.spec.load import decode_spec
from fire.spec.validate import parse_version, sysctl_namespace, validate


def cfg() -> dict[str, Any]:
    return json.loads(json.dumps(default_spec(args=["true"], terminal=False)))  # type: ignore[no-any-return]


def check(config: dict[str, Any]) -> list[str]:
    return validate(decode_spec(json.dumps(config).encode()))


def refused(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        check(config)
    return str(info.value)


def test_the_default_spec_is_valid() -> None:
    assert check(cfg()) == []
    assert check(json.loads(json.dumps(default_spec(rootless=True)))) == []


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.1", "1.3.0",
                                     "1.3.7+build"])
def test_supported_versions(version: str) -> None:
    c = cfg()
    c["ociVersion"] = version
    assert check(c) == []


@pytest.mark.parametrize("version", ["0.5.0", "2.0.0", "1.4.0", "1.0", "latest", ""])
def test_unsupported_versions(version: str) -> None:
    c = cfg()
    c["ociVersion"] = version
    assert "$.ociVersion" in refused(c)


def test_parse_version() -> None:
    assert parse_version("1.2.3-rc1+x") == (1, 2, 3)
    assert parse_version("1.2") is None
    assert parse_version("a.b.c") is None


def mutate(c: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    node: Any = c
    for key in keys[:-1]:
        node = node[key]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return c


DELETE = object()

RULES: list[tuple[str, object, str]] = [
    ("root", DELETE, "$.root: required field is missing"),
    ("root.path", "", "$.root.path: must not be empty"),
    ("linux.namespaces.1", {"type": "pid"}, "$.linux.namespaces[1].type: namespace 'pid' is "
                                            "listed twice"),
    ("linux.namespaces.0", {"type": "pid", "path": "proc/1/ns/pid"},
     "$.linux.namespaces[0].path: must be an absolute path, got 'proc/1/ns/pid'"),
    ("process.args", [], "$.process.args: must name the program to run"),
    ("process.cwd", "work", "$.process.cwd: must be an absolute path, got 'work'"),
    ("process.env", ["=x"], "$.process.env[0]: expected KEY=VALUE, got '=x'"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}] * 2,
     "$.process.rlimits[1].type: RLIMIT_NOFILE is listed twice"),
    ("process.rlimits", [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}],
     "$.process.rlimits[0].type: unknown rlimit 'RLIMIT_FOO'"),
    ("process.rlimits", [{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}],
     "$.process.rlimits[0]: soft limit is above the hard limit"),
    ("mounts.0.destination", "proc", "$.mounts[0].destination: must be an absolute path"),
    ("mounts.0", {"destination": "/x", "options": ["rbind"]}, "$.mounts[0].source"),
    ("mounts.0", {"destination": "/x"}, "$.mounts[0].type: required for a mount that is not"),
    ("hooks", {"poststop": [{"path": "x"}]}, "$.hooks.poststop[0].path: must be an absolute"),
    ("hooks", {"prestart": [{"path": "/x", "timeout": 0}]},
     "$.hooks.prestart[0].timeout: must be greater than zero, got 0"),
    ("linux.uidMappings", [{"containerID": 0, "hostID": 1, "size": 1}],
     "$.linux.uidMappings: id mappings need a user namespace"),
    ("linux.timeOffsets", {"monotonic": {"secs": 1}}, "$.linux.timeOffsets: time offsets need"),
    ("linux.sysctl", {"kernel.panic": "1"}, "$.linux.sysctl.kernel.panic: not a namespaced"),
    ("linux.maskedPaths", ["proc"], "$.linux.maskedPaths[0]: must be an absolute path"),
    ("linux.readonlyPaths", ["/ok", "x"], "$.linux.readonlyPaths[1]: must be an absolute path"),
    ("linux.devices", [{"path": "/", "type": "c", "major": 1, "minor": 1}],
     "$.linux.devices[0].path"),
    ("linux.devices", [{"path": "/dev/x", "type": "b", "major": 1}],
     "$.linux.devices[0]: major and minor are required"),
    ("linux.rootfsPropagation", "weird", "$.linux.rootfsPropagation: unknown propagation"),
]


@pytest.mark.parametrize(("path", "value", "expected"), RULES, ids=[r[0] for r in RULES])
def test_rules(path: str, value: object, expected: str) -> None:
    assert expected in refused(mutate(cfg(), path, value))


def test_user_namespace_needs_maps() -> None:
    c = cfg()
    c["linux"]["namespaces"].append({"type": "user"})
    assert "$.linux.uidMappings" in refused(c)
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert check(c) == []


def test_joined_user_namespace_may_carry_maps() -> None:
    c = cfg()
    c["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert check(c) == []


def test_time_offsets() -> None:
    c = cfg()
    c["linux"]["namespaces"].append({"type": "time"})
    c["linux"]["timeOffsets"] = {"boottime": {"secs": 5}, "monotonic": {"nanosecs": 1}}
    assert check(c) == []
    c["linux"]["timeOffsets"] = {"realtime": {"secs": 5}}
    assert "$.linux.timeOffsets.realtime" in refused(c)


def test_hostname_needs_a_uts_namespace_new_or_joined() -> None:
    c = cfg()
    c["linux"]["namespaces"] = [{"type": "mount"}]
    assert "$.hostname" in refused(c), "without a uts namespace the name is the host's"
    c.pop("hostname")
    c["domainname"] = "x"
    assert "$.domainname" in refused(c)
    # Joined by path, as runc allows (runtime-tools' linux_ns_path sets a hostname so).
    c["linux"]["namespaces"].append({"type": "uts", "path": "/proc/1/ns/uts"})
    c["hostname"] = "y"
    assert check(c) == []


@pytest.mark.parametrize(("key", "namespace"), [
    ("kernel.msgmax", "ipc"), ("kernel.shm_rmid_forced", "ipc"), ("fs.mqueue.queues_max", "ipc"),
    ("net.ipv4.ip_forward", "network"), ("net.core.somaxconn", "network"),
    ("kernel.hostname", "uts"), ("kernel.domainname", "uts"),
    ("kernel.panic", None), ("vm.swappiness", None), ("fs.file-max", None),
])
def test_sysctl_namespaces(key: str, namespace: str | None) -> None:
    assert sysctl_namespace(key) == namespace


def test_sysctl_needs_its_namespace() -> None:
    c = cfg()
    c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    assert check(c) == []
    c["linux"]["namespaces"] = [ns for ns in c["linux"]["namespaces"] if ns["type"] != "network"]
    assert "$.linux.sysctl.net.ipv4.ip_forward: needs a network namespace" in refused(c)


def test_sysctl_in_a_namespace_joined_by_path() -> None:
    """Pure validation accepts it (the sandbox of a Kubernetes pod joins the CNI's
    network namespace by path); create checks that it is not the runtime's own."""
    c = cfg()
    c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1"}
    c["linux"]["namespaces"] = [ns for ns in c["linux"]["namespaces"]
                                if ns["type"] not in ("network", "ipc")]
    c["linux"]["namespaces"] += [{"type": "network", "path": "/var/run/netns/cni-1"},
                                 {"type": "ipc", "path": "/proc/42/ns/ipc"}]
    assert check(c) == []


def test_unknown_capabilities_are_warnings() -> None:
    c = cfg()
    c["process"]["capabilities"]["bounding"].append("CAP_FUTURE")
    warnings = check(c)
    assert warnings == ["$.process.capabilities.bounding: unknown capability CAP_FUTURE, skipped"]


IDMAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


@pytest.mark.parametrize(("mount", "linux_maps", "expected"), [
    ({"destination": "/x", "source": "/s", "options": ["bind", "idmap"],
      "uidMappings": IDMAP, "gidMappings": IDMAP}, False, None),
    ({"destination": "/x", "source": "/s", "options": ["rbind", "ridmap"]}, True, None),
    ({"destination": "/x", "source": "/s", "type": "bind", "uidMappings": IDMAP,
      "gidMappings": IDMAP}, False, None),
    ({"destination": "/x", "source": "/s", "options": ["bind", "idmap"]}, False,
     "$.mounts[0].uidMappings"),
    ({"destination": "/x", "source": "/s", "options": ["bind"], "gidMappings": IDMAP}, False,
     "$.mounts[0].uidMappings: an idmapped mount needs both"),
    ({"destination": "/x", "type": "tmpfs", "options": ["idmap"], "uidMappings": IDMAP,
      "gidMappings": IDMAP}, False, "$.mounts[0].options: idmapped mounts are supported for "
                                    "bind mounts only"),
])
def test_idmapped_mounts(mount: dict[str, Any], linux_maps: bool, expected: str | None) -> None:
    c = cfg()
    c["mounts"] = [mount]
    if linux_maps:
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = IDMAP
        c["linux"]["gidMappings"] = IDMAP
    if expected is None:
        assert check(c) == []
    else:
        assert expected in refused(c)
