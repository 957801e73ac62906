"""``linux.cgroupsPath`` to the container's path inside each hierarchy."""

from __future__ import annotations

import pytest

from fire.cgroup.manager import resolve_path


@pytest.mark.parametrize(("given", "expected"), [
    (None, "/c1"),
    ("", "/c1"),
    ("/libpod_parent/libpod-abc", "/libpod_parent/libpod-abc"),  # podman's absolute form
    ("//twice/slashed", "/twice/slashed"),  # normpath alone would keep "//"
    ("relative/path", "/relative/path"),
    ("/a/../b", "/b"),
])
def test_one_leading_slash(given: str | None, expected: str) -> None:
    assert resolve_path(given, "c1") == expected
