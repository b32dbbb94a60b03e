"""The regression invariants' fixtures (IPP-06, NIC-02, UPG-08): the state recorded before the
upgrade (--baseline) and its diff with the run's own snapshot. Without a baseline they are not
applicable: nothing was recorded to compare with.

Use: `from harvester_conformance.upgrade_baseline import baseline, upgrade_changes  # noqa: F401`
in the package's conftest.py."""

from __future__ import annotations

import pytest

from harvester_conformance import upgrade_state
from harvester_conformance.checks import upgrade_regression as ur
from harvester_conformance.context import RunContext

NO_BASELINE = (
    "not applicable: no --baseline given (record the state before the upgrade with "
    "`harvester-conformance snapshot FILE`, then run with --baseline FILE after it)"
)


@pytest.fixture(scope="session")
def baseline(hc: RunContext) -> dict:
    if hc.baseline is None:
        pytest.skip(NO_BASELINE)
    return hc.baseline


@pytest.fixture(scope="session")
def upgrade_changes(hc: RunContext, baseline: dict) -> list[ur.Change]:
    """Every change from the baseline to the cluster as this run read it (hosts aside: NIC-02
    compares those through the node probe)."""
    return ur.diff(baseline, upgrade_state.of_snapshot(hc.snapshot, hc.versions))
