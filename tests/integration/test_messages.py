"""What the user and the engines read (issue #2 §3, §6): Chinese messages under a
zh_CN locale, runc's --log/--log-format contract, and the engine path's imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING

import pytest

from tests.conftest import REPO

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Bundle, Fire

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]


# ----------------------------------------------------------------------------- zh_CN


@pytest.mark.parametrize("var", ["LANG", "LC_MESSAGES", "LC_ALL"])
def test_a_failing_command_speaks_chinese(fire: Fire, var: str) -> None:
    r = fire("state", "no-such-container", env={var: "zh_CN.UTF-8"})
    assert r.code == 1
    assert r.err == "fire: 容器不存在 (container does not exist)\n"


def test_config_errors_in_chinese(fire: Fire, bundle: Bundle) -> None:
    bundle.config["process"]["cwd"] = "relative"
    bundle.write()
    r = fire("create", "-b", str(bundle.path), fire.unique_id(), env={"LANG": "zh_CN.UTF-8"})
    assert r.code == 1
    assert r.err == ("fire: 无效的 config.json：$.process.cwd: 必须是绝对路径，"
                     "实际为 'relative'\n")


def test_init_errors_in_chinese(fire: Fire, bundle: Bundle) -> None:
    """An error the container's init reports (it has no catalog) is rendered by the
    runtime from its template."""
    bundle.args("no-such-program").write()
    r = fire("create", "-b", str(bundle.path), fire.unique_id(), env={"LANG": "zh_CN.UTF-8"})
    assert r.code == 1
    assert "在 $PATH 中找不到可执行文件" in r.err
    assert "executable file not found in $PATH" in r.err, "runc's words stay for engines"


def test_start_errors_in_chinese(fire: Fire, bundle: Bundle) -> None:
    del bundle.config["process"]
    bundle.write()
    cid = fire.unique_id()
    assert fire("create", "-b", str(bundle.path), cid).code == 0
    r = fire("start", cid, env={"LANG": "zh_CN.UTF-8"})
    assert r.code == 1
    assert "无法启动" in r.err


def test_english_by_default(fire: Fire) -> None:
    r = fire("state", "no-such-container", env={"LANG": "en_US.UTF-8"})
    assert r.err == "fire: container does not exist\n"


# ----------------------------------------------------------------------------- --log


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_json_log_of_a_failure_is_exactly_its_error(fire: Fire, bundle: Bundle,
                                                    tmp_path: Path) -> None:
    # A warning before the failure (an unknown capability) must not reach the log.
    bundle.process["capabilities"]["bounding"].append("CAP_NOT_A_THING")
    bundle.args("no-such-program").write()
    log = tmp_path / "log.json"
    r = fire("--log", str(log), "--log-format", "json", "create", "-b", str(bundle.path),
             fire.unique_id())
    assert r.code == 1
    lines = log_lines(log)
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert set(entry) == {"level", "msg", "time"}
    assert entry["level"] == "error"
    assert entry["msg"] == 'exec: "no-such-program": executable file not found in $PATH'
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", entry["time"])
    assert r.err.strip() == entry["msg"], "the message goes to stderr too"


def test_json_log_with_debug_ends_with_the_error(fire: Fire, bundle: Bundle,
                                                 tmp_path: Path) -> None:
    bundle.args("no-such-program").write()
    log = tmp_path / "log.json"
    r = fire("--debug", "--log", str(log), "--log-format=json", "create", "-b",
             str(bundle.path), fire.unique_id())
    assert r.code == 1
    entries = [json.loads(line) for line in log_lines(log)]
    assert len(entries) > 1
    assert {e["level"] for e in entries[:-1]} <= {"debug", "info", "warning"}
    assert entries[-1]["level"] == "error"
    assert "executable file not found" in entries[-1]["msg"]


def test_json_log_of_a_success(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.process["capabilities"]["bounding"].append("CAP_NOT_A_THING")
    bundle.args("true").write()
    log = tmp_path / "log.json"
    cid = fire.unique_id()
    assert fire("--log", str(log), "--log-format", "json", "create", "-b", str(bundle.path),
                cid).code == 0
    entries = [json.loads(line) for line in log_lines(log)]
    assert [e["level"] for e in entries] == ["warning"]
    assert "CAP_NOT_A_THING" in entries[0]["msg"]
    assert fire("--log", str(log), "--log-format", "json", "state", cid).code == 0
    assert len(log_lines(log)) == 1, "a quiet success adds nothing"
    assert fire("--log", str(log), "--log-format", "json", "delete", cid).code == 0
    r = fire("--log", str(log), "--log-format", "json", "delete", cid)
    assert r.code == 1
    lines = log_lines(log)
    assert len(lines) == 2, "each command appends; the failure adds one error line"
    assert json.loads(lines[-1]) == {**json.loads(lines[-1]), "level": "error",
                                     "msg": "container does not exist"}


def test_text_log_is_runcs_format(fire: Fire, tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    r = fire("--log", str(log), "state", "missing-one")
    assert r.code == 1
    lines = log_lines(log)
    assert len(lines) == 1
    assert re.fullmatch(r'time="[^"]+" level=error msg="container does not exist"', lines[0])
    assert r.err == "container does not exist\n"


def test_text_log_quotes_like_logrus(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.config["process"]["env"] = ['BAD"NAME']
    bundle.write()
    log = tmp_path / "log.txt"
    assert fire("--log", str(log), "create", "-b", str(bundle.path), fire.unique_id()).code == 1
    (line,) = log_lines(log)
    assert line.endswith('msg="invalid config.json: $.process.env[0]: expected KEY=VALUE, got '
                         "'BAD\\\"NAME'\"")


def test_json_log_on_stderr_without_a_file(fire: Fire) -> None:
    r = fire("--log-format", "json", "state", "missing-one")
    assert r.code == 1
    entry = json.loads(r.err.strip())
    assert entry["level"] == "error"
    assert entry["msg"] == "container does not exist"


def test_json_log_in_chinese(fire: Fire, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    r = fire("--log", str(log), "--log-format", "json", "state", "x", env={"LANG": "zh_CN.UTF-8"})
    assert r.code == 1
    (line,) = log_lines(log)
    assert json.loads(line)["msg"] == "容器不存在 (container does not exist)"
    assert "容器" in line, "UTF-8 in the log, not \\u escapes"


# ----------------------------------------------------------------------------- imports

HEAVY = {"trio", "rich", "textual", "pyroute2", "asyncio"}


def imported(fire: Fire, *args: str) -> tuple[int, set[str]]:
    # A file, not a pipe: a created container keeps the runtime's stderr open.
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "fire", "--root",
                               str(fire.root), *args], stdout=subprocess.DEVNULL, stderr=err,
                              text=True, env=fire.env(), cwd=REPO, timeout=60)
        err.seek(0)
        text = err.read()
    names = set()
    for line in text.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return proc.returncode, names


def test_engine_path_imports(fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    bundle.args("sleep", "100").write()
    cid = fire.unique_id()
    code, names = imported(fire, "create", "-b", str(bundle.path), "--pid-file",
                           str(tmp_path / "pid"), cid)
    assert code == 0
    assert not names & HEAVY, f"create imports {names & HEAVY}"
    assert "msgspec" in names, "create decodes config.json with msgspec (the check works)"
    for args in (["state", cid], ["start", cid], ["list"], ["list", "--format", "json"],
                 ["kill", cid, "KILL"], ["delete", "--force", cid]):
        code, names = imported(fire, *args)
        assert code == 0, args
        assert not names & (HEAVY | {"msgspec"}), f"{args[0]} imports {names & (HEAVY | {'msgspec'})}"
        assert "fire" in names


def test_error_paths_stay_light(fire: Fire) -> None:
    for args in (["state", "missing"], ["kill", "missing"], ["delete", "missing"]):
        code, names = imported(fire, *args)
        assert code == 1
        assert not names & (HEAVY | {"msgspec"}), args
    code, names = imported(fire, "state", "missing")
    assert "gettext" not in names, "English needs no catalog"
