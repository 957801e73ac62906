"""The syscall boundary: the only package in Fire that uses ``ctypes``.

Every function raises ``KernelError`` (an ``OSError`` with ``errno``, ``filename``
= the path it touched, and ``op`` = the call) on failure.  Nothing above this
package calls libc; what the standard library wraps well (``os.setresuid``,
``os.pidfd_open``, ``os.mknod``…) is used directly.
"""

from fire.syscalls._libc import KernelError as KernelError
