"""Section "Resource Capacity": allocatable within capacity, KubeVirt's device resources offered."""

from __future__ import annotations

from harvester_conformance.checks import resource_metrics as rm
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("MET-05")
def test_allocatable_within_capacity_and_devices_offered(hc: RunContext) -> None:
    require([rm.check_node_capacity(n) for n in hc.snapshot.list(R.NODES)], "node capacity and KubeVirt devices")
