"""The gate's Longhorn rules (HV pkg/webhook/resources/upgrade/validator.go `hasDegradedVolume`,
`checkSingleReplicaVolumes`): no degraded volume on clusters of three or more nodes (v1.2.1 …
v1.8.2); no single-replica volume unless the cluster has one node: from v1.3.0 while attached,
attaching or being created, from v1.5.0 in every state unless the Upgrade carries
`harvesterhci.io/skipSingleReplicaDetachedVol` (then the active ones only)."""

from __future__ import annotations

from harvester_conformance.checks import upgrade_readiness as ur
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("UPG-01")
def test_no_degraded_or_single_replica_volume(hc: RunContext, gate: ur.Gate) -> None:
    snap = hc.snapshot
    count = len(snap.list(R.NODES))  # upstream counts every node, witness included
    volumes = snap.list(R.LONGHORN_VOLUMES, "longhorn-system")
    require(
        [ur.check_volume(v, count, gate) for v in volumes],
        f"Longhorn volumes the upgrade gate refuses ({count} node(s))",
    )
