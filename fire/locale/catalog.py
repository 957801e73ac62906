"""The message catalogs: compile ``.po`` to ``.mo`` and find untranslated templates,
with nothing but the standard library (no gettext tools needed).

    python -m fire.locale.catalog compile    # every fire/locale/*/LC_MESSAGES/fire.po -> .mo
    python -m fire.locale.catalog missing    # templates in the code without a zh_CN entry,
                                             # as .po entries to paste and translate

What counts as a template (``templates``): the English ``str.format`` strings of
user-facing messages — a ``FireError`` subclass's ``template`` attribute and the
template argument of its constructor (``ConfigError``'s ``detail``,
``SyscallError``'s ``what``), the first argument of ``log.debug/info/warning/error``
and of ``fire.i18n.message``.  An f-string in one of those places cannot be
translated; ``templates`` reports it as a violation.
"""

from __future__ import annotations

import ast
import os
import re
import struct
import sys

LOCALE_DIR = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.dirname(LOCALE_DIR)
DOMAIN = "fire"
MO_MAGIC = 0x950412DE

# ----------------------------------------------------------------------------- .po


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v"}


def _unquote(text: str, where: str) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"{where}: expected a quoted string, got {text!r}")
    out = []
    i = 1
    body = text[:-1]
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in _ESCAPES:
                raise ValueError(f"{where}: unknown escape \\{nxt}")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_po(text: str, name: str = "catalog.po") -> dict[str, str]:
    """msgid -> msgstr of a .po file (singular entries; fuzzy entries are skipped)."""
    entries: dict[str, str] = {}
    msgid: list[str] | None = None
    msgstr: list[str] | None = None
    current: list[str] | None = None
    fuzzy = False
    pending_fuzzy = False

    def flush() -> None:
        nonlocal msgid, msgstr, fuzzy
        if msgid is not None and msgstr is not None and not fuzzy:
            entries["".join(msgid)] = "".join(msgstr)
        msgid = msgstr = None
        fuzzy = False

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{name}:{lineno}"
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#,") and "fuzzy" in line:
                pending_fuzzy = True
            continue
        if line.startswith("msgid "):
            flush()
            fuzzy, pending_fuzzy = pending_fuzzy, False
            msgid = [_unquote(line[6:], where)]
            current = msgid
        elif line.startswith("msgstr "):
            if msgid is None:
                raise ValueError(f"{where}: msgstr without msgid")
            msgstr = [_unquote(line[7:], where)]
            current = msgstr
        elif line.startswith('"'):
            if current is None:
                raise ValueError(f"{where}: a string continues nothing")
            current.append(_unquote(line, where))
        else:
            raise ValueError(f"{where}: cannot parse {line!r}")
    flush()
    return entries


def make_mo(entries: dict[str, str]) -> bytes:
    """The GNU .mo image of ``entries`` (no hash table: readers do not need one)."""
    items = sorted((k.encode(), v.encode()) for k, v in entries.items() if v or not k)
    n = len(items)
    header = 7 * 4
    ids_at = header
    strs_at = ids_at + n * 8
    data_at = strs_at + n * 8
    ids_table = bytearray()
    strs_table = bytearray()
    data = bytearray()
    for key, _ in items:
        ids_table += struct.pack("<II", len(key), data_at + len(data))
        data += key + b"\0"
    for _, value in items:
        strs_table += struct.pack("<II", len(value), data_at + len(data))
        data += value + b"\0"
    head = struct.pack("<IIIIIII", MO_MAGIC, 0, n, ids_at, strs_at, 0, data_at)
    return bytes(head + ids_table + strs_table + data)


def po_path(lang: str) -> str:
    return os.path.join(LOCALE_DIR, lang, "LC_MESSAGES", DOMAIN + ".po")


def languages() -> list[str]:
    return sorted(d for d in os.listdir(LOCALE_DIR)
                  if os.path.exists(po_path(d)))


def compile_all() -> list[str]:
    """Write every language's .mo from its .po; return the paths written."""
    written = []
    for lang in languages():
        with open(po_path(lang), encoding="utf-8") as f:
            entries = parse_po(f.read(), po_path(lang))
        mo = po_path(lang)[:-3] + ".mo"
        with open(mo, "wb") as f:
            f.write(make_mo(entries))
        written.append(mo)
    return written


# ----------------------------------------------------------------------------- templates

_LOG_METHODS = {"debug", "info", "warning", "error"}
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)")


def placeholders(template: str) -> set[str]:
    """The ``{name}`` fields a template uses (a translation must use the same)."""
    return set(_FIELD.findall(template.replace("{{", "").replace("}}", "")))


def _has_words(template: str) -> bool:
    """"{detail}" is a carrier, not a message; only templates with words count."""
    return bool(re.search(r"[A-Za-z]", re.sub(r"\{[^}]*\}", "", template)))


def _error_classes(trees: list[ast.Module]) -> set[str]:
    names = {"FireError"}
    changed = True
    while changed:
        changed = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names:
                    for base in node.bases:
                        base_name = base.id if isinstance(base, ast.Name) else (
                            base.attr if isinstance(base, ast.Attribute) else "")
                        if base_name in names:
                            names.add(node.name)
                            changed = True
    return names


def _callee(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return ""


def _template_args(node: ast.Call, errors: set[str]) -> list[ast.expr]:
    name = _callee(node)
    f = node.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "log":
        return node.args[:1] if name in _LOG_METHODS else []
    if name in ("message", "render", "N_"):
        return node.args[:1]
    if name not in errors or name in ("NotFound", "NotRunning"):
        return []
    if name == "ConfigError":
        args = node.args[1:2]
        args += [k.value for k in node.keywords if k.arg == "detail"]
        return args
    return node.args[:1]


def templates(package: str = PACKAGE_DIR) -> tuple[dict[str, list[str]], list[str]]:
    """(template -> places it is used, violations: f-strings where a template goes)."""
    files: list[tuple[str, ast.Module]] = []
    for base, _dirs, names in os.walk(package):
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(base, name)
                with open(path, encoding="utf-8") as f:
                    files.append((path, ast.parse(f.read(), path)))
    errors = _error_classes([t for _, t in files])
    found: dict[str, list[str]] = {}
    bad: list[str] = []
    for path, tree in files:
        rel = os.path.relpath(path, os.path.dirname(package))
        for node in ast.walk(tree):
            values: list[ast.expr] = []
            if isinstance(node, ast.ClassDef) and node.name in errors:
                for st in node.body:
                    if (isinstance(st, ast.Assign) and isinstance(st.value, ast.Constant)
                            and any(isinstance(t, ast.Name) and t.id == "template"
                                    for t in st.targets)):
                        values.append(st.value)
            elif isinstance(node, ast.Call):
                values = _template_args(node, errors)
            for value in values:
                where = f"{rel}:{getattr(value, 'lineno', 0)}"
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    if _has_words(value.value):
                        found.setdefault(value.value, []).append(where)
                elif isinstance(value, ast.JoinedStr):
                    bad.append(f"{where}: an f-string where a template belongs: "
                               f"{ast.unparse(value)[:80]}")
    return found, bad


def _po_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def missing(lang: str = "zh_CN") -> str:
    """.po entries (empty msgstr) for the templates ``lang`` does not translate."""
    with open(po_path(lang), encoding="utf-8") as f:
        entries = parse_po(f.read(), po_path(lang))
    found, _ = templates()
    out = []
    for template, places in sorted(found.items()):
        if not entries.get(template):
            out.append(f"#: {' '.join(places[:3])}\nmsgid {_po_quote(template)}\nmsgstr \"\"\n")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "compile"
    if command == "compile":
        for path in compile_all():
            print(path)
        return 0
    if command == "missing":
        sys.stdout.write(missing(argv[1] if len(argv) > 1 else "zh_CN"))
        _, bad = templates()
        for line in bad:
            print("# " + line, file=sys.stderr)
        return 0
    print("usage: python -m fire.locale.catalog compile|missing [LANG]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
