"""The installed ``fire`` runs with no PATH and no HOME (podman's cleanup process
calls the runtime that way): the console script must name its interpreter by an
absolute path on its first line."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from tests.engines.conftest import REPO

if TYPE_CHECKING:
    from pathlib import Path


def _check(script: Path, env: dict[str, str]) -> None:
    first = script.read_text().splitlines()[0]
    assert first.startswith("#!/"), f"{script}: {first}"
    r = subprocess.run([str(script), "--version"], env=env, capture_output=True, text=True,
                       timeout=60, cwd="/")
    assert r.returncode == 0, r
    assert r.stdout.startswith("fire version"), "it ran Fire, not PyPI's python-fire"


def test_pips_console_script_runs_without_path_or_home(tmp_path: Path) -> None:
    """The script pip writes for ``[project.scripts] fire`` (pip's own generator)."""
    from pip._vendor.distlib.scripts import ScriptMaker

    maker: Any = ScriptMaker(None, str(tmp_path))  # type: ignore[no-untyped-call]
    maker.executable = sys.executable
    maker.variants = {""}
    maker.make("fire = fire.cli:main")
    # Only the import path is given: no PATH, no HOME.
    _check(tmp_path / "fire", {"PYTHONPATH": str(REPO)})


def test_bin_setups_fire_runs_with_an_empty_environment() -> None:
    script = REPO / ".venv" / "bin" / "fire"
    if not script.exists():
        pytest.skip("bin/setup has not made .venv in this checkout")
    _check(script, {})
