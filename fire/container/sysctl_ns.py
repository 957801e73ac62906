"""A namespaced sysctl in a namespace the container joins by path must not land in
the runtime's own namespace: that would change the host.

Pure validation (fire.spec.validate) accepts a joined namespace, because that is
how a Kubernetes pod's sandbox works: containerd's CRI plugin has the CNI set up a
network namespace first, passes its path (``/var/run/netns/cni-…``) and the pod's
``net.*`` sysctls.  Whether the path is the runtime's own namespace needs a stat,
so it is checked here, in create, before anything is made (runc 1.1 checks the
network namespace the same way; Fire checks ipc and uts too).
"""

from __future__ import annotations

import os

from fire.errors import ConfigError
from fire.spec.validate import joined_sysctl_namespaces

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fire.spec.config import Spec

_PROC_NAME = {"network": "net", "ipc": "ipc", "uts": "uts"}


def check(spec: Spec) -> None:
    """Raise ``ConfigError`` naming the sysctl when its joined namespace is ours."""
    for key, kind, path in joined_sysctl_namespaces(spec):
        try:
            joined = os.stat(path)
        except OSError:
            continue  # the init's setns reports the path (with its errno)
        own = os.stat(f"/proc/self/ns/{_PROC_NAME[kind]}")
        if (joined.st_dev, joined.st_ino) == (own.st_dev, own.st_ino):
            raise ConfigError(f"$.linux.sysctl.{key}",
                              "not allowed in the runtime's own {kind} namespace", kind=kind)
