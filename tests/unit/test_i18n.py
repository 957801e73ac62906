"""The zh_CN catalog is complete and compiled; language selection; rendering."""

from __future__ import annotations

import gettext
import io
from typing import TYPE_CHECKING

import pytest

from fire import i18n
from fire.errors import ConfigError, FireError, NotFound
from fire.locale import catalog

if TYPE_CHECKING:
    from collections.abc import Iterator

PO = catalog.po_path("zh_CN")
MO = PO[:-3] + ".mo"


def zh_entries() -> dict[str, str]:
    with open(PO, encoding="utf-8") as f:
        return catalog.parse_po(f.read(), PO)


def test_the_mo_file_is_compiled_from_the_po_file() -> None:
    with open(MO, "rb") as f:
        assert f.read() == catalog.make_mo(zh_entries()), \
            "run: python -m fire.locale.catalog compile"


def test_every_template_in_the_code_has_a_translation() -> None:
    found, violations = catalog.templates()
    assert violations == [], "user-facing messages must be str.format templates"
    assert len(found) > 50, "the extractor finds the templates"
    entries = zh_entries()
    missing = sorted(t for t in found if not entries.get(t))
    assert missing == [], ("untranslated (python -m fire.locale.catalog missing): "
                           + "; ".join(missing))


def test_translations_use_the_same_placeholders() -> None:
    for template, translation in zh_entries().items():
        if template:
            assert catalog.placeholders(template) == catalog.placeholders(translation), template


def test_engine_matched_phrases_stay_in_the_translation() -> None:
    """Engines match runc's English wording; the Chinese text keeps it."""
    entries = zh_entries()
    for phrase in ("container does not exist", "container not running", "no such process"):
        assert phrase in entries[phrase]
    key = 'exec: "{name}": executable file not found in $PATH'
    assert "executable file not found in $PATH" in entries[key]


def test_gettext_reads_the_compiled_catalog() -> None:
    with open(MO, "rb") as f:
        translations = gettext.GNUTranslations(f)
    assert translations.gettext("container does not exist").startswith("容器不存在")


def test_extractor_flags_f_strings(tmp_path: object) -> None:
    import pathlib

    pkg = pathlib.Path(str(tmp_path)) / "pkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text(
        "class FireError(Exception): pass\n"
        "class MyError(FireError):\n    template = 'my {thing}'\n"
        "def f(x):\n"
        "    raise MyError(f'bad {x}')\n"
        "def g(x):\n"
        "    log.warning('careful with {x}', x=x)\n"
        "    raise MyError('good {x}', x=x)\n")
    found, bad = catalog.templates(str(pkg))
    assert set(found) == {"my {thing}", "careful with {x}", "good {x}"}
    assert len(bad) == 1
    assert "f'bad {x}'" in bad[0]


def test_po_parser_handles_continuations_escapes_and_fuzzy() -> None:
    text = ('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
            '#, fuzzy\nmsgid "skipped"\nmsgstr "no"\n\n'
            'msgid "a \\"quoted\\" "\n"line"\nmsgstr "x"\n"y\\n"\n')
    entries = catalog.parse_po(text)
    assert entries == {"": "Content-Type: text/plain; charset=UTF-8\n",
                       'a "quoted" line': "xy\n"}
    with pytest.raises(ValueError, match="cannot parse"):
        catalog.parse_po("bogus line\n")


def test_mo_round_trip_through_gettext() -> None:
    entries = {"": "Content-Type: text/plain; charset=UTF-8\n", "hello": "你好",
               "b": "second"}
    translations = gettext.GNUTranslations(io.BytesIO(catalog.make_mo(entries)))
    assert translations.gettext("hello") == "你好"
    assert translations.gettext("b") == "second"
    assert translations.gettext("absent") == "absent"


# ----------------------------------------------------------------------------- selection


@pytest.mark.parametrize(("env", "lang"), [
    ({}, ""),
    ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "zh_CN"}, "zh_CN"),
    ({"LANG": "en_US.UTF-8"}, ""),
    ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "C"}, ""),
    ({"LANG": "C", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LC_ALL": "zh_CN.GB18030", "LC_MESSAGES": "C"}, "zh_CN"),
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, ""),
    ({"LC_ALL": "", "LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "zh_TW.UTF-8"}, ""),
])
def test_wanted_language(env: dict[str, str], lang: str) -> None:
    assert i18n.wanted_language(env) == lang


@pytest.fixture
def chinese(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    i18n.reset()
    yield
    i18n.reset()


@pytest.fixture
def english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    i18n.reset()
    yield
    i18n.reset()


@pytest.mark.usefixtures("chinese")
def test_errors_render_in_chinese() -> None:
    assert str(NotFound("x")) == "容器不存在 (container does not exist)"
    err = ConfigError("$.process.cwd", "must be an absolute path, got {path!r}", path="tmp")
    assert str(err) == "无效的 config.json：$.process.cwd: 必须是绝对路径，实际为 'tmp'"


@pytest.mark.usefixtures("english")
def test_errors_render_in_english_by_default() -> None:
    assert str(NotFound("x")) == "container does not exist"
    err = ConfigError("$.process.cwd", "must be an absolute path, got {path!r}", path="tmp")
    assert str(err) == "invalid config.json: $.process.cwd: must be an absolute path, got 'tmp'"


@pytest.mark.usefixtures("english")
def test_render_tolerates_braces_and_bad_params() -> None:
    assert i18n.render("text with {braces}", {}) == "text with {braces}"
    assert i18n.render("needs {x}", {"y": 1}) == "needs {x}"
    assert str(FireError("value {v!r}", v="a")) == "value 'a'"


# ----------------------------------------------------------------------------- cgroup layer

# The translator's helpers take their detail template second; the catalog's extractor
# sees it only through ``N_``, so every call must pass ``N_("literal")`` there.
_CGROUP_HELPERS = {"bad", "warn", "unsupported_v2"}


def test_cgroup_details_are_marked_templates() -> None:
    import ast
    import pathlib

    import fire.cgroup

    bad = []
    for path in sorted(pathlib.Path(fire.cgroup.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _CGROUP_HELPERS and len(node.args) >= 2):
                continue
            arg = node.args[1]
            if not (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name)
                    and arg.func.id == "N_" and len(arg.args) == 1
                    and isinstance(arg.args[0], ast.Constant)):
                bad.append(f"{path.name}:{node.lineno}: {ast.unparse(arg)[:60]}")
    assert bad == [], "pass the detail as N_(\"template\") with named parameters"


@pytest.mark.usefixtures("chinese")
def test_cgroup_translation_errors_render_in_chinese() -> None:
    from fire.cgroup.translate import V1, translate
    from fire.spec.config import CPU, Memory, Resources

    with pytest.raises(ConfigError) as info:
        translate(Resources(cpu=CPU(period=5)), {"cpu": V1})
    assert str(info.value) == ("无效的 config.json：$.linux.resources.cpu.period: "
                               "应为 1000 到 1000000（微秒），实际为 5")
    out = translate(Resources(memory=Memory(kernel=1)), {"memory": V1})
    assert out.warnings == ["$.linux.resources.memory.kernel: 内核已不再支持内核内存限制；已忽略"]


@pytest.mark.usefixtures("english")
def test_cgroup_translation_errors_render_in_english() -> None:
    from fire.cgroup.translate import V1, translate
    from fire.spec.config import CPU, Memory, Resources

    with pytest.raises(ConfigError) as info:
        translate(Resources(cpu=CPU(period=5)), {"cpu": V1})
    assert str(info.value) == ("invalid config.json: $.linux.resources.cpu.period: "
                               "expected 1000 to 1000000 (microseconds), got 5")
    out = translate(Resources(memory=Memory(kernel=1)), {"memory": V1})
    assert out.warnings == ["$.linux.resources.memory.kernel: kernel memory limits are no "
                            "longer supported by the kernel; ignored"]
