"""Security attributes of the container's process that are not seccomp: LSM labels
(``lsm``: AppArmor, SELinux) and the pure translation of the other process
attributes (``attributes``: scheduler, I/O priority, memory policy, CPU lists).
The init applies them in ``fire.init.process``.
"""
