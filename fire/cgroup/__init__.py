"""cgroups: finding the host's hierarchies (v1, v2, hybrid), making the container's
cgroup, putting its init in, applying ``linux.resources`` and removing it.

``hierarchy`` reads /proc/self/mountinfo; ``manager`` owns one container's cgroup
across commands (its state lives in the container's state.json).
"""
