"""runc's log contract (fire.log) and the state record (fire.spec.state), no root."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from fire.log import Logger
from fire.spec.state import CREATED, RUNNING, STOPPED, State, StateError

if TYPE_CHECKING:
    from pathlib import Path


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_failure_leaves_exactly_its_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    log = Logger()
    path = tmp_path / "log"
    log.configure(str(path), "json", debug=False)
    log.warning("careful {x}", x=1)
    log.info("note")
    log.debug("hidden")
    log.finish("it broke")
    (only,) = lines(path)
    assert json.loads(only)["msg"] == "it broke"
    assert json.loads(only)["level"] == "error"
    assert capsys.readouterr().err == "it broke\n"


def test_debug_keeps_everything_before_the_error(tmp_path: Path) -> None:
    log = Logger()
    path = tmp_path / "log"
    log.configure(str(path), "json", debug=True)
    log.debug("stage {name}: {phase}", name="claim", phase="start")
    log.warning("w")
    log.finish("boom")
    got = [json.loads(line) for line in lines(path)]
    assert [(g["level"], g["msg"]) for g in got] == [("debug", "stage claim: start"),
                                                     ("warning", "w"), ("error", "boom")]


def test_success_writes_what_was_logged(tmp_path: Path) -> None:
    log = Logger()
    path = tmp_path / "log"
    log.configure(str(path), "text", debug=False)
    log.warning('quote " and \\ and\nnewline')
    log.finish()
    (line,) = lines(path)
    assert line.endswith('level=warning msg="quote \\" and \\\\ and\\nnewline"')
    assert line.startswith('time="')


def test_nothing_logged_means_no_file(tmp_path: Path) -> None:
    log = Logger()
    log.configure(str(tmp_path / "log"), "json", debug=False)
    log.finish()
    assert not (tmp_path / "log").exists()


def test_text_to_stderr_without_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    log = Logger()
    log.configure(None, "text", debug=False)
    log.warning("w {n}", n=2)
    log.info("i")
    log.finish("e")
    assert capsys.readouterr().err == "fire: warning: w 2\nfire: i\nfire: e\n"


def test_unwritable_log_is_reported_not_raised(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    log = Logger()
    log.configure(str(tmp_path / "no" / "such" / "dir" / "log"), "json", debug=False)
    log.finish("e")
    err = capsys.readouterr().err
    assert "cannot write log" in err
    assert err.endswith("e\n")


# ----------------------------------------------------------------------------- state


def test_state_round_trip() -> None:
    s = State(oci_version="1.3.0", id="c", status=RUNNING, pid=5, pidStart=9, bundle="/b",
              rootfs="/b/r", created="now", owner="", annotations={"a": "b"},
              cgroup={"paths": {}})
    back = State.from_json(s.to_json())
    assert back.to_json() == s.to_json()
    assert back.pid == 5


def test_public_state_is_the_specs_plus_runcs() -> None:
    s = State(oci_version="1.3.0", id="c", status=RUNNING, pid=5, bundle="/b", rootfs="/r",
              created="t", annotations={"k": "v"})
    pub = s.public(RUNNING)
    assert list(pub) == ["ociVersion", "id", "status", "pid", "bundle", "rootfs", "created",
                         "owner", "annotations"]
    assert s.public(STOPPED)["pid"] == 0, "a stopped container has no pid"
    assert s.public(CREATED)["pid"] == 5


def test_public_state_shows_the_cgroup_path_and_the_systemd_unit() -> None:
    s = State(id="c", status=RUNNING, bundle="/b", cgroup={"path": "/c", "created": []})
    assert s.public(RUNNING)["cgroupPath"] == "/c"
    assert "systemdUnit" not in s.public(RUNNING)
    s.cgroup = {"path": "/system.slice/fire-c.scope", "driver": "systemd",
                "unit": "fire-c.scope"}
    assert s.public(RUNNING)["systemdUnit"] == "fire-c.scope"


@pytest.mark.parametrize(("data", "error"), [
    (b"not json", "not valid JSON"),
    (b"[]", "not a JSON object"),
    (b'{"id": "c"}', "bundle: missing"),
    (b'{"id": "c", "bundle": "/b", "pid": "5"}', "pid: expected int"),
    (b'{"id": "c", "bundle": "/b", "pid": true}', "pid: expected int"),
    (b'{"id": "c", "bundle": "/b", "annotations": []}', "annotations: expected dict"),
])
def test_corrupt_state(data: bytes, error: str) -> None:
    with pytest.raises(StateError, match=error):
        State.from_json(data)
