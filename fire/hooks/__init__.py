"""OCI hooks: the policy (which phases, what a failure means) and the runners.

``policy`` is pure and shared; ``runner`` waits with pidfd + poll and is used by the
engine path and by the init; the supervisor has a trio runner over the same policy.
"""
