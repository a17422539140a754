"""The current Pebble (profiles, ARI, notAfter), built from the Go module pinned in
tools/pebble/ by scripts/build-pebble.sh and cached in .cache/pebble/<pin>/; Debian's
Pebble 2.4 (tests/peers.py) stays the server without ARI and profiles.

``modern_pebble`` gives the keyword arguments for ``pebble_factory`` that start it.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.peers import missing_peer

ROOT = Path(__file__).resolve().parent.parent
PROFILES: dict[str, dict[str, object]] = {
    "default": {"description": "The profile you know and love", "validityPeriod": 7776000},
    "shortlived": {"description": "A short-lived certificate", "validityPeriod": 518400},
}


@pytest.fixture(scope="session")
def modern_pebble() -> dict[str, Any]:
    script = ROOT / "scripts" / "build-pebble.sh"
    if shutil.which("go") is None and not list((ROOT / ".cache" / "pebble").glob("*/bin/pebble")):
        missing_peer("go is needed to build the current Pebble")
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"building Pebble failed:\n{result.stderr[-2000:]}")
    binary = Path(result.stdout.strip().splitlines()[-1]) / "pebble"
    return {"binary": str(binary), "profiles": PROFILES}
