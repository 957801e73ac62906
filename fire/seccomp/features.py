"""What `fire features` reports about seccomp (runtime-spec `features-linux.md`).

``actions``, ``operators``, ``archs`` and ``knownFlags`` are what the compiler
recognises (its tables); ``supportedFlags`` are the known flags this kernel
accepts, probed with seccomp(2) itself (no filter is installed).  An action the
kernel does not know is left out of ``actions``: a config using it would fail.
"""

from __future__ import annotations

from fire.seccomp import names as n


def seccomp_features() -> dict[str, object]:
    from fire.syscalls import KernelError
    from fire.syscalls.proc import seccomp_action_available, seccomp_flags_supported

    try:
        actions = sorted(name for name, value in n.ACTIONS.items()
                         if seccomp_action_available(value))
    except KernelError:
        return {"enabled": False}  # no seccomp in this kernel at all
    supported = []
    for name, value in n.FLAGS.items():
        if value == n.FLAG_TSYNC:
            supported.append(name)  # accepted; nothing to synchronise (one thread)
            continue
        probe = value | (n.FLAG_NEW_LISTENER if value == n.FLAG_WAIT_KILLABLE_RECV else 0)
        if seccomp_flags_supported(probe):
            supported.append(name)
    return {
        "enabled": True,
        "actions": actions,
        "operators": sorted(n.OPERATORS),
        "archs": sorted(n.ARCHES),
        "knownFlags": sorted(n.FLAGS),
        "supportedFlags": sorted(supported),
    }
