"""Device rules: the emulation into one normal form and the eBPF program built from it."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from fire.cgroup import devfilter
from fire.cgroup.devices import DEFAULT_RULES, WILDCARD, Rule, emulate, from_spec
from fire.errors import ConfigError
from fire.spec.config import DeviceRule


def rules(*docs: dict[str, object]) -> list[Rule]:
    return from_spec([msgspec.convert(d, type=DeviceRule) for d in docs], "$.devices")


def test_deny_all_then_defaults() -> None:
    state = emulate(rules({"allow": False, "access": "rwm"}))
    assert not state.default_allow
    assert set(state.rules()) == {r for r in DEFAULT_RULES}
    assert state.allows("c", 136, 7, "rw")  # /dev/pts/7
    assert not state.allows("b", 8, 0, "r")
    assert state.allows("b", 8, 0, "m")


def test_later_rules_override_earlier_ones() -> None:
    state = emulate(rules({"allow": False, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rw"},
                          {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "w"}),
                    with_defaults=False)
    assert state.allows("c", 1, 11, "r")
    assert not state.allows("c", 1, 11, "w")


def test_allow_all_is_a_blacklist() -> None:
    state = emulate(rules({"allow": True, "access": "rwm"},
                          {"allow": False, "type": "c", "major": 1, "minor": 11}))
    assert state.default_allow
    assert [r.v1() for r in state.rules()] == ["c 1:11 rwm"]
    assert not state.allows("c", 1, 11, "r")
    assert state.allows("c", 1, 3, "r")
    assert state.allows("b", 8, 0, "rw")


def test_a_hole_in_a_wider_rule_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        emulate(rules({"allow": False, "access": "rwm"},
                      {"allow": True, "type": "c", "major": 1, "access": "rwm"},
                      {"allow": False, "type": "c", "major": 1, "minor": 11, "access": "r"}),
                "$.devices")
    assert err.value.where == "$.devices[2]"


def test_type_a_with_numbers_means_both_types() -> None:
    state = emulate(rules({"allow": True, "type": "a", "major": 7, "access": "r"}),
                    with_defaults=False)
    assert state.allows("c", 7, 1, "r")
    assert state.allows("b", 7, 1, "r")
    assert not state.allows("b", 8, 1, "r")


@pytest.mark.parametrize(("doc", "where"), [
    ({"allow": True, "access": "rwx"}, "$.devices[0].access"),
    ({"allow": True, "type": "c", "major": -3}, "$.devices[0].major"),
])
def test_bad_rules(doc: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as err:
        rules(doc)
    assert err.value.where == where


def test_v1_lines() -> None:
    assert Rule("c", 1, WILDCARD, "rw", True).v1() == "c 1:* rw"
    assert Rule("a", WILDCARD, WILDCARD, "rwm", False).v1() == "a"


# --------------------------------------------------------------------------- eBPF

CASES = [
    rules({"allow": False, "access": "rwm"}),
    rules({"allow": False, "access": "rwm"},
          {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "r"}),
    rules({"allow": True, "access": "rwm"},
          {"allow": False, "type": "b", "major": 8, "access": "w"}),
    rules({"allow": True, "type": "c", "major": 10, "access": "rwm"},
          {"allow": True, "type": "b", "minor": 3, "access": "m"}),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_program_decides_like_the_emulation(case: int) -> None:
    state = emulate(CASES[case])
    prog = devfilter.program(state)
    assert len(prog) % 8 == 0
    for type_, major, minor, access in itertools.product(
            "cb", (1, 5, 8, 10, 136), (0, 2, 3, 11), ("r", "w", "m", "rw", "rwm")):
        expect = state.allows(type_, major, minor, access)
        got = devfilter.run(prog, type_, major, minor, access)
        assert got == int(expect), (type_, major, minor, access)
