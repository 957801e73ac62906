"""Message catalogs (gettext ``.po``/``.mo``, domain ``fire``) and the tool that
compiles them: ``python -m fire.locale.catalog compile``."""
