"""Fire: an OCI container runtime and container supervisor, in Python.

The package is layered, and imports point down only::

    cli/ · supervisor/ · tui/         commands, the trio supervisor, the status view
    container/                        one module per lifecycle verb (runtime side)
    init/                             the in-container set-up (runs in the init process)
    lifecycle/ · hooks/ · signals/    pure rules: state machine, stage graph, hook policy
    cgroup/ · seccomp/ · security/    apply parts of the spec to the kernel
    syscalls/                         the only user of ctypes
    spec/ · store · errors · log      data model, state directory, errors, logging

The engine path (`create/start/state/kill/delete`) is short-lived and imports only
what it needs; see ``fire.cli``.
"""

__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"
