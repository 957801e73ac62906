"""Message translation: English by default, Chinese when the locale asks for it.

Messages are English ``str.format`` templates; ``tr`` maps a template to the
catalog's translation (a gettext ``.mo`` under ``fire/locale``).  The language is
decided once, from ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` in POSIX order of
precedence.  ``gettext`` itself is imported only when a translation is wanted, so
the English path costs nothing at start-up.
"""

from __future__ import annotations

import os

DOMAIN = "fire"
LOCALE_DIR = os.path.join(os.path.dirname(__file__), "locale")

_catalog: dict[str, str] | None = None


def wanted_language(environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    """The catalog language the environment selects ("" = English)."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if value:
            return "zh_CN" if value.startswith("zh_CN") else ""
    return ""


def _load() -> dict[str, str]:
    lang = wanted_language()
    if not lang:
        return {}
    import gettext  # only when a translation is wanted

    path = os.path.join(LOCALE_DIR, lang, "LC_MESSAGES", DOMAIN + ".mo")
    try:
        with open(path, "rb") as f:
            translations = gettext.GNUTranslations(f)
    except OSError:
        return {}
    return dict(translations._catalog)  # type: ignore[attr-defined]


def tr(template: str) -> str:
    """The template in the user's language (itself when there is no translation)."""
    global _catalog
    if _catalog is None:
        _catalog = _load()
    if not _catalog:
        return template
    return _catalog.get(template) or template


def render(template: str, params: dict[str, object]) -> str:
    """``template`` translated and formatted with ``params``.

    A translation that does not fit the parameters (a catalog bug) falls back to
    the English template; a template without parameters is not formatted at all,
    so text that merely contains braces passes through.
    """
    text = tr(template)
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError, AttributeError):
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError, AttributeError):
            return template


def message(template: str, **params: object) -> str:
    """A translated one-line message (for warnings built before they are logged)."""
    return render(template, params)


def N_(template: str) -> str:
    """Mark a template kept in a table for extraction (fire.locale.catalog); the
    translation happens where it is used."""
    return template


def reset() -> None:
    """Forget the loaded catalog (tests switch languages)."""
    global _catalog
    _catalog = None
