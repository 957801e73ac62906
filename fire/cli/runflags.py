"""``fire create``/``fire run`` flags for Fire's own networking and storage.

Each flag sets one ``run.fire.*`` annotation, overriding config.json's (the
annotations are the contract; docs/network-storage.md).  ``fire-supervise``
passes its TOML settings to ``fire create`` this way.  Engines never use them,
and without them nothing changes.
"""

from __future__ import annotations

from fire.cli.args import Opt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.cli.args import Parsed

# The checks import their modules only when a flag is given: `create` without
# these flags (every engine's) pays nothing for them.


def _mode(text: str) -> str:
    from fire.net.settings import check_mode_flag

    return check_mode_flag(text)


def _subnet(text: str) -> str:
    from fire.net.settings import check_subnet_flag

    return check_subnet_flag(text)


def _port(text: str) -> str:
    from fire.net.settings import check_port_flag

    return check_port_flag(text)


def _volume(text: str) -> str:
    from fire.storage.settings import check_volume_flag

    return check_volume_flag(text)


OPTIONS = [
    Opt("--network", value=True, convert=_mode, metavar="MODE",
        help="none | host | bridge (sets run.fire.network)"),
    Opt("--bridge", value=True, metavar="NAME", help="the host bridge (default fire0)"),
    Opt("--subnet", value=True, convert=_subnet, metavar="CIDR",
        help="the bridge's subnet (default 10.89.0.0/24)"),
    Opt("-p", "--publish", value=True, multi=True, convert=_port,
        metavar="[IP:]HOST:PORT[/PROTO]", help="publish a port (bridge; repeatable)"),
    Opt("--overlay", help="run on an overlay of the rootfs (writes are discarded)"),
    Opt("--keep-overlay", help="an overlay whose upper layer outlives the container"),
    Opt("-v", "--volume", value=True, multi=True, convert=_volume,
        metavar="SRC:DEST[:OPTS]", help="a named, bind or tmpfs volume (repeatable)"),
]


def annotations_of(parsed: Parsed) -> dict[str, str]:
    """The annotations the flags set (the keys are fire.net.settings' and
    fire.storage.settings')."""
    out: dict[str, str] = {}
    for dest in ("network", "bridge", "subnet"):
        value = parsed.text(dest)
        if value is not None:
            out[f"run.fire.{dest}"] = value
    ports = parsed.items("publish")
    if ports:
        out["run.fire.ports"] = ",".join(ports)
    if parsed.flag("overlay") or parsed.flag("keep_overlay"):
        out["run.fire.overlay"] = "true"
    if parsed.flag("keep_overlay"):
        out["run.fire.overlay.keep"] = "true"
    volumes = parsed.items("volume")
    if volumes:
        from fire.storage.settings import join_volumes

        out["run.fire.volumes"] = join_volumes(volumes)
    return out
