"""bpf(2): loading a cgroup device program and attaching it to a cgroup v2 directory.

Only what the device filter needs (``fire.cgroup.devfilter`` builds the program).
``union bpf_attr`` is passed as a zero-filled buffer: the kernel accepts a shorter
attr than its own as long as what it reads is there, and a longer one only if the
tail is zero.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from fire.syscalls._libc import KernelError, _syscall, nr

# include/uapi/linux/bpf.h
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

_ATTR_SIZE = 128  # enough for every field used here; the rest stays zero
_LOG_SIZE = 64 * 1024


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], op: str, path: str | None = None) -> int:
    ret = _syscall(ctypes.c_long(nr("bpf")), ctypes.c_long(cmd), attr, ctypes.c_long(_ATTR_SIZE))
    if ret < 0:
        raise KernelError(ctypes.get_errno(), op, path)
    return int(ret)


def load_device_program(insns: bytes, name: str = "fire_devices") -> int:
    """Load ``insns`` as a BPF_PROG_TYPE_CGROUP_DEVICE program; returns its fd.

    On a verifier rejection the load is repeated with the verifier's log, which
    becomes the error's text (it says which instruction was wrong).
    """
    code = ctypes.create_string_buffer(insns, len(insns))
    license = ctypes.create_string_buffer(b"GPL")

    def attempt(log: ctypes.Array[ctypes.c_char] | None) -> int:
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into("<IIQQIIQII", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(insns) // 8,
                         ctypes.addressof(code), ctypes.addressof(license),
                         1 if log is not None else 0, len(log) if log is not None else 0,
                         ctypes.addressof(log) if log is not None else 0, 0, 0)
        struct.pack_into("16s", attr, 48, name.encode()[:15])
        return _bpf(BPF_PROG_LOAD, attr, "bpf(BPF_PROG_LOAD)")

    try:
        return attempt(None)
    except KernelError as exc:
        if exc.errno not in (errno.EINVAL, errno.EACCES):
            raise
        log = ctypes.create_string_buffer(_LOG_SIZE)
        try:
            return attempt(log)
        except KernelError as again:
            text = log.value.decode(errors="replace").strip().splitlines()
            raise KernelError(again.errno or errno.EINVAL, "bpf(BPF_PROG_LOAD): " + " / ".join(text[-3:])
                              ) from None


def attach_device_program(cgroup_dir: str, prog_fd: int) -> None:
    """Attach ``prog_fd`` to ``cgroup_dir`` (ALLOW_MULTI: programs of ancestors still
    run, and a later program can replace this one without a gap)."""
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into("<IIII", attr, 0, fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
        _bpf(BPF_PROG_ATTACH, attr, "bpf(BPF_PROG_ATTACH)", cgroup_dir)
    finally:
        os.close(fd)


def query_device_programs(cgroup_dir: str) -> list[int]:
    """Ids of the device programs attached to ``cgroup_dir`` itself."""
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ids = (ctypes.c_uint32 * 64)()
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into("<IIIIQI", attr, 0, fd, BPF_CGROUP_DEVICE, 0, 0,
                         ctypes.addressof(ids), 64)
        _bpf(BPF_PROG_QUERY, attr, "bpf(BPF_PROG_QUERY)", cgroup_dir)
        count = struct.unpack_from("<I", attr, 24)[0]
        return [int(ids[i]) for i in range(min(count, 64))]
    finally:
        os.close(fd)


def detach_device_program(cgroup_dir: str, prog_id: int) -> None:
    """Detach the device program with id ``prog_id`` from ``cgroup_dir``."""
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into("<I", attr, 0, prog_id)
    prog_fd = _bpf(BPF_PROG_GET_FD_BY_ID, attr, "bpf(BPF_PROG_GET_FD_BY_ID)")
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into("<III", attr, 0, fd, prog_fd, BPF_CGROUP_DEVICE)
        _bpf(BPF_PROG_DETACH, attr, "bpf(BPF_PROG_DETACH)", cgroup_dir)
    finally:
        os.close(fd)
        os.close(prog_fd)


def install_device_program(cgroup_dir: str, insns: bytes) -> None:
    """Load ``insns``, attach them to ``cgroup_dir``, then detach the programs that
    were there before (so a replacement never leaves the cgroup unfiltered)."""
    old = query_device_programs(cgroup_dir)
    prog = load_device_program(insns)
    try:
        attach_device_program(cgroup_dir, prog)
    finally:
        os.close(prog)  # the attachment holds its own reference
    for prog_id in old:
        try:
            detach_device_program(cgroup_dir, prog_id)
        except KernelError as exc:
            if exc.errno != errno.ENOENT:
                raise
