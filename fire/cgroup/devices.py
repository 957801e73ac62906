"""``linux.resources.devices``: from an ordered rule list to one allow/deny state.

Pure.  The spec gives rules in order, each overriding what came before.  Neither
kernel interface takes that list as is: cgroup v1's ``devices.allow/deny`` keeps a
*default* (allow or deny everything) plus a list of exceptions, and cgroup v2 has no
files at all (an eBPF program decides, ``fire.cgroup.devfilter``).  So the rules are
first *emulated* here into that normal form, the way runc does it:

* a wildcard rule (type ``a``, any major/minor) resets everything: new default,
  no exceptions;
* a rule whose action differs from the default adds an exception (permissions of
  the same device merge);
* a rule with the default's action removes permissions from an exception of
  exactly that device.  Removing them from *part* of a wider exception ("deny
  c 1:11" after "allow c 1:* rwm") cannot be expressed by cgroup v1 (the kernel
  silently ignores it), so it is refused rather than leaving the device open.

Both backends then write the same normal form, so v1 and v2 containers see the
same devices.  The emulation starts from "deny everything", and runc's default
rules (``DEFAULT_RULES``) are appended after the config's, as runc does, so a
config that denies all still gets /dev/null, a terminal, and ``mknod``.

Our one extension: a type ``a`` rule that names a major or minor is not a reset
(v1 would treat it as one and open every device); it stands for the same rule for
``c`` and for ``b``.
"""

from __future__ import annotations

from fire.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from fire.spec.config import DeviceRule

WILDCARD = -1
ACCESS = "rwm"


class Rule:
    """One device cgroup rule: ``type`` c/b/a, major/minor (-1 = any), access ⊆ rwm."""

    __slots__ = ("access", "allow", "major", "minor", "type")

    def __init__(self, type: str, major: int, minor: int, access: str, allow: bool) -> None:
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access
        self.allow = allow

    def v1(self) -> str:
        """The line cgroup v1's devices.allow/deny takes: ``c 1:3 rwm``."""
        def num(n: int) -> str:
            return "*" if n == WILDCARD else str(n)
        if self.type == "a":
            return "a"
        return f"{self.type} {num(self.major)}:{num(self.minor)} {self.access}"

    def __repr__(self) -> str:
        return f"Rule({'allow' if self.allow else 'deny'} {self.v1()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rule) and (self.type, self.major, self.minor, self.access,
                                            self.allow) == (other.type, other.major,
                                                            other.minor, other.access,
                                                            other.allow)

    def __hash__(self) -> int:
        return hash((self.type, self.major, self.minor, self.access, self.allow))


# runc's AllowedDevices (libcontainer/specconv): appended after the config's rules.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("c", WILDCARD, WILDCARD, "m", True),  # mknod of any device (opening is checked)
    Rule("b", WILDCARD, WILDCARD, "m", True),
    Rule("c", 1, 3, "rwm", True),  # /dev/null
    Rule("c", 1, 8, "rwm", True),  # /dev/random
    Rule("c", 1, 7, "rwm", True),  # /dev/full
    Rule("c", 5, 0, "rwm", True),  # /dev/tty
    Rule("c", 1, 5, "rwm", True),  # /dev/zero
    Rule("c", 1, 9, "rwm", True),  # /dev/urandom
    Rule("c", 136, WILDCARD, "rwm", True),  # /dev/pts/*
    Rule("c", 5, 2, "rwm", True),  # /dev/ptmx
)


def _access(text: str) -> str:
    """Normalised (ordered, unique) permissions."""
    return "".join(c for c in ACCESS if c in text)


class DeviceState:
    """The normal form: a default action and exceptions keyed by (type, major, minor)."""

    def __init__(self, default_allow: bool = False) -> None:
        self.default_allow = default_allow
        self.exceptions: dict[tuple[str, int, int], str] = {}

    def apply(self, rule: Rule, where: str = "") -> None:
        if rule.type == "a" and rule.major == WILDCARD and rule.minor == WILDCARD:
            self.default_allow = rule.allow
            self.exceptions.clear()
            return
        if rule.type == "a":
            for t in ("c", "b"):
                self.apply(Rule(t, rule.major, rule.minor, rule.access, rule.allow), where)
            return
        key = (rule.type, rule.major, rule.minor)
        if rule.allow != self.default_allow:
            self.exceptions[key] = _access(self.exceptions.get(key, "") + rule.access)
            return
        for wider in ((rule.type, WILDCARD, rule.minor), (rule.type, rule.major, WILDCARD),
                      (rule.type, WILDCARD, WILDCARD)):
            if wider == key:
                continue
            held = self.exceptions.get(wider, "")
            if any(c in held for c in rule.access):
                shown = Rule(wider[0], wider[1], wider[2], held, not rule.allow).v1()
                raise ConfigError(where, "{rule!r} cannot be carved out of the wider rule "
                                  "{wider!r} (cgroup v1 cannot express it); list the devices "
                                  "one by one instead", rule=rule.v1(), wider=shown)
        left = _access("".join(c for c in self.exceptions.get(key, "") if c not in rule.access))
        if left:
            self.exceptions[key] = left
        else:
            self.exceptions.pop(key, None)

    def rules(self) -> list[Rule]:
        """The exceptions as rules (all with the action opposite to the default), in
        the order the config first named each device: the spec applies entries in
        the listed order, and v1's devices.list then shows them so (the kernel adds
        each new exception at the end and merges a repeated one in place)."""
        return [Rule(t, major, minor, access, not self.default_allow)
                for (t, major, minor), access in self.exceptions.items()]

    def allows(self, type: str, major: int, minor: int, access: str) -> bool:
        """What cgroup v1 decides for a request (tests check the eBPF program
        against it): an allow exception must cover every bit asked for; a deny
        exception denies as soon as it covers one of them."""
        for (t, ma, mi), held in self.exceptions.items():
            if t != type or ma not in (WILDCARD, major) or mi not in (WILDCARD, minor):
                continue
            if self.default_allow and any(c in held for c in access):
                return False
            if not self.default_allow and all(c in held for c in access):
                return True
        return self.default_allow


def from_spec(rules: Sequence[DeviceRule] | None, prefix: str) -> list[Rule]:
    """Check and convert the config's rules (``prefix`` is their JSON path)."""
    out: list[Rule] = []
    for i, r in enumerate(rules or []):
        where = f"{prefix}[{i}]"
        access = r.access if r.access else ACCESS  # v1's meaning of an omitted access
        if any(c not in ACCESS for c in access):
            raise ConfigError(f"{where}.access", "expected letters of 'rwm', got {access!r}",
                              access=access)
        numbers = []
        for name, value in (("major", r.major), ("minor", r.minor)):
            if value is None:
                value = WILDCARD
            if value < WILDCARD or value > 0xFFFF_FFFF:
                raise ConfigError(f"{where}.{name}", "expected a device number or -1 (any), "
                                  "got {value}", value=value)
            numbers.append(value)
        out.append(Rule(r.type or "a", numbers[0], numbers[1], _access(access), r.allow))
    return out


def emulate(rules: Iterable[Rule], prefix: str = "", with_defaults: bool = True) -> DeviceState:
    """The normal form of ``rules`` (+ runc's defaults), starting from deny-all."""
    state = DeviceState(default_allow=False)
    for i, rule in enumerate(rules):
        state.apply(rule, f"{prefix}[{i}]" if prefix else "")
    if with_defaults:
        for rule in DEFAULT_RULES:
            try:
                state.apply(rule, prefix)
            except ConfigError:
                # A default inside a wider deny of the config's ("allow a", then
                # "deny c 1:* rwm"): the config's explicit deny wins.
                continue
    return state
