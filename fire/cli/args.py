"""A small command-line parser for the engine path (argparse costs ~13 ms to import).

runc's conventions: ``--opt value`` and ``--opt=value`` (the containerd shim sends
``--format=json``), ``-b DIR``, booleans as ``--flag`` or ``--flag=true|false``.
Options may be interspersed with positional arguments, except where a command says
``stop_at_positional`` (``exec``: everything after the container id belongs to the
command that runs in it).
"""

from __future__ import annotations

from fire.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class Opt:
    __slots__ = ("convert", "default", "dest", "help", "metavar", "multi", "names", "value")

    def __init__(self, *names: str, value: bool = False, multi: bool = False,
                 default: object = None, dest: str | None = None,
                 convert: Callable[[str], object] | None = None, help: str = "",
                 metavar: str = "VALUE") -> None:
        self.names = names
        self.value = value  # takes a value
        self.multi = multi  # may repeat; collects a list
        self.default = [] if multi and default is None else (
            False if not value and default is None else default)
        self.dest = dest or names[-1].lstrip("-").replace("-", "_")
        self.convert = convert
        self.help = help
        self.metavar = metavar


class Parsed:
    def __init__(self, values: dict[str, object], args: list[str]) -> None:
        self.values = values
        self.args = args

    def __getattr__(self, name: str) -> object:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def text(self, name: str) -> str | None:
        v = self.values.get(name)
        return None if v is None else str(v)

    def flag(self, name: str) -> bool:
        return bool(self.values.get(name))

    def number(self, name: str, default: int = 0) -> int:
        v = self.values.get(name)
        return default if v is None else int(v)  # type: ignore[call-overload]

    def items(self, name: str) -> list[str]:
        v = self.values.get(name)
        return [str(x) for x in v] if isinstance(v, list) else []


def _bool(text: str, name: str) -> bool:
    low = text.lower()
    if low in ("true", "1", "yes", "t"):
        return True
    if low in ("false", "0", "no", "f"):
        return False
    raise UsageError("invalid boolean value {value!r} for {name}", value=text, name=name)


def parse(argv: list[str], options: list[Opt], stop_at_positional: bool = False) -> Parsed:
    by_name = {n: o for o in options for n in o.names}
    values: dict[str, object] = {o.dest: (list(o.default) if isinstance(o.default, list)
                                          else o.default) for o in options}
    args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-" or (stop_at_positional and args):
            args.append(arg)
            if stop_at_positional:
                args.extend(argv[i:])
                break
            continue
        name, eq, inline = arg.partition("=")
        opt = by_name.get(name)
        if opt is None:
            raise UsageError("unknown option {name}", name=name)
        if opt.value:
            if eq:
                raw = inline
            elif i < len(argv):
                raw = argv[i]
                i += 1
            else:
                raise UsageError("option {name} needs a value", name=name)
            try:
                val: object = opt.convert(raw) if opt.convert else raw
            except ValueError:
                raise UsageError("invalid value {value!r} for {name}", value=raw,
                                 name=name) from None
        else:
            val = _bool(inline, name) if eq else True
        if opt.multi:
            values[opt.dest].append(val)  # type: ignore[attr-defined]
        else:
            values[opt.dest] = val
    return Parsed(values, args)


def usage(command: str, synopsis: str, options: list[Opt]) -> str:
    lines = [f"usage: fire {command} {synopsis}".rstrip()]
    for o in options:
        names = ", ".join(o.names)
        if o.value:
            names += f" {o.metavar}"
        lines.append(f"  {names:<32} {o.help}")
    return "\n".join(lines)
