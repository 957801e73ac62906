"""OCI hooks: the policy (which phases, what a failure means, the messages) and
the runners that carry it out.

``policy`` is pure and shared.  ``runner`` waits with pidfd + poll and is used by
the engine path and by the init; ``trio_runner`` (through ``trampoline``) is the
supervisor's, with ``trio.fail_after`` and a shielded kill.  Both kill a hook that
runs past its timeout together with every process it started.
"""
