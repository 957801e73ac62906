"""The supervisor's TOML file, decoded with msgspec into Structs.

::

    [supervisor]                 # optional
    stats_interval = 5           # seconds between cgroup readings (stats events)
    parallel_starts = 4          # `fire create` processes at once
    output_events = 20           # lines of a container's output per second as events
    cgroup_manager = "systemd"   # "cgroupfs" (default) | "systemd": a scope per container
    slice = "fire.slice"         # systemd only: the scopes' slice (default fire.slice)

    [containers.db]              # the key is the container's id in --root
    bundle = "/srv/db"           # relative paths are relative to this file
    restart = "always"           # "no" | "on-failure" | "always"
    max_restarts = 3             # restarts after the first run; unset = unlimited
    depends_on = ["net"]         # started after these run; stopped before them
    stop_signal = "TERM"
    stop_timeout = 10            # seconds, then SIGKILL
    forward_signals = ["USR2"]   # signals the supervisor passes on to the container
    log_max_bytes = 1048576      # output log rotation
    log_files = 3

    network = "bridge"           # "none" | "host" | "bridge" (docs/network-storage.md)
    bridge = "fire0"             # bridge only, optional, like subnet
    subnet = "10.89.0.0/24"
    ports = ["127.0.0.1:5432:5432/tcp"]
    rootfs = { overlay = true, keep = true }   # keep implies overlay
    volumes = ["data:/var/lib/db", "tmpfs:/scratch:size=16m"]
    cgroup_manager = "systemd"   # per container, over [supervisor]'s; slice likewise

    [containers.db.healthcheck]  # runs `fire exec` in the container
    command = ["sh", "-c", "test -e /tmp/ready"]
    interval = 2
    timeout = 1
    retries = 3

The network and storage keys become ``fire create`` flags (``--network``,
``--bridge``, ``--subnet``, ``-p``, ``--overlay``/``--keep-overlay``, ``-v``), which set
the ``run.fire.*`` annotations over the bundle's own: the same contract as ``fire
run``'s.  Each value is checked here with the flags' own checks, so a mistake is
found when the file is read, not at the container's first start.

Errors are config.json's: one line naming the file and the path of the bad value
(``invalid fire.toml: $.containers.web.restart: invalid enum value 'sometimes'``).
msgspec reports a value inside a table of tables as ``$.containers[...]``, so each
container's table is converted on its own and the path completed here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from fire.errors import ConfigError
from fire.signals import table as signals
from fire.spec.load import decode_error
from fire.store import valid_id
from fire.supervisor.files import DEFAULT_LOG_BYTES, DEFAULT_LOG_FILES

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Seconds = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]

# The supervisor's own signals cannot be forwarded; KILL and STOP cannot be caught.
RESERVED_SIGNALS = {"SIGTERM": "stop", "SIGINT": "stop", "SIGHUP": "reload",
                    "SIGUSR1": "status", "SIGCHLD": "reaping", "SIGKILL": "", "SIGSTOP": ""}


class Healthcheck(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    command: Annotated[list[str], msgspec.Meta(min_length=1)]
    interval: Positive = 30.0
    timeout: Positive = 10.0
    retries: Annotated[int, msgspec.Meta(ge=1)] = 3
    start_period: Seconds = 0.0  # failures in this first period do not count


class Rootfs(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    overlay: bool = False  # writes go to an upper layer, discarded at delete
    keep: bool = False  # ...kept across runs (implies overlay)


class Container(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    bundle: str
    restart: Literal["no", "on-failure", "always"] = "no"
    max_restarts: Annotated[int, msgspec.Meta(ge=0)] | None = None
    depends_on: list[str] = msgspec.field(default_factory=list)
    stop_signal: str = "TERM"
    stop_timeout: Seconds = 10.0
    forward_signals: list[str] = msgspec.field(default_factory=list)
    healthcheck: Healthcheck | None = None
    log_max_bytes: Annotated[int, msgspec.Meta(ge=4096)] = DEFAULT_LOG_BYTES
    log_files: Annotated[int, msgspec.Meta(ge=1, le=100)] = DEFAULT_LOG_FILES
    # Fire's own network and storage (None / empty: the bundle's config.json decides)
    network: Literal["none", "host", "bridge"] | None = None
    bridge: str | None = None
    subnet: str | None = None
    ports: list[str] = msgspec.field(default_factory=list)
    rootfs: Rootfs | None = None
    volumes: list[str] = msgspec.field(default_factory=list)
    # The bundle may not exist yet (made later by another tool): wait for it
    # instead of refusing the file.
    wait_for_bundle: bool = False
    # None: the [supervisor] table's (filled in by ``parse``)
    cgroup_manager: CgroupManager | None = None
    slice: str | None = None

    def global_flags(self) -> list[str]:
        """``fire``'s global flags for this container's ``create``."""
        return ["--systemd-cgroup"] if self.cgroup_manager == "systemd" else []

    def create_flags(self) -> list[str]:
        """The ``fire create`` flags of the network, storage and cgroup keys."""
        out: list[str] = []
        if self.cgroup_manager == "systemd" and self.slice:
            out += ["--systemd-slice", self.slice]
        for flag, value in (("--network", self.network), ("--bridge", self.bridge),
                            ("--subnet", self.subnet)):
            if value is not None:
                out += [flag, value]
        for port in self.ports:
            out += ["-p", port]
        if self.rootfs is not None and self.rootfs.keep:
            out.append("--keep-overlay")
        elif self.rootfs is not None and self.rootfs.overlay:
            out.append("--overlay")
        for volume in self.volumes:
            out += ["-v", volume]
        return out

    @property
    def stop_signum(self) -> int:
        return signals.parse(self.stop_signal)

    @property
    def forward_signums(self) -> set[int]:
        return {signals.parse(s) for s in self.forward_signals}


CgroupManager = Literal["cgroupfs", "systemd"]


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    stats_interval: Positive = 5.0
    parallel_starts: Annotated[int, msgspec.Meta(ge=1)] = 4
    output_events: Annotated[int, msgspec.Meta(ge=0)] = 20
    # "systemd": each container a scope fire-ID.scope in ``slice`` (fire.cgroup.systemd)
    cgroup_manager: CgroupManager = "cgroupfs"
    slice: str = "fire.slice"


class Config(msgspec.Struct, kw_only=True, frozen=True):
    """What the supervisor runs: ids in file order (the order they start in, where
    dependencies allow)."""

    containers: dict[str, Container] = msgspec.field(default_factory=dict)
    settings: Settings = msgspec.field(default_factory=Settings)
    path: str | None = None  # the TOML file, for reloads

    def dependants(self, cid: str) -> list[str]:
        return [other for other, c in self.containers.items() if cid in c.depends_on]


def _key_path(base: str, key: str) -> str:
    return f"{base}.{key}" if valid_id(key) else f"{base}[{key!r}]"


def _convert(raw: object, typ: type[Any], where: str, document: str) -> Any:
    try:
        return msgspec.convert(raw, typ)
    except msgspec.ValidationError as exc:
        err = decode_error(exc, document)
        raise ConfigError(where + err.where[1:], err.detail, document,
                          **err.detail_params) from None


# Durations: a number of seconds or a string (``500ms``, ``2s``, ``1m30s``).
SETTINGS_DURATIONS = ("stats_interval",)
CONTAINER_DURATIONS = ("stop_timeout",)
HEALTH_DURATIONS = ("interval", "timeout", "start_period")


def _durations(table: object, keys: tuple[str, ...], where: str, document: str) -> object:
    """``table`` with its duration strings among ``keys`` turned into seconds
    (fire.durations: ``fire events --interval``'s parser); numbers stay as they are."""
    if not isinstance(table, dict) or not any(isinstance(table.get(k), str) for k in keys):
        return table
    from fire.durations import parse_duration
    from fire.errors import UsageError

    out = dict(table)
    for key in keys:
        value = out.get(key)
        if isinstance(value, str):
            try:
                out[key] = parse_duration(value.strip())
            except UsageError as exc:
                raise ConfigError(f"{where}.{key}", exc.template, document,
                                  **exc.params) from None
    return out


def _container_durations(table: object, where: str, document: str) -> object:
    table = _durations(table, CONTAINER_DURATIONS, where, document)
    if isinstance(table, dict) and isinstance(table.get("healthcheck"), dict):
        table = {**table, "healthcheck": _durations(table["healthcheck"], HEALTH_DURATIONS,
                                                    f"{where}.healthcheck", document)}
    return table


def _check_signal(text: str, where: str, document: str) -> str:
    from fire.errors import UsageError

    try:
        return signals.name(signals.parse(text))
    except UsageError as exc:
        raise ConfigError(where, str(exc), document) from None


def _validate(containers: dict[str, Container], document: str) -> None:
    for cid, c in containers.items():
        base = _key_path("$.containers", cid)
        if not valid_id(cid):
            raise ConfigError(base, "not a valid container id (letters, digits and _ + - . only)",
                              document)
        _check_signal(c.stop_signal, f"{base}.stop_signal", document)
        for i, text in enumerate(c.forward_signals):
            where = f"{base}.forward_signals[{i}]"
            name = _check_signal(text, where, document)
            if name in RESERVED_SIGNALS:
                use = RESERVED_SIGNALS[name]
                if use:
                    raise ConfigError(where, "{name} is the supervisor's own ({use}); it cannot "
                                      "be forwarded", document, name=name, use=use)
                raise ConfigError(where, "{name} cannot be caught, so it cannot be forwarded",
                                  document, name=name)
        _validate_net_storage(c, base, document)
        for i, dep in enumerate(c.depends_on):
            if dep not in containers:
                raise ConfigError(f"{base}.depends_on[{i}]", "no container named {dep!r}",
                                  document, dep=dep)
            if dep == cid:
                raise ConfigError(f"{base}.depends_on[{i}]", "a container cannot depend on "
                                  "itself", document)
    cycle = find_cycle({cid: c.depends_on for cid, c in containers.items()})
    if cycle:
        raise ConfigError(f"{_key_path('$.containers', cycle[0])}.depends_on",
                          "a dependency cycle: {cycle}", document, cycle=" → ".join(cycle))


def _validate_net_storage(c: Container, base: str, document: str) -> None:
    """The network and storage keys, checked as ``fire create`` checks its flags."""
    from fire.net import Invalid as NetInvalid
    from fire.net.settings import check_ifname, check_port_flag, check_subnet_flag
    from fire.storage import Invalid as StorageInvalid
    from fire.storage.settings import check_volume_flag

    checks: list[tuple[str, Callable[[str], object], str]] = []
    if c.bridge is not None:
        checks.append((f"{base}.bridge", check_ifname, c.bridge))
    if c.subnet is not None:
        checks.append((f"{base}.subnet", check_subnet_flag, c.subnet))
    checks += [(f"{base}.ports[{i}]", check_port_flag, p) for i, p in enumerate(c.ports)]
    checks += [(f"{base}.volumes[{i}]", check_volume_flag, v) for i, v in enumerate(c.volumes)]
    for where, check, value in checks:
        try:
            check(value)
        except (NetInvalid, StorageInvalid) as exc:
            raise ConfigError(where, exc.template, document, **exc.params) from None
    if c.network in ("none", "host"):
        for key in ("bridge", "subnet", "ports"):
            if getattr(c, key):
                raise ConfigError(f"{base}.{key}", "only applies to network = \"bridge\", not "
                                  "{mode!r}", document, mode=c.network)


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in ``graph`` (node → the nodes it needs) as [a, b, …, a], or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in graph.get(node, []):
            if colour.get(nxt) == GREY:
                return [*stack[stack.index(nxt):], nxt]
            if colour.get(nxt) == WHITE:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = BLACK
        return None

    for node in graph:
        if colour[node] == WHITE:
            found = visit(node)
            if found:
                return found
    return None


def _check_slice(slice: str, where: str, document: str) -> None:
    """A systemd slice name (``a-b.slice``), checked when the file is read."""
    from fire.cgroup.sdname import expand_slice

    try:
        expand_slice(slice)
    except ConfigError as exc:
        raise ConfigError(where, exc.detail, document, **exc.detail_params) from None


def parse(data: bytes, document: str = "fire.toml", base_dir: str = ".") -> Config:
    """Decode and check a TOML document; relative bundles are taken from ``base_dir``."""
    import tomllib

    try:
        raw = tomllib.loads(data.decode())
    except UnicodeDecodeError:
        raise ConfigError("", "not UTF-8 text", document) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", "malformed TOML: {error}", document, error=str(exc)) from None
    unknown = sorted(set(raw) - {"containers", "supervisor"})
    if unknown:
        raise ConfigError(f"$.{unknown[0]}", "unknown table (expected containers or supervisor)",
                          document)
    settings = _convert(_durations(raw.get("supervisor", {}), SETTINGS_DURATIONS,
                                   "$.supervisor", document), Settings, "$.supervisor", document)
    _check_slice(settings.slice, "$.supervisor.slice", document)
    tables = raw.get("containers", {})
    if not isinstance(tables, dict):
        raise ConfigError("$.containers", "expected a table of containers", document)
    containers: dict[str, Container] = {}
    for cid, table in tables.items():
        where = _key_path("$.containers", cid)
        c: Container = _convert(_container_durations(table, where, document), Container, where,
                                document)
        bundle = os.path.normpath(os.path.join(base_dir, os.path.expanduser(c.bundle)))
        if c.slice is not None:
            _check_slice(c.slice, _key_path("$.containers", cid) + ".slice", document)
        containers[cid] = msgspec.structs.replace(
            c, bundle=os.path.abspath(bundle),
            cgroup_manager=c.cgroup_manager or settings.cgroup_manager,
            slice=c.slice or settings.slice)
    _validate(containers, document)
    return Config(containers=containers, settings=settings)


def load(path: str) -> Config:
    try:
        with open(path, "rb") as f:
            data = f.read((1 << 20) + 1)
    except OSError as exc:
        raise ConfigError("", "cannot read {path}: {reason}", path, path=path,
                          reason=exc.strerror) from None
    if len(data) > 1 << 20:
        raise ConfigError("", "larger than 1 MiB", path)
    config = parse(data, path, os.path.dirname(os.path.abspath(path)))
    return msgspec.structs.replace(config, path=os.path.abspath(path))


def bundle_problem(bundle: str) -> str | None:
    """Why ``bundle`` cannot be created from (a template), or None."""
    if not os.path.isdir(bundle):
        return "no such directory" if not os.path.lexists(bundle) else "not a directory"
    if not os.path.isfile(os.path.join(bundle, "config.json")):
        return "no config.json in it"
    return None


def check_bundles(config: Config, bare: Sequence[str] = ()) -> None:
    """Every bundle exists (unless its container says ``wait_for_bundle``): a
    missing one is an error when the file is read, not a start retried for ever.
    ``bare``: the BUNDLE arguments (named by their path, not the file's)."""
    given = {os.path.abspath(b).rstrip("/") for b in bare}
    for cid, c in config.containers.items():
        if c.wait_for_bundle:
            continue
        problem = bundle_problem(c.bundle)
        if problem is None:
            continue
        if c.bundle in given or config.path is None:
            raise ConfigError("", problem, c.bundle)
        raise ConfigError(f"{_key_path('$.containers', cid)}.bundle", "{path}: " + problem,
                          config.path, path=c.bundle)


def with_bundles(config: Config, bundles: list[str]) -> Config:
    """Add bare BUNDLE arguments: defaults, id = the bundle directory's name."""
    containers = dict(config.containers)
    for bundle in bundles:
        path = os.path.abspath(bundle)
        cid = os.path.basename(path.rstrip("/"))
        if not valid_id(cid):
            raise ConfigError("", "{cid!r} is not a valid container id (it is the bundle's "
                              "directory name)", bundle, cid=cid)
        if cid in containers:
            raise ConfigError("", "a container named {cid!r} is already supervised", bundle,
                              cid=cid)
        containers[cid] = Container(bundle=path)
    return msgspec.structs.replace(config, containers=containers)
