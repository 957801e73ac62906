"""The features document of runtime-spec `features.md`: only what Fire supports.

Each list here is derived from the code that implements it (mount options from the
parser's tables, namespaces from the syscall layer…), so it cannot claim more than
is there.  Parts owned by later features (seccomp, cgroup, LSM) report through the
``extend`` hooks of their packages.
"""

from __future__ import annotations

from fire import SPEC_VERSION, __version__
from fire.hooks.policy import ORDER
from fire.security.attributes import MPOL_FLAGS, MPOL_MODES
from fire.spec import mountopts
from fire.spec.names import CAPABILITIES
from fire.syscalls.ns import FLAGS


def document() -> dict[str, object]:
    linux: dict[str, object] = {
        "namespaces": sorted(FLAGS),
        "capabilities": sorted(CAPABILITIES, key=CAPABILITIES.__getitem__),
        "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False,
                   "rdma": True},
        # Implemented (fire.security.lsm); the spec asks whether the runtime supports
        # them, not whether this host has them (a label on a host without the LSM is
        # an error at create).
        "apparmor": {"enabled": True},
        "selinux": {"enabled": True},
        "memoryPolicy": {"modes": sorted(MPOL_MODES), "flags": sorted(MPOL_FLAGS)},
        "intelRdt": {"enabled": False},
        "mountExtensions": {"idmap": {"enabled": True}},
        "netDevices": {"enabled": True},  # fire.net.netlink.move_device (runtime-spec 1.2)
    }
    try:
        from fire.seccomp.features import seccomp_features

        linux["seccomp"] = seccomp_features()
    except ImportError:
        linux["seccomp"] = {"enabled": False}
    from fire.criu import features as checkpoint_features

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": list(ORDER),
        "mountOptions": mountopts.all_options(),
        "linux": linux,
        "annotations": {"org.opencontainers.runc.version": "fire " + __version__,
                        "run.fire.version": __version__, **checkpoint_features()},
    }
