"""Decoding config.json (no root): every error names its JSON path, nothing else
escapes as an exception, unknown properties are ignored."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fire.errors import ConfigError
from fire.spec.default import default_spec
from fire.spec.load import MAX_CONFIG_BYTES, decode_spec, read_config

if TYPE_CHECKING:
    from pathlib import Path


def good() -> dict[str, Any]:
    cfg = default_spec(args=["true"], terminal=False)
    return json.loads(json.dumps(cfg))  # type: ignore[no-any-return]


def decode(cfg: object) -> Any:
    return decode_spec(json.dumps(cfg).encode())


def error_of(cfg: object) -> str:
    with pytest.raises(ConfigError) as info:
        decode(cfg)
    return str(info.value)


def test_the_default_spec_decodes() -> None:
    spec = decode(good())
    assert spec.process.args == ["true"]
    assert spec.linux.namespaces[0].type == "pid"
    assert spec.mounts[0].destination == "/proc"


def test_unknown_properties_are_ignored() -> None:
    cfg = good()
    cfg["vendorThing"] = {"x": [1, 2]}
    cfg["process"]["newField"] = 3
    cfg["linux"]["resources"]["future"] = True
    assert decode(cfg).process.args == ["true"]


@pytest.mark.parametrize(("path", "value", "expected"), [
    (["process", "user", "uid"], -1, "$.process.user.uid: expected int >= 0, got -1"),
    (["process", "user", "uid"], 2**32, "$.process.user.uid: expected int <= 4294967295"),
    (["process", "user", "gid"], "0", "$.process.user.gid: expected int, got str"),
    (["process", "args"], "sh", "$.process.args: expected array, got str"),
    (["process", "terminal"], 1, "$.process.terminal: expected bool, got int"),
    (["process", "oomScoreAdj"], 1001, "$.process.oomScoreAdj: expected int <= 1000"),
    (["process", "rlimits", 0, "soft"], 2**64, "$.process.rlimits[0].soft: expected int <= "
                                                "18446744073709551615, got 18446744073709551616"),
    (["linux", "namespaces", 0, "type"], "bogus", "$.linux.namespaces[0].type: unknown value "
                                                  "'bogus'"),
    (["linux", "namespaces"], {}, "$.linux.namespaces: expected array, got object"),
    (["linux", "resources", "pids"], {"limit": -2}, "$.linux.resources.pids.limit: expected int >= -1"),
    (["linux", "resources", "memory"], {"swappiness": 101},
     "$.linux.resources.memory.swappiness: expected int <= 100"),
    (["linux", "devices"], [{"path": "/dev/x", "type": "q"}], "$.linux.devices[0].type: unknown value"),
    (["mounts", 1, "options"], "nosuid", "$.mounts[1].options: expected array, got str"),
    (["root"], [], "$.root: expected object, got array"),
    (["hostname"], 5, "$.hostname: expected str, got int"),
    (["annotations"], {"a": 1}, "$.annotations[...]: expected str, got int"),
])
def test_wrong_values_name_their_path(path: list[Any], value: object, expected: str) -> None:
    cfg = good()
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert error_of(cfg).startswith("invalid config.json: " + expected)


@pytest.mark.parametrize(("drop", "expected"), [
    (["ociVersion"], "$.ociVersion: required field is missing"),
    (["root", "path"], "$.root.path: required field is missing"),
    (["mounts", 0, "destination"], "$.mounts[0].destination: required field is missing"),
    (["process", "rlimits", 0, "hard"], "$.process.rlimits[0].hard: required field is missing"),
])
def test_missing_fields(drop: list[Any], expected: str) -> None:
    cfg = good()
    node = cfg
    for key in drop[:-1]:
        node = node[key]
    del node[drop[-1]]
    assert error_of(cfg) == "invalid config.json: " + expected


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "malformed JSON: input ends early"),
    (b"{", "malformed JSON: input ends early"),
    (b'{"ociVersion": "1.0.0",}', "malformed JSON"),
    (b"\xff", "malformed JSON"),
    (b"[1]", "$: expected object, got array"),
    (b"[" * 5000 + b"]" * 5000, "$: expected object, got array"),
    (b'{"a":' * 5000 + b"1" + b"}" * 5000, "malformed JSON: nested too deeply"),
])
def test_malformed_input(data: bytes, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        decode_spec(data)
    assert expected in str(info.value)


def test_read_config_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot open .*nowhere\.json: No such file"):
        read_config(str(tmp_path / "nowhere.json"))
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(MAX_CONFIG_BYTES + 1)
    with pytest.raises(ConfigError, match="the limit is"):
        read_config(str(big))
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ConfigError, match=r"dir\.json is not a regular file \(a directory\)"):
        read_config(str(tmp_path / "dir.json"))


# ----------------------------------------------------------------------------- properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)
FIELDS = st.sampled_from([
    ("process",), ("process", "user"), ("process", "user", "uid"), ("process", "args"),
    ("process", "env"), ("process", "rlimits"), ("process", "capabilities"),
    ("process", "consoleSize"), ("root",), ("root", "path"), ("mounts",), ("hooks",),
    ("linux",), ("linux", "namespaces"), ("linux", "resources"), ("linux", "devices"),
    ("linux", "sysctl"), ("linux", "seccomp"), ("linux", "uidMappings"),
    ("linux", "timeOffsets"), ("annotations",), ("ociVersion",), ("hostname",),
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=FIELDS, value=JSON)
def test_any_value_anywhere_decodes_or_names_a_path(where: tuple[str, ...], value: object
                                                    ) -> None:
    cfg = good()
    node = cfg
    for key in where[:-1]:
        node = node.setdefault(key, {})
    node[where[-1]] = value
    try:
        decode(cfg)
    except ConfigError as exc:
        text = str(exc)
        assert text.startswith("invalid config.json: $"), text
        assert "\n" not in text


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_decode_or_fail_cleanly(data: bytes) -> None:
    try:
        decode_spec(data)
    except ConfigError as exc:
        text = str(exc)
    else:
        return
    assert text.startswith("invalid config.json: ")
