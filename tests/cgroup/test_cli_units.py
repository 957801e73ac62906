"""Pure helpers of the cgroup commands: sizes, durations, the ps filter, update merges."""

from __future__ import annotations

import pytest

from fire.cli.ps import filter_ps
from fire.cli.update import changes_from, size
from fire.container.events import parse_duration
from fire.container.update import merge
from fire.errors import FireError, UsageError


@pytest.mark.parametrize(("text", "value"), [
    ("4096", 4096), ("32m", 32 << 20), ("32M", 32 << 20), ("1g", 1 << 30), ("512k", 512 << 10),
    ("64MiB", 64 << 20), ("2gb", 2 << 30), ("1.5g", 3 << 29), ("-1", -1)])
def test_size(text: str, value: int) -> None:
    assert size(text) == value


@pytest.mark.parametrize("text", ["", "m", "12x", "-2", "1 2"])
def test_bad_size(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError: the CLI names the flag
        size(text)


@pytest.mark.parametrize(("text", "seconds"), [
    ("5s", 5.0), ("100ms", 0.1), ("1m30s", 90.0), ("1h", 3600.0), ("1.5s", 1.5),
    ("250us", 0.00025)])
def test_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5x", "5s extra"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_flags_become_a_resources_document() -> None:
    values: dict[str, object] = {"memory": "32m", "memory_swap": "-1", "cpu_share": "512",
                                 "cpuset_cpus": "0-1", "pids_limit": "0", "blkio_weight": None}
    assert changes_from(values) == {"memory": {"limit": 32 << 20, "swap": -1},
                                    "cpu": {"shares": 512, "cpus": "0-1"},
                                    "pids": {"limit": 0}}
    with pytest.raises(UsageError, match="--cpu-quota"):
        changes_from({"cpu_quota": "lots"})


def test_merge() -> None:
    old: dict[str, object] = {"memory": {"limit": 1, "swap": 2}, "pids": {"limit": 3},
           "hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}
    new: dict[str, object] = {"memory": {"limit": 5}, "hugepageLimits": []}
    assert merge(old, new) == {"memory": {"limit": 5, "swap": 2}, "pids": {"limit": 3},
                               "hugepageLimits": []}
    assert old["memory"] == {"limit": 1, "swap": 2}, "the old document is not changed"


PS = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         812       1  0 10:00 ?        00:00:00 sleep 100
root         813     812  0 10:00 ?        00:00:00 sh -c echo 1
"""


def test_ps_filter_keeps_the_header_and_the_container_lines() -> None:
    assert filter_ps(PS, [812, 813, 999]).splitlines() == PS.splitlines()[0:1] + \
        PS.splitlines()[2:4]
    assert filter_ps(PS, []).splitlines() == PS.splitlines()[:1]
    with pytest.raises(FireError, match="PID"):
        filter_ps("USER COMMAND\nroot x\n", [1])
