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

# How Fire starts its own interpreters (the fire launcher, the container's init, the
# hook trampoline): isolated (-I: no PYTHON* variables, no user site, the script's
# directory not on sys.path) and without site (-S: no .pth files), so nothing from
# the caller's environment runs as root in the runtime; and with the standard
# library's start-up modules frozen (os, codecs, io, …; a pyenv or source build
# leaves them off): ≈1 ms less of every start-up.
INTERPRETER_FLAGS = ("-I", "-S", "-X", "frozen_modules=on")
