"""Section "Workaround 1: Create a filesystem on the disk": a disk identified by its filesystem UUID
instead of a WWN is for Longhorn V1 only (LVM and Longhorn V2 are block-device based), and before
v1.6.0 for one extra disk per node; otherwise the udev rule of workaround 2 is the way."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import disks_without_wwn as dsk
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise


@invariant("DSK-01")
def test_disks_without_wwn_are_longhorn_v1_only(hc: RunContext, request: pytest.FixtureRequest) -> None:
    advise(
        request,
        dsk.check_disks_without_wwn(hc.snapshot.list(R.BLOCK_DEVICES), hc.release.release.key),
        f"provisioned disks without a WWN the article's filesystem workaround does not cover "
        f"(rules of {hc.release.rules_from})",
    )
