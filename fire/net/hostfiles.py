"""/etc/hosts and /etc/resolv.conf for a bridged container.

Both are files in the container's state directory, bind-mounted over the image's
(config mounts appended to the spec, so the init mounts them like any other,
with the same symlink-safe resolution).  Where the image has no such file, the
mount point is made without writing into a read-only image
(``fire.storage.inside.ensure_mountpoints``).

resolv.conf: the host's, without loopback name servers (127.0.0.53 of
systemd-resolved is the host's own loopback, unreachable from the container's
namespace).  If that leaves none, the file says so rather than inventing a
public resolver.
"""

from __future__ import annotations

import os

from fire.net.addr import format_ipv4, is_loopback, parse_ipv4

HOSTS = "hosts"
RESOLV_CONF = "resolv.conf"
HOST_RESOLV_CONF = "/etc/resolv.conf"


def hosts(address: int, hostname: str, cid: str) -> str:
    names = " ".join(dict.fromkeys(n for n in (hostname, cid) if n))
    return ("127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"{format_ipv4(address)}\t{names}\n")


def resolv_conf(host_text: str) -> str:
    out: list[str] = []
    servers = 0
    for line in host_text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            if _loopback(words[1]):
                continue
            servers += 1
            out.append(line.strip())
        elif words[0] in ("search", "domain", "options"):
            out.append(line.strip())
    if not servers:
        out.insert(0, "# Fire: the host has no name server a container can reach")
    return "\n".join(out) + "\n"


def _loopback(server: str) -> bool:
    if server == "::1":
        return True
    try:
        return is_loopback(parse_ipv4(server))
    except ValueError:
        return False  # IPv6: kept


def write(state_dir: str, address: int, hostname: str, cid: str) -> tuple[str, str]:
    """Write both files into the state directory; return their paths."""
    try:
        with open(HOST_RESOLV_CONF) as f:
            host_text = f.read()
    except OSError:
        host_text = ""
    paths = (os.path.join(state_dir, HOSTS), os.path.join(state_dir, RESOLV_CONF))
    for path, text in zip(paths, (hosts(address, hostname, cid), resolv_conf(host_text)),
                          strict=True):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.fchmod(fd, 0o644)  # whatever the umask: the container's user reads it
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    return paths
