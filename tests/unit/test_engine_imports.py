"""What each engine-path command imports (docs/performance.md: every module costs
start-up time on each call an engine makes).  The budget is runc + 15 ms, and an
interpreter alone takes 7-10 ms, so the light commands must not pull in msgspec,
typing, json or re (through json), and nothing on the engine path may import
the supervisor's libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fire import launcher

# The systemd driver's D-Bus client is loaded only with --systemd-cgroup (or for a
# container state.json says was created with it).
SYSTEMD = {"jeepney", "fire.cgroup.dbus", "fire.cgroup.systemd", "fire.cgroup.sdprops"}
HEAVY = {"trio", "rich", "textual", "pyroute2", "asyncio"} | SYSTEMD
LIGHT_FORBIDDEN = HEAVY | {"msgspec", "typing", "typing_extensions", "json", "re", "enum"}


def imported_by(module: str) -> set[str]:
    code = (f"import sys; sys.path += {launcher.import_path()!r}; import {module}; "
            "print(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True, timeout=60)
    return set(out.stdout.split())


@pytest.mark.parametrize("command", ["state", "kill", "delete", "start", "listing", "ps"])
def test_light_commands_import_no_heavy_module(command: str) -> None:
    assert imported_by(f"fire.cli.{command}") & LIGHT_FORBIDDEN == set()


def test_the_cli_itself_is_light() -> None:
    assert imported_by("fire.cli") & LIGHT_FORBIDDEN == set()


@pytest.mark.parametrize("module", ["fire.cli.create", "fire.cli.run", "fire.container.create",
                                    "fire.container.run"])
def test_create_and_run_defer_msgspec(module: str) -> None:
    """msgspec is imported inside create, after the init is started, so that the
    init's interpreter starts while msgspec loads (fire.container.create)."""
    assert imported_by(module) & (HEAVY | {"msgspec", "typing_extensions"}) == set()


def test_create_imports_the_teardown_only_when_it_needs_it() -> None:
    """``fire.container.destroy`` (and ``select``, which it alone imports on create's
    path) serves only a failed create's undo and the runtime's hooks: ≈0.2 ms of
    every create's start-up otherwise (docs/performance.md, 2026-12-07 late night)."""
    assert imported_by("fire.container.create") & {"fire.container.destroy", "select"} == set()


def test_config_loading_imports_msgspec_without_typing_extensions() -> None:
    mods = imported_by("fire.spec.load")
    assert "msgspec" in mods
    assert "typing_extensions" not in mods  # fire.spec.msgspec_import
    assert "platform" not in mods  # its stand-in answered uuid, and is gone
    assert "textwrap" not in mods  # deferred until msgspec writes a JSON schema
    # msgspec's introspection and JSON-schema modules load on first use, not on
    # every create (the decoder needs neither)
    assert {"msgspec.inspect", "msgspec._json_schema"} & mods == set()
    assert "datetime" not in mods  # its C half (_datetime) is what msgspec's core uses


def test_msgspec_works_after_the_light_import_and_the_stand_ins_are_gone() -> None:
    """uuid still works, platform and textwrap are the real modules afterwards,
    msgspec's JSON schema (the one user of the deferred textwrap) still dedents, and
    its deferred introspection and schema modules load when first used."""
    code = "\n".join([
        f"import sys; sys.path += {launcher.import_path()!r}",
        "from fire.spec.msgspec_import import msgspec",
        "import uuid, platform, textwrap",
        "u = uuid.uuid4()",
        "assert msgspec.json.decode(msgspec.json.encode(u), type=uuid.UUID) == u",
        "assert platform.system() == 'Linux' and platform.machine()",
        "assert textwrap.dedent('  a') == 'a'",
        "class S(msgspec.Struct):",
        "    '''Title.",
        "",
        "        More.'''",
        "    a: int",
        "print(msgspec.json.schema(S)['$defs']['S']['description'])",
        "assert msgspec.json.schema_components((S,))[1]['S']['title'] == 'S'",
        "assert msgspec.inspect.type_info(int) == msgspec.inspect.IntType()",
        "import msgspec.inspect as mi; assert mi is msgspec.inspect and mi.__file__",
        "import datetime, _datetime",
        "assert datetime is not _datetime and datetime.datetime is _datetime.datetime",
        "d = datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)",
        "assert msgspec.json.decode(msgspec.json.encode(d), type=datetime.datetime) == d",
        "assert msgspec.json.decode(b'\"P1D\"', type=datetime.timedelta).days == 1",
    ])
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Title.\n\nMore."


def test_the_init_imports_neither_msgspec_nor_typing() -> None:
    assert imported_by("fire.init.main") & (LIGHT_FORBIDDEN - {"enum"}) == set()
