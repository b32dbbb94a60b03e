"""Section "Resource Usage": NodeMetrics through the metrics API, fresh and within capacity."""

from __future__ import annotations

from harvester_conformance.checks import resource_metrics as rm
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("MET-02")
def test_fresh_node_metrics_within_capacity(hc: RunContext) -> None:
    snap = hc.snapshot
    findings = [
        rm.check_node_metrics(n, snap.get(R.NODE_METRICS, n["metadata"]["name"]), snap.captured_at)
        for n in snap.list(R.NODES)
    ]
    require(findings, "nodes without fresh NodeMetrics within capacity")
