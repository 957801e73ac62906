"""`fire features` reports what Fire implements and this kernel supports."""

from __future__ import annotations

import json
import subprocess
import sys

from fire.seccomp import names as n
from fire.security.attributes import MPOL_FLAGS, MPOL_MODES
from fire.spec.names import CAPABILITIES
from tests.conftest import REPO


def test_features_document() -> None:
    out = subprocess.run([sys.executable, "-m", "fire", "features"], capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(REPO)}).stdout
    linux = json.loads(out)["linux"]
    assert linux["capabilities"] == sorted(CAPABILITIES, key=CAPABILITIES.__getitem__)
    seccomp = linux["seccomp"]
    assert seccomp["enabled"] is True
    assert set(seccomp["actions"]) <= set(n.ACTIONS)
    assert "SCMP_ACT_NOTIFY" in seccomp["actions"]
    assert seccomp["operators"] == sorted(n.OPERATORS)
    assert seccomp["archs"] == sorted(n.ARCHES)
    assert seccomp["knownFlags"] == sorted(n.FLAGS)
    assert set(seccomp["supportedFlags"]) <= set(seccomp["knownFlags"])
    # Implemented (labels are applied, or refused at create on a host without the LSM).
    assert linux["apparmor"] == {"enabled": True}
    assert linux["selinux"] == {"enabled": True}
    assert linux["memoryPolicy"] == {"modes": sorted(MPOL_MODES), "flags": sorted(MPOL_FLAGS)}
