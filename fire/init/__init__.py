"""The container's init: the process that becomes the container.

It is started as a fresh, single-threaded interpreter (``python -I -S``) from a
sealed, read-only copy of the host interpreter (see ``fire.container.spawn``), with
an empty environment and one socket to the runtime.  It receives a *plan* — config.json
already compiled by the runtime into flags, masks and paths — and applies it:
namespaces, mounts, devices, ``pivot_root``, then waits for ``start`` and ``execve``\\ s
the container's program.

Rules that keep it safe and small:

* Only the standard library's builtin modules (``_signal``, ``_socket``, ``marshal``,
  ``os``, ``fcntl``, ``select``) plus ``ctypes`` (through ``fire.syscalls``): no
  msgspec, no ``typing`` at run time — the waiting init must stay under 12 MiB.
* Everything is imported before ``pivot_root``; after it the import system is
  disabled (``lockdown_imports``), so a hostile rootfs cannot get code loaded.
* It is non-dumpable until ``execve``.
"""

# The socket in the state directory where ``fire start`` finds the waiting init
# (bound by create, or by the init itself: fire.init.main.Init.listen).  Here, in
# the package's face, because ``start`` needs nothing else of the init's modules.
EXEC_SOCKET = "exec.sock"
