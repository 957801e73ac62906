"""Kubernetes' path to Fire: containerd 1.6's CRI plugin, with Fire as a runtime
handler, driven through the CRI (gRPC) the way kubelet drives it.

The session starts one private containerd (tests/cri/engine.py says how); every
test runs with the handler ``fire`` and with ``runc``, the reference.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cri.engine import CRI, HANDLERS, start_engine
from tests.engines.conftest import Runtime

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.cri)
            item.add_marker(pytest.mark.root)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report ends with containerd's last log lines (the shim's
    and the runtime's errors land there)."""
    report = yield
    for engine in getattr(item, "funcargs", {}).values():
        if report.failed and isinstance(engine, CRI):
            report.sections.append(("containerd.log (last 40 lines)", engine.log_tail(40)))
    return report


@pytest.fixture(scope="session")
def cri_dir() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("containerd's CRI plugin needs root")
    path = Path(tempfile.mkdtemp(prefix="fire-cri-"))
    yield path
    # Leftover overlay or shm mounts would make rmtree fail: the test then says so.
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def cri_runtime(cri_dir: Path) -> Runtime:
    return Runtime(cri_dir)


@contextlib.contextmanager
def running_engine(work: Path, runtime: Runtime, systemd: bool = False) -> Iterator[CRI]:
    """A private containerd with its CRI plugin for the tests that use it (a start
    that fails fails the test), cleaned up after them."""
    try:
        engine = start_engine(work, runtime, systemd=systemd)
    except RuntimeError as e:
        pytest.fail(str(e))
    try:
        yield engine
    finally:
        engine.cleanup()


@pytest.fixture(scope="session")
def cri_engine(cri_dir: Path, cri_runtime: Runtime) -> Iterator[CRI]:
    with running_engine(cri_dir, cri_runtime) as engine:
        yield engine


@pytest.fixture(params=HANDLERS)
def handler(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pods(cri_engine: CRI) -> Iterator[list[str]]:
    """The pods a test ran: stopped and removed after it, whatever happened."""
    made: list[str] = []
    yield made
    for pod in made:
        try:
            cri_engine.remove_pod(pod)
        except Exception:  # the session's cleanup tries again
            pass
