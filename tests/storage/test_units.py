"""The pure parts of fire.storage and the create/run flags (no root)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest

from fire.cli import runflags
from fire.cli.args import parse as parse_argv
from fire.errors import ConfigError
from fire.storage.inside import _existing_parent
from fire.storage.settings import Volume, parse, split_volumes

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(("text", "kind", "source", "dest", "options"), [
    ("data:/var/lib/db", "named", "data", "/var/lib/db", []),
    ("/srv/conf:/etc/app:ro", "bind", "/srv/conf", "/etc/app", ["ro"]),
    ("/srv//conf/:/etc/app/./", "bind", "/srv/conf", "/etc/app", []),
    ("tmpfs:/scratch:size=16m,mode=700", "tmpfs", "tmpfs", "/scratch", ["size=16m", "mode=700"]),
])
def test_volume_forms(text: str, kind: str, source: str, dest: str, options: list[str]) -> None:
    vol = Volume.parse(text)
    assert (vol.kind, vol.source, vol.dest, vol.options) == (kind, source, dest, options)


@pytest.mark.parametrize(("text", "message"), [
    ("data", "is not a volume like"),
    ("a:b:c:d", "is not a volume like"),
    (":/x", "is not a volume like"),
    ("data:x", "absolute path"),
    ("data:/", "cannot replace the root"),
    ("data://", "cannot replace the root"),
    ("./rel:/x", "the source must be"),
    ("-x:/x", "the source must be"),
    ("/srv:/x:size=1m", "unknown option"),
    ("tmpfs:/x:tmpcopyup", "not supported"),
])
def test_bad_volumes(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Volume.parse(text)


def test_volume_lists() -> None:
    assert split_volumes('["a:/a", "tmpfs:/t:size=1m,mode=700"]') == [
        "a:/a", "tmpfs:/t:size=1m,mode=700"]
    assert split_volumes("a:/a; tmpfs:/t:size=1m,mode=700;") == [
        "a:/a", " tmpfs:/t:size=1m,mode=700"]
    with pytest.raises(ValueError, match="JSON array of strings"):
        split_volumes("[1, 2]")


def test_storage_settings() -> None:
    assert parse({"run.fire.network": "none"}) is None
    assert parse({"run.fire.overlay": "false"}) is None
    keep = parse({"run.fire.overlay.keep": "true"})
    assert keep is not None
    assert keep.overlay, "keep implies the overlay"
    vols = parse({"run.fire.volumes": "a:/a;b:/b"})
    assert vols is not None
    assert [str(v) for v in vols.volumes] == ["a:/a", "b:/b"]
    assert not vols.overlay
    with pytest.raises(ConfigError, match=r'run\.fire\.overlay.*not true or false'):
        parse({"run.fire.overlay": "maybe"})
    with pytest.raises(ConfigError, match="two volumes are mounted on /a"):
        parse({"run.fire.volumes": "a:/a;tmpfs:/a/"})


def test_flags_set_the_annotations() -> None:
    argv = ["--network", "bridge", "-p", "8080:80", "--publish", "127.0.0.1:53:53/udp",
            "--keep-overlay", "-v", "data:/db", "--volume", "tmpfs:/t:size=1m,mode=700",
            "--subnet", "10.7.0.0/24", "--bridge", "br7", "ID"]
    parsed = parse_argv(argv, runflags.OPTIONS)
    out = runflags.annotations_of(parsed)
    assert out == {
        "run.fire.network": "bridge", "run.fire.bridge": "br7", "run.fire.subnet": "10.7.0.0/24",
        "run.fire.ports": "8080:80,127.0.0.1:53:53/udp", "run.fire.overlay": "true",
        "run.fire.overlay.keep": "true",
        "run.fire.volumes": json.dumps(["data:/db", "tmpfs:/t:size=1m,mode=700"]),
    }
    assert runflags.annotations_of(parse_argv(["ID"], runflags.OPTIONS)) == {}


def test_existing_parent_stays_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "link").symlink_to("/etc")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        assert _existing_parent(fd, "/etc/app/conf") == "/etc"
        assert _existing_parent(fd, "/newtop") == "/"
        assert _existing_parent(fd, "newtop") == "/"
        assert _existing_parent(fd, "/a/b/c") == "/"
        assert _existing_parent(fd, "/link/x") == "/link"  # resolved in the root: /etc
    finally:
        os.close(fd)
