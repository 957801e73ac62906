"""The launcher's import cache (fire/importcache.py): the same modules, faster, and
never code the source no longer says or a file someone else could have written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fire import INTERPRETER_FLAGS, importcache, launcher

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

# Imports ``names`` with the cache at ``cache`` installed (as the launcher does) and
# prints, per module, its value of ``X`` (if any) and whether the cache loaded it.
PROBE = """
import json, sys
sys.path += {paths!r}
from fire import importcache
installed = importcache.install({cache!r})
out = {{"installed": installed}}
for name in {names!r}:
    module = __import__(name, fromlist=["_"])
    out[name] = [getattr(module, "X", None), type(module.__loader__).__name__,
                 module.__file__]
print(json.dumps(out))
"""


def probe(cache: Path, paths: list[str], names: list[str]) -> dict[str, Any]:
    code = PROBE.format(paths=paths, cache=str(cache), names=names)
    out = subprocess.run([sys.executable, *INTERPRETER_FLAGS, "-c", code], check=True,
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def small_package(tmp_path: Path) -> tuple[Path, list[str]]:
    """``pkg`` (a package) and ``pkg.mod`` in tmp_path, cached; the import path."""
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("X = 'package'\n")
    (src / "pkg" / "mod.py").write_text("X = 'cached'\n")
    paths = [str(src), launcher.import_path()[0]]
    cache = tmp_path / "fire.imports"
    importcache.write(str(cache), sys.executable, paths, modules=("pkg.mod",))
    return cache, paths


def test_cached_modules_are_loaded_from_the_cache_as_their_own_files(tmp_path: Path) -> None:
    cache, paths = small_package(tmp_path)
    assert oct(cache.stat().st_mode & 0o777) == "0o644"
    out = probe(cache, paths, ["pkg", "pkg.mod"])
    assert out["installed"] is True
    src = tmp_path / "src" / "pkg"
    assert out["pkg"] == ["package", "CachedLoader", str(src / "__init__.py")]
    assert out["pkg.mod"] == ["cached", "CachedLoader", str(src / "mod.py")]


def test_an_edited_source_is_imported_from_the_source(tmp_path: Path) -> None:
    cache, paths = small_package(tmp_path)
    mod = tmp_path / "src" / "pkg" / "mod.py"
    st = mod.stat()
    mod.write_text("X = 'edited'\n")  # the same size: only the mtime tells
    os.utime(mod, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    out = probe(cache, paths, ["pkg.mod"])
    assert out["pkg.mod"][0] == "edited"


def test_a_cache_others_could_write_or_a_foreign_file_is_not_used(tmp_path: Path) -> None:
    cache, paths = small_package(tmp_path)
    os.chmod(cache, 0o664)
    out = probe(cache, paths, ["pkg.mod"])
    assert out["installed"] is False
    assert out["pkg.mod"][:2] == ["cached", "SourceFileLoader"]  # the normal import
    os.chmod(cache, 0o644)
    data = cache.read_bytes()
    for broken in (b"not a cache", data[:len(importcache.HEADER) + 3],
                   data.replace(importcache.FORMAT, b"fire-import-cache-0\n", 1)):
        cache.write_bytes(broken)
        assert probe(cache, paths, ["pkg.mod"])["installed"] is False


def test_the_launcher_writes_a_cache_of_the_engine_path(tmp_path: Path) -> None:
    path = tmp_path / "fire"
    launcher.write(str(path))
    cache = launcher.cache_path(str(path))
    assert f"install({cache!r})" in path.read_text()
    out = probe(tmp_path / "fire.imports", launcher.import_path(),
                ["fire.cli.create", "fire.spec.load", "fire.init.main", "msgspec", "typing"])
    for name in ("fire.cli.create", "fire.spec.load", "fire.init.main", "msgspec", "typing"):
        assert out[name][1] == "CachedLoader", name
    version = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                             timeout=60, check=True)
    assert version.stdout.startswith("fire version ")


def test_the_inits_program_closes_the_cache_before_it_runs() -> None:
    from fire.container.spawn import boot_code

    assert boot_code("fire.init.main", 5, None).endswith(
        "from fire.init.main import main;main(5)")
    code = boot_code("fire.init.main", 5, "/x/fire.imports")
    assert code.index("install('/x/fire.imports')") < code.index("from fire.init.main")
    assert code.endswith("from fire.init.main import main;uninstall();main(5)")
