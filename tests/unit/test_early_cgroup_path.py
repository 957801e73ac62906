"""fire/container/early.py reads linux.cgroupsPath before msgspec: what it accepts."""

from __future__ import annotations

import json

import pytest

from fire.container import early

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(("config", "expected"), [
    ({"linux": {"cgroupsPath": "/a/b"}}, "/a/b"),
    ({"linux": {"cgroupsPath": "rel"}}, "rel"),
    ({"linux": {}}, None),
    ({"linux": {"cgroupsPath": None}}, None),
])
def test_a_path_or_none(tmp_path: Path, config: object, expected: str | None) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert early._cgroups_path(str(tmp_path / "config.json")) == expected


@pytest.mark.parametrize("text", [
    "{not json", "[]", '{"linux": []}', '{"process": {}}', '{"linux": {"cgroupsPath": 7}}',
])
def test_anything_else_leaves_it_to_the_usual_stages(tmp_path: Path, text: str) -> None:
    (tmp_path / "config.json").write_text(text)
    assert early._cgroups_path(str(tmp_path / "config.json")) is early._UNKNOWN


def test_a_missing_file_too(tmp_path: Path) -> None:
    assert early._cgroups_path(str(tmp_path / "config.json")) is early._UNKNOWN
