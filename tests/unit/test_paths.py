"""Path resolution inside a rootfs (fire.init.paths): a hostile rootfs cannot make a
lookup or a ``mkdir -p`` leave it.  openat2 needs no privilege: a temp dir will do."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

import pytest

from fire.init.paths import ensure_file, ensure_mountpoint, mkdir_all, open_in_root, split
from fire.syscalls import KernelError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("inside\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("host\n")
    return r


@pytest.fixture
def rootfd(root: Path) -> Iterator[int]:
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def real(fd: int) -> str:
    path = os.readlink(f"/proc/self/fd/{fd}")
    os.close(fd)
    return path


def read(fd: int) -> str:
    try:
        return os.read(fd, 100).decode()
    finally:
        os.close(fd)


def test_split() -> None:
    assert split("/a//b/./c/") == ["a", "b", "c"]
    assert split("a/../b") == ["b"]
    assert split("/../../x") == ["x"]
    assert split("/") == []


def test_plain_lookup(root: Path, rootfd: int) -> None:
    assert read(open_in_root(rootfd, "/etc/passwd", os.O_RDONLY)) == "inside\n"
    assert real(open_in_root(rootfd, "/")) == str(root)


def test_absolute_symlink_stays_inside(root: Path, rootfd: int, tmp_path: Path) -> None:
    os.symlink(str(tmp_path / "outside"), root / "abs")
    os.symlink("/etc", root / "etclink")
    with pytest.raises(KernelError) as info:
        open_in_root(rootfd, "/abs/secret", os.O_RDONLY)
    assert info.value.errno == errno.ENOENT, "the host path does not exist inside the root"
    assert read(open_in_root(rootfd, "/etclink/passwd", os.O_RDONLY)) == "inside\n"


def test_dotdot_is_clamped_at_the_root(root: Path, rootfd: int) -> None:
    os.symlink("../../../../../../..", root / "up")
    assert real(open_in_root(rootfd, "/up")) == str(root)
    assert real(open_in_root(rootfd, "/../../etc/..")) == str(root)
    assert read(open_in_root(rootfd, "/up/etc/passwd", os.O_RDONLY)) == "inside\n"


def test_no_symlinks_mode(root: Path, rootfd: int) -> None:
    os.symlink("etc", root / "rel")
    with pytest.raises(KernelError) as info:
        open_in_root(rootfd, "/rel/passwd", no_symlinks=True)
    assert info.value.errno == errno.ELOOP
    assert info.value.filename == "/rel/passwd", "errors name the path inside the container"


def test_mkdir_all_creates_inside(root: Path, rootfd: int) -> None:
    assert real(mkdir_all(rootfd, "/a/b/c")) == str(root / "a" / "b" / "c")
    assert real(mkdir_all(rootfd, "/a/b/c")) == str(root / "a" / "b" / "c"), "idempotent"


def test_mkdir_all_follows_a_dangling_symlink_inside(root: Path, rootfd: int,
                                                     tmp_path: Path) -> None:
    escape = tmp_path / "outside" / "made"
    os.symlink(str(escape), root / "dangling")
    got = real(mkdir_all(rootfd, "/dangling/sub"))
    assert got == str(root) + str(escape) + "/sub"
    assert not escape.exists(), "nothing is made on the host"


def test_mkdir_all_relative_dangling_symlink(root: Path, rootfd: int) -> None:
    os.symlink("../../../target", root / "etc" / "rel")
    got = real(mkdir_all(rootfd, "/etc/rel/x"))
    assert got == str(root / "target" / "x")


def test_mkdir_all_symlink_loop(root: Path, rootfd: int) -> None:
    os.symlink("/loop2", root / "loop1")
    os.symlink("/loop1", root / "loop2")
    with pytest.raises(KernelError) as info:
        mkdir_all(rootfd, "/loop1/x")
    assert info.value.errno == errno.ELOOP


def test_mkdir_all_through_a_file(root: Path, rootfd: int) -> None:
    with pytest.raises(KernelError) as info:
        mkdir_all(rootfd, "/etc/passwd/x")
    assert info.value.errno == errno.ENOTDIR


def test_ensure_file(root: Path, rootfd: int) -> None:
    assert real(ensure_file(rootfd, "/new/dir/file")) == str(root / "new" / "dir" / "file")
    assert (root / "new" / "dir" / "file").is_file()
    assert real(ensure_file(rootfd, "/etc/passwd")) == str(root / "etc" / "passwd")
    assert (root / "etc" / "passwd").read_text() == "inside\n", "an existing file is kept"


def test_ensure_file_never_writes_through_a_symlink(root: Path, rootfd: int,
                                                    tmp_path: Path) -> None:
    target = tmp_path / "outside" / "created-by-runtime"
    os.symlink(str(target), root / "etc" / "evil")
    fd = ensure_file(rootfd, "/etc/evil")
    assert real(fd) == str(root) + str(target)
    assert not target.exists()


def test_ensure_mountpoint(root: Path, rootfd: int) -> None:
    assert os.path.isdir(real(ensure_mountpoint(rootfd, "/mnt/dir", True)))
    assert os.path.isfile(real(ensure_mountpoint(rootfd, "/mnt/file", False)))


def test_ensure_file_symlink_loop(root: Path, rootfd: int) -> None:
    os.symlink("/etc/b", root / "etc" / "a")
    os.symlink("/etc/a", root / "etc" / "b")
    with pytest.raises(KernelError) as info:
        ensure_file(rootfd, "/etc/a")
    assert info.value.errno == errno.ELOOP


def test_an_eagain_of_openat2_is_retried(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's EAGAIN (a rename or mount raced the walk, openat2(2)) cannot be
    provoked on demand: the raw syscall is wrapped to fail twice first.  The third
    call is the real openat2, which must still confine the lookup to the root."""
    from fire.syscalls import fs

    real = fs.syscall  # type: ignore[attr-defined]
    calls: list[str] = []

    def racing(name: str, *args: object, **kw: str | None) -> int:
        calls.append(name)
        if len(calls) <= 2:
            raise KernelError(errno.EAGAIN, "open", "/etc/passwd")
        return int(real(name, *args, **kw))

    monkeypatch.setattr(fs, "syscall", racing)
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_in_root(rootfd, "/etc/passwd", os.O_RDONLY)
        try:
            assert os.read(fd, 100) == b"inside\n"
        finally:
            os.close(fd)
    finally:
        os.close(rootfd)
    assert calls == ["openat2"] * 3


def test_an_openat2_that_keeps_failing_with_eagain_gives_up(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fire.syscalls import fs

    calls: list[str] = []

    def always(name: str, *args: object, **kw: str | None) -> int:
        calls.append(name)
        raise KernelError(errno.EAGAIN, "open", "/etc/passwd")

    monkeypatch.setattr(fs, "syscall", always)
    with pytest.raises(KernelError) as info:
        fs.openat2(-100, str(root / "etc" / "passwd"), os.O_RDONLY, fs.RESOLVE_IN_ROOT)
    assert info.value.errno == errno.EAGAIN
    assert len(calls) == fs.OPENAT2_RETRIES
