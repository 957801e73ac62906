"""The sync hook runner on real processes (no container, no root needed)."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import pytest

from fire.errors import HookError
from fire.hooks import runner
from tests.hooks.helpers import marker, processes_with

if TYPE_CHECKING:
    from pathlib import Path

    from fire.init.plan import HookPlan


def hook(*args: str, path: str = "/bin/sh", env: list[str] | None = None,
         timeout: float | None = None) -> HookPlan:
    return {"path": path, "args": list(args), "env": env or [], "timeout": timeout}


def test_argv0_env_and_state_are_exactly_given(tmp_path: Path) -> None:
    out = tmp_path / "out"
    state = json.dumps({"id": "c", "status": "creating", "pid": 12}).encode()
    runner.run(hook("not-sh", "-c", f'printf "%s|" "$0" > {out}; cat >> {out}'), state,
               "prestart", 0)
    assert out.read_text() == "not-sh|" + state.decode()
    lines: list[str] = []
    runner.run(hook("env", path="/usr/bin/env", env=["A=1", "B=x=y", "C="]), b"{}",
               "prestart", 1, lines.append)
    assert sorted(lines) == ["prestart hook #1 (/usr/bin/env): A=1",
                             "prestart hook #1 (/usr/bin/env): B=x=y",
                             "prestart hook #1 (/usr/bin/env): C="]


def test_no_args_means_the_path_alone() -> None:
    lines: list[str] = []
    runner.run(hook(path="/bin/true"), b"", "poststop", 0, lines.append)
    assert lines == []
    assert runner.hook_argv(hook(path="/bin/true")) == ["/bin/true"]


def test_a_state_larger_than_a_pipe_arrives_whole() -> None:
    lines: list[str] = []
    runner.run(hook("sh", "-c", "wc -c"), b"x" * 300_000, "prestart", 0, lines.append)
    assert [line.rsplit(" ", 1)[-1] for line in lines] == ["300000"]


def test_a_hook_that_never_reads_its_state_raises_no_sigpipe_here() -> None:
    """Our handler stands in for the init's (which exits) and `fire run`'s (which
    forwards): neither may see the SIGPIPE our write to a closed pipe raises."""
    import signal

    seen: list[int] = []
    previous = signal.signal(signal.SIGPIPE, lambda sig, frame: seen.append(sig))
    try:
        for _ in range(5):
            runner.run(hook("sh", "-c", "exec 0<&-; exit 0"), b"x" * 300_000, "poststart", 0)
            runner.run(hook(path="/bin/true"), b"{}", "poststart", 0)
    finally:
        signal.signal(signal.SIGPIPE, previous)
    assert seen == []


def test_failures_name_the_hook_and_say_why(tmp_path: Path) -> None:
    with pytest.raises(HookError) as exc:
        runner.run(hook("sh", "-c", "echo first; echo 'the reason' >&2; exit 5"), b"",
                   "createRuntime", 3)
    assert str(exc.value) == "createRuntime hook #3 (/bin/sh) failed: exit status 5: the reason"
    with pytest.raises(HookError, match=r"failed: killed by signal 9$"):
        runner.run(hook("sh", "-c", "kill -9 $$"), b"", "poststart", 0)
    with pytest.raises(HookError, match=r"#0 \(/nonexistent\): cannot run it: No such file"):
        runner.run(hook(path="/nonexistent"), b"", "poststart", 0)
    not_executable = tmp_path / "data"
    not_executable.write_text("data")
    not_executable.chmod(0o644)
    with pytest.raises(HookError, match="cannot run it: Permission denied"):
        runner.run(hook(path=str(not_executable)), b"", "poststart", 0)


def test_output_is_kept_up_to_a_limit() -> None:
    lines: list[str] = []
    runner.run(hook("sh", "-c", "yes line | head -c 1000000"), b"", "prestart", 0, lines.append)
    prefix = "prestart hook #0 (/bin/sh): "
    assert all(line.startswith(prefix) for line in lines)
    kept = sum(len(line) - len(prefix) + 1 for line in lines)
    assert runner.MAX_OUTPUT // 2 < kept <= runner.MAX_OUTPUT + 1  # + a last newline


def test_the_wait_ends_with_the_hook_not_with_its_output_pipe() -> None:
    m = marker()
    began = time.monotonic()
    try:
        runner.run(hook("sh", "-c", f"setsid sleep {m} & echo done"), b"", "poststart", 0)
        assert time.monotonic() - began < 5, "a background child holding stdout open"
    finally:
        for pid in processes_with(f"sleep {m}"):
            os.kill(pid, 9)


@pytest.mark.parametrize("script", [
    "sleep {m}",
    "sleep {m} & sleep {m}",
    "setsid sleep {m} & sleep {m}",
    "(setsid sleep {m} &); (sh -c 'sleep {m} &' &); sleep {m}",
    "trap '' TERM HUP INT; sleep {m} & sleep {m}",
])
def test_a_timeout_kills_the_hook_and_everything_it_started(script: str) -> None:
    m = marker()
    began = time.monotonic()
    with pytest.raises(HookError) as exc:
        runner.run(hook("sh", "-c", script.format(m=m), timeout=0.5), b"", "createRuntime", 0)
    assert time.monotonic() - began < 3
    assert str(exc.value) == "createRuntime hook #0 (/bin/sh) ran past its timeout of 0.5s"
    assert processes_with(f"sleep {m}") == []


def test_run_all_poststop_goes_on_after_a_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    warnings: list[str] = []
    hooks = [hook("sh", "-c", "exit 1"), hook(path="/nonexistent"),
             hook("sh", "-c", f"echo ran > {out}")]
    runner.run_all(hooks, b"", "poststop", None, warnings.append)
    assert out.read_text() == "ran\n"
    assert [w.split(" (")[0] for w in warnings] == ["poststop hook #0", "poststop hook #1"]


def test_run_all_fatal_phase_stops_at_the_first_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hooks = [hook("sh", "-c", "exit 1"), hook("sh", "-c", f"echo ran > {out}")]
    with pytest.raises(HookError, match="poststart hook #0"):
        runner.run_all(hooks, b"", "poststart")
    assert not out.exists()
