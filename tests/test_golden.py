"""The golden list of invariant IDs and the tests that assert them, as `list --format json`
reports them. A test that disappears, or an ID that loses its fault or its proof, fails here;
a deliberate change is recorded with `HC_UPDATE_GOLDEN=1 make test ARGS=tests/test_golden.py`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "invariants.json"
KEPT = ("id", "tests", "fault", "proof")


def _listed() -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "harvester_conformance.cli", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    return [{k: (bool(row[k]) if k == "fault" else row[k]) for k in KEPT} for row in json.loads(out.stdout)]


def test_catalogue_matches_the_golden_list() -> None:
    listed = _listed()
    if os.environ.get("HC_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(listed, indent=1) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert listed == golden, (
        "the catalogue's tests, faults or proofs changed: see the diff, then update the golden list"
    )
