"""One object for every kernel operation of the init's setup (youki's ``syscall``
trait): namespaces, mounts, pivot_root, device nodes, names, the root and cwd.

The init's setup (fire.init.main, mounts, devices, paths) calls ``k.mount(...)``
on a ``Kernel`` it is given instead of the module functions, so that a test can
hand it a recording double (tests/unit/fakekernel.py) and check the *order* of
namespaces, mounts, masked and read-only paths, and what happens after a failure
at any step, without root.

``KERNEL``, the default, is the real thing: each attribute *is* the wrapper of
this package (or of ``os``), bound as a ``staticmethod``, so a call costs one
attribute lookup more than calling the module function and nothing is imported
that the init did not import already.  Errors are those of the wrappers:
``KernelError`` with ``op`` and the path.
"""

from __future__ import annotations

import os

from fire.syscalls import mount as m
from fire.syscalls import ns, proc
from fire.syscalls.fs import openat2
from fire.syscalls.net import loopback_up


class Kernel:
    """The real kernel: every method is the syscall wrapper itself."""

    # namespaces
    unshare = staticmethod(ns.unshare)
    setns = staticmethod(ns.setns)
    loopback_up = staticmethod(loopback_up)
    # process attributes the setup changes
    prctl = staticmethod(proc.prctl)
    setresuid = staticmethod(os.setresuid)
    setresgid = staticmethod(os.setresgid)
    sethostname = staticmethod(proc.sethostname)
    setdomainname = staticmethod(proc.setdomainname)
    # paths (openat2: resolution confined to the rootfs; ``open`` is for host
    # paths only: namespace files, the old root)
    openat2 = staticmethod(openat2)
    open = staticmethod(os.open)
    mknod = staticmethod(os.mknod)
    symlink = staticmethod(os.symlink)
    chown = staticmethod(os.chown)
    # mounts
    mount = staticmethod(m.mount)
    umount2 = staticmethod(m.umount2)
    pivot_root = staticmethod(m.pivot_root)
    open_tree = staticmethod(m.open_tree)
    move_mount = staticmethod(m.move_mount)
    mount_setattr = staticmethod(m.mount_setattr)
    fsopen = staticmethod(m.fsopen)
    fsconfig_string = staticmethod(m.fsconfig_string)
    fsconfig_flag = staticmethod(m.fsconfig_flag)
    fsconfig_create = staticmethod(m.fsconfig_create)
    fsmount = staticmethod(m.fsmount)
    # the root and the working directory
    fchdir = staticmethod(os.fchdir)
    chdir = staticmethod(os.chdir)
    chroot = staticmethod(os.chroot)


KERNEL = Kernel()
