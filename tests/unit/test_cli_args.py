"""The engine path's argv parser (fire.cli.args) and global option split: runc's
conventions, no root."""

from __future__ import annotations

import pytest

from fire.cli import _split_globals
from fire.cli.args import Opt, parse
from fire.errors import UsageError

OPTS = [
    Opt("-b", "--bundle", value=True, default="."),
    Opt("--pid-file", value=True),
    Opt("--preserve-fds", value=True, default=0, convert=int),
    Opt("-d", "--detach"),
    Opt("-e", "--env", value=True, multi=True),
]


def test_defaults() -> None:
    p = parse(["id"], OPTS)
    assert p.args == ["id"]
    assert p.text("bundle") == "."
    assert p.number("preserve_fds") == 0
    assert not p.flag("detach")
    assert p.items("env") == []


@pytest.mark.parametrize("argv", [
    ["--bundle", "/b", "id"], ["--bundle=/b", "id"], ["-b", "/b", "id"], ["id", "-b", "/b"],
    ["-b=/b", "id"],
])
def test_value_forms(argv: list[str]) -> None:
    p = parse(argv, OPTS)
    assert p.text("bundle") == "/b"
    assert p.args == ["id"]


def test_flags_and_booleans() -> None:
    assert parse(["-d"], OPTS).flag("detach")
    assert parse(["--detach=true"], OPTS).flag("detach")
    assert not parse(["--detach=false"], OPTS).flag("detach")
    with pytest.raises(UsageError, match="invalid boolean value 'maybe' for --detach"):
        parse(["--detach=maybe"], OPTS)


def test_conversion_and_repeats() -> None:
    p = parse(["--preserve-fds", "3", "-e", "A=1", "--env=B=2"], OPTS)
    assert p.number("preserve_fds") == 3
    assert p.items("env") == ["A=1", "B=2"]
    with pytest.raises(UsageError, match="invalid value 'x' for --preserve-fds"):
        parse(["--preserve-fds", "x"], OPTS)


def test_errors() -> None:
    with pytest.raises(UsageError, match="unknown option --nope"):
        parse(["--nope"], OPTS)
    with pytest.raises(UsageError, match="option --pid-file needs a value"):
        parse(["--pid-file"], OPTS)


def test_double_dash_and_stop_at_positional() -> None:
    assert parse(["--", "-weird-id"], OPTS).args == ["-weird-id"]
    p = parse(["-d", "id", "sh", "-c", "x"], OPTS, stop_at_positional=True)
    assert p.args == ["id", "sh", "-c", "x"]
    assert p.flag("detach")


def test_global_options_split() -> None:
    head, rest = _split_globals(["--root", "/r", "--log=/l", "--debug", "create", "--bundle",
                                 "b", "id"])
    assert head == ["--root", "/r", "--log=/l", "--debug"]
    assert rest == ["create", "--bundle", "b", "id"]
    assert _split_globals(["state", "x"]) == ([], ["state", "x"])
