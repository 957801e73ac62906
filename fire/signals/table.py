"""Signal names and numbers (Linux), parsed the way runc and kill(1) accept them:
``TERM``, ``SIGTERM``, ``term``, ``15``, ``RTMIN+3``, ``SIGRTMAX-1``."""

from __future__ import annotations

import _signal

from fire.errors import UsageError

NUMBERS: dict[str, int] = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20,
    "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
    "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}
RTMIN: int = _signal.SIGRTMIN
RTMAX: int = _signal.SIGRTMAX
MAX: int = _signal.NSIG - 1

_PRIMARY: dict[int, str] = {}
for _name, _num in NUMBERS.items():
    _PRIMARY.setdefault(_num, _name)


def parse(text: str, zero: bool = False) -> int:
    """A signal number from a name or number; ``UsageError`` if it is not one.
    With ``zero``, ``0`` too: no signal, only the check that the target lives
    (kill(2); ``runc kill ID 0``)."""
    raw = text.strip()
    if raw.isdigit():
        num = int(raw)
        if (0 if zero else 1) <= num <= MAX:
            return num
        raise UsageError("invalid signal: {text}", text=text)
    name = raw.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in NUMBERS:
        return NUMBERS[name]
    for base, value in (("RTMIN", RTMIN), ("RTMAX", RTMAX)):
        if name == base:
            return value
        if name.startswith(base) and len(name) > len(base) and name[len(base)] in "+-":
            offset = name[len(base) + 1:]
            if offset.isdigit():
                num = value + int(offset) * (1 if name[len(base)] == "+" else -1)
                if RTMIN <= num <= RTMAX:
                    return num
    raise UsageError("unknown signal {text!r}", text=text)


def name(num: int) -> str:
    """``SIGTERM`` for 15, ``SIGRTMIN+3`` for 37."""
    if num in _PRIMARY:
        return "SIG" + _PRIMARY[num]
    if RTMIN <= num <= RTMAX:
        return "SIGRTMIN" if num == RTMIN else f"SIGRTMIN+{num - RTMIN}"
    return str(num)
