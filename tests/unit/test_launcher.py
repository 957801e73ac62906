"""The fire launcher (fire/launcher.py): isolated, and it still finds Fire."""

from __future__ import annotations

import os
import subprocess

from fire import __version__, launcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def test_launcher_runs_fire_and_ignores_the_callers_python_environment(tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    # Code an engine's environment could smuggle into a runtime running as root.
    (evil / "sitecustomize.py").write_text("print('injected')\n")
    (evil / "fire").mkdir()
    (evil / "fire" / "__init__.py").write_text("print('shadowed')\n")
    path = tmp_path / "fire"
    launcher.write(str(path))
    assert path.read_text().startswith("#!")
    assert os.access(path, os.X_OK)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(evil),
           "PYTHONSTARTUP": str(evil / "sitecustomize.py"), "PYTHONINSPECT": "1"}
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, env=env,
                         cwd=str(evil), stdin=subprocess.DEVNULL, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"fire version {__version__}\n")
    assert "injected" not in out.stdout + out.stderr
    assert "shadowed" not in out.stdout + out.stderr


def test_the_launchers_flags_are_the_interpreter_flags(tmp_path: Path) -> None:
    """The shebang packs fire.INTERPRETER_FLAGS into the one argument Linux passes."""
    from fire import INTERPRETER_FLAGS

    path = tmp_path / "fire"
    launcher.write(str(path))
    shebang = path.read_text().splitlines()[0]
    flags = shebang.split(" ", 1)[1]
    assert " " not in flags
    assert flags == "-IS" + "".join(INTERPRETER_FLAGS[2:]).replace("-X", "X")
    code = "import sys; print(sys.flags.isolated, sys.flags.no_site, sys._xoptions)"
    out = subprocess.run([shebang[2:].split(" ")[0], flags, "-c", code], capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout.strip().split(None, 2) == ["1", "1", "{'frozen_modules': 'on'}"]


def test_import_path_starts_with_the_package_parent() -> None:
    paths = launcher.import_path()
    assert os.path.isfile(os.path.join(paths[0], "fire", "cli", "__init__.py"))
    assert any(p.endswith("site-packages") for p in paths[1:])
