"""The launcher's import cache: the compiled code of the engine path in one file.

Why: every ``fire`` command is a fresh interpreter, and ``create`` imports about 80
Python modules (Fire's, msgspec's, the standard library's).  For each, the normal
import system walks ``sys.path`` and then opens, reads, checks and closes the
module's ``.pyc``: about 35 µs of Python-level work and system calls per module on
the VM we measure on, ≈3 ms of every ``create`` (docs/performance.md).  This cache
holds the same compiled code for those modules in one file, read once; the
module's own code still runs as before (as PyOxidizer's in-memory importer does,
on a smaller scale).

What stays exactly as the normal import: each cached module is loaded by a
``SourceFileLoader`` for its own source file (``__file__``, ``__spec__``, source
lines in tracebacks, resources); only ``get_code`` answers from the cache, and only
when the source file still has the size and modification time it had when the cache
was written — the check a ``.pyc`` gets.  A module not in the cache, an edited
source, a cache written by another Python, or a cache file that is not the
caller's own and private to it (anyone else able to write it could make Fire run
their code): the normal import, silently.

``python -m fire.launcher PATH`` writes the cache next to the launcher
(``PATH.imports``) by importing what the engine-path commands import in a fresh
interpreter with the launcher's flags and path (``write``).  The launcher calls
``install`` before it imports ``fire.cli``; so does the container's init, before
its own imports, and it closes the cache (``uninstall``) once they are done
(``fire.container.spawn``).
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import CodeType, ModuleType

# The classes behind importlib.machinery: loaded with the interpreter, where
# ``import importlib.machinery`` would cost ≈1 ms (it imports ``warnings``).
_external = sys.modules["_frozen_importlib_external"]

# What a cache file starts with: our format, then this interpreter's bytecode magic
# (a cache from another Python version is never used).
FORMAT = b"fire-import-cache-1\n"
HEADER = FORMAT + _external.MAGIC_NUMBER

# The modules whose imports are cached: every engine-path command's module, what
# those commands import when they run, and the container's init.
ENGINE_PATH = (
    "fire.cli", "fire.cli.create", "fire.cli.start", "fire.cli.run", "fire.cli.state",
    "fire.cli.kill", "fire.cli.delete", "fire.cli.listing", "fire.cli.exec", "fire.cli.ps",
    "fire.cli.pause", "fire.cli.update", "fire.cli.events", "fire.cli.features",
    "fire.container.create", "fire.container.start", "fire.container.run",
    "fire.container.kill", "fire.container.delete", "fire.container.exec",
    "fire.spec.load", "fire.cgroup.translate", "fire.security.setup", "fire.init.main",
    "fire.init.join",
)

# The path installed in this process (the init's spawn passes it on), or None.
active: str | None = None

# name -> (is a package, source path, source mtime in ns, source size,
#          offset of its marshalled code after the index, and its length)
Entry = tuple[bool, str, int, int, int, int]

# The file: HEADER, the index's length (8 bytes, little-endian), the marshalled
# index (name -> Entry), then each module's marshalled code.  Only the index is read
# at start-up; a module's code is read (pread) when the module is imported, so a
# command pays for what it imports, not for the whole cache.
LENGTH_BYTES = 8

_CODE = type((lambda: None).__code__)  # types.CodeType, without importing types


class CachedLoader(_external.SourceFileLoader):  # type: ignore[misc, name-defined]
    """A source file's loader whose code comes from the cache while the source is
    unchanged."""

    def __init__(self, fullname: str, path: str, cache: Cache, entry: Entry) -> None:
        super().__init__(fullname, path)
        self.cache = cache
        self.entry = entry

    def get_code(self, fullname: str) -> CodeType | None:
        code = self.cache.code(self.entry)
        return code if code is not None else super().get_code(fullname)


class Cache:
    """First on ``sys.meta_path``: answers for the cached modules, passes on the rest."""

    def __init__(self, fd: int, index: dict[str, Entry], base: int) -> None:
        self.fd = fd  # close-on-exec; open for the process's life (imports are lazy)
        self.index = index
        self.base = base  # where the code starts: the end of the index

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        entry = self.index.get(fullname)
        if entry is None:
            return None
        is_package, source = entry[0], entry[1]
        return _external.spec_from_file_location(  # type: ignore[no-any-return]
            fullname, source, loader=CachedLoader(fullname, source, self, entry),
            submodule_search_locations=[os.path.dirname(source)] if is_package else None)

    def code(self, entry: Entry) -> CodeType | None:
        """The module's code, or None when its source changed (or the read failed)."""
        _, source, mtime, size, offset, length = entry
        try:
            st = os.stat(source)
            if st.st_mtime_ns != mtime or st.st_size != size:
                return None
            data = os.pread(self.fd, length, self.base + offset)
            code = marshal.loads(data) if len(data) == length else None
            return code if isinstance(code, _CODE) else None
        except (OSError, EOFError, ValueError, TypeError):
            return None


def _trusted(st: os.stat_result) -> bool:
    """Ours (or root's) and writable by no one else: the trust a .pyc has."""
    return st.st_uid in (0, os.geteuid()) and not st.st_mode & 0o022


def _read_index(fd: int) -> tuple[dict[str, Entry], int] | None:
    """The index of the cache open at ``fd`` and where its code starts, or None if
    the file is not ours alone or not a cache for this interpreter."""
    if not _trusted(os.fstat(fd)):
        return None
    head = os.read(fd, len(HEADER) + LENGTH_BYTES)
    if head[:len(HEADER)] != HEADER or len(head) != len(HEADER) + LENGTH_BYTES:
        return None
    length = int.from_bytes(head[len(HEADER):], "little")
    table = os.read(fd, length)
    index = marshal.loads(table) if len(table) == length else None
    return (index, len(head) + length) if isinstance(index, dict) else None


def load(path: str) -> Cache | None:
    """The cache at ``path``, or None if it is missing, foreign or not ours alone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        found = _read_index(fd)
    except (OSError, EOFError, ValueError, TypeError):
        found = None
    if found is None:
        os.close(fd)
        return None
    return Cache(fd, *found)


def install(path: str) -> bool:
    """Serve imports from the cache at ``path`` in this process, if it is usable."""
    global active
    cache = load(path)
    if cache is None:
        return False
    sys.meta_path.insert(0, cache)
    active = path
    return True


def uninstall() -> None:
    """Stop serving from the cache and close it: the container's init, once its own
    imports are done, holds no host file into the container (and imports nothing
    more from the host afterwards, see fire.init.main)."""
    global active
    for finder in [f for f in sys.meta_path if isinstance(f, Cache)]:
        sys.meta_path.remove(finder)
        os.close(finder.fd)
    active = None


def collect(modules: tuple[str, ...] = ENGINE_PATH) -> dict[str, tuple[bool, str, int, int, bytes]]:
    """Import ``modules`` here and compile every pure-Python module that came with
    them: name -> (is a package, source, mtime, size, marshalled code).  Run in a
    fresh interpreter started as the launcher starts ``fire``."""
    before = set(sys.modules)
    for name in modules:
        __import__(name)
    entries: dict[str, tuple[bool, str, int, int, bytes]] = {}
    for name in sorted(set(sys.modules) - before):
        spec = getattr(sys.modules[name], "__spec__", None)  # typing.io has none
        source = getattr(spec, "origin", None)
        if not isinstance(source, str) or not source.endswith(".py"):
            continue  # built in, frozen, or an extension module
        with open(source, "rb") as f:
            st = os.fstat(f.fileno())
            code = compile(f.read(), source, "exec", dont_inherit=True)
        is_package = getattr(spec, "submodule_search_locations", None) is not None
        entries[name] = (is_package, source, st.st_mtime_ns, st.st_size, marshal.dumps(code))
    return entries


def write(path: str, python: str, paths: list[str],
          modules: tuple[str, ...] = ENGINE_PATH) -> None:
    """Write the cache of ``modules`` for ``python`` with the import path ``paths``,
    atomically."""
    import subprocess

    from fire import INTERPRETER_FLAGS

    tmp = f"{path}.{os.getpid()}.tmp"
    code = (f"import sys; sys.path += {paths!r}; from fire import importcache; "
            f"importcache._write_collected({tmp!r}, {modules!r})")
    try:
        subprocess.run([python, *INTERPRETER_FLAGS, "-c", code], check=True,
                       stdin=subprocess.DEVNULL)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_collected(path: str, modules: tuple[str, ...]) -> None:
    index: dict[str, Entry] = {}
    codes: list[bytes] = []
    offset = 0  # from the end of the index
    for name, (is_package, source, mtime, size, code) in collect(modules).items():
        index[name] = (is_package, source, mtime, size, offset, len(code))
        codes.append(code)
        offset += len(code)
    table = marshal.dumps(index)
    data = b"".join([HEADER, len(table).to_bytes(LENGTH_BYTES, "little"), table, *codes])
    with open(path, "wb") as f:  # close-on-exec, and complete writes
        os.fchmod(f.fileno(), 0o644)  # whatever the umask
        f.write(data)
