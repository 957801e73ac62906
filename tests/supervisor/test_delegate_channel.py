"""The engine side of the delegation channel (FIRE_DELEGATE_FD, fire.delegate), with
this test as the caller: what `fire create`/`delete` ask, how they take the answers,
and that without a caller (unset, or gone) they run their hooks themselves."""

from __future__ import annotations

import json
import socket
import threading
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import Bundle, Fire, Result

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("no_leaks")]



class Caller:
    """A thread answering one command's requests with ``answer(request)``."""

    def __init__(self, answer: Callable[[dict[str, Any]], dict[str, Any] | None] | None) -> None:
        """``answer`` None: a caller already gone (its end is closed); an answer
        None: the caller goes away holding that request."""
        self.ours, self.theirs = socket.socketpair()
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        if answer is None:
            self.ours.close()
        else:
            self.thread.start()

    def _serve(self) -> None:
        with self.ours, self.ours.makefile("rwb") as f:
            for line in f:
                request = json.loads(line)
                self.requests.append(request)
                assert self.answer is not None
                reply = self.answer(request)
                if reply is None:
                    return
                f.write(json.dumps(reply).encode() + b"\n")
                f.flush()

    def run(self, fire: Fire, *args: str) -> Result:
        fd = self.theirs.fileno()
        try:
            return fire(*args, env={"FIRE_DELEGATE_FD": str(fd)}, pass_fds=(fd,))
        finally:
            self.theirs.close()
            if self.thread.is_alive():
                self.thread.join(10)


def ok(request: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True}


def touching(bundle: Bundle, tmp_path: Path, *phases: str) -> Path:
    """Hooks of ``phases`` that would leave a file if fire ran them itself."""
    mark = tmp_path / "ran-here"
    bundle.config["hooks"] = {p: [{"path": "/bin/sh", "args": ["sh", "-c", f"echo {p} >> {mark}"],
                                   "timeout": 5}] for p in phases}
    bundle.write()
    return mark


def test_create_and_delete_ask_their_caller_to_run_the_runtime_side_hooks(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    mark = touching(bundle, tmp_path, "prestart", "createRuntime", "poststop")
    cid = fire.unique_id()
    caller = Caller(ok)
    r = caller.run(fire, "create", "--bundle", str(bundle.path), cid)
    assert r.code == 0, r
    assert [q["phase"] for q in caller.requests] == ["prestart", "createRuntime"]
    pid = fire.state(cid)["pid"]
    for request in caller.requests:
        assert request["op"] == "hooks"
        assert request["cwd"] == str(bundle.path)
        assert request["hooks"] == [{**bundle.config["hooks"][request["phase"]][0], "env": []}]
        assert json.loads(request["state"]) == {
            "ociVersion": bundle.config["ociVersion"], "id": cid, "status": "created",
            "pid": pid, "bundle": str(bundle.path)}
    warned = Caller(lambda q: {"ok": True, "warnings": [
        {"text": "x", "template": "{name} failed: {reason}{tail}",
         "params": {"name": "poststop hook #0 (/bin/sh)", "reason": "exit status 2", "tail": ""}}]})
    r = warned.run(fire, "delete", "--force", cid)
    assert r.code == 0, r
    assert [q["phase"] for q in warned.requests] == ["poststop"]
    assert json.loads(warned.requests[0]["state"])["status"] == "stopped"
    assert r.err == ("fire: warning: poststop hook #0 (/bin/sh) failed: exit status 2 (a "
                     "poststop hook failure is only a warning; the container is deleted)\n")
    assert not mark.exists(), "fire ran no hook itself"


def test_an_error_answer_fails_create_as_a_hook_failure(fire: Fire, bundle: Bundle,
                                                        tmp_path: Path) -> None:
    touching(bundle, tmp_path, "createRuntime", "poststop")

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        if request["phase"] == "createRuntime":
            return {"ok": False, "error": {"text": "?", "template": "{name} ran past its "
                                           "timeout of {timeout}s",
                                           "params": {"name": "createRuntime hook #0 (/bin/sh)",
                                                      "timeout": "1"}}}
        return {"ok": True}

    cid = fire.unique_id()
    caller = Caller(answer)
    r = caller.run(fire, "create", "--bundle", str(bundle.path), cid)
    assert r.code == 1
    assert r.err == "fire: createRuntime hook #0 (/bin/sh) ran past its timeout of 1s\n"
    assert [q["phase"] for q in caller.requests] == ["createRuntime", "poststop"], (
        "the failed create's teardown asks for the poststop hooks too")
    assert not (fire.root / cid).exists()


def test_without_a_caller_the_command_runs_its_hooks_itself(fire: Fire, bundle: Bundle,
                                                            tmp_path: Path) -> None:
    mark = touching(bundle, tmp_path, "prestart", "poststop")
    cid = fire.unique_id()
    gone = Caller(None)  # the caller is gone before anything is asked
    r = gone.run(fire, "create", "--bundle", str(bundle.path), cid)
    assert r.code == 0, r
    assert mark.read_text() == "prestart\n"
    assert fire("delete", cid).code == 0  # no FIRE_DELEGATE_FD at all
    assert mark.read_text() == "prestart\npoststop\n"


def test_a_caller_that_goes_away_holding_a_request_fails_that_step(
        fire: Fire, bundle: Bundle, tmp_path: Path) -> None:
    touching(bundle, tmp_path, "createRuntime")
    cid = fire.unique_id()

    caller = Caller(lambda request: None)  # the socket closes without an answer
    r = caller.run(fire, "create", "--bundle", str(bundle.path), cid)
    assert r.code == 1
    assert r.err == ("fire: the process that ran fire went away while it held the hooks step\n")
    assert not (fire.root / cid).exists()
