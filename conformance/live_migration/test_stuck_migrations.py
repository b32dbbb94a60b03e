"""Section "Migration Timeouts": no migration outlives its completion timeout, computed as
virt-launcher does (KV `pkg/virt-launcher/virtwrap/manager.go` getVMIMigrationDataSize,
`live-migration-source.go` @v0.54.0 … v1.4.0): completionTimeoutPerGiB x the data size in whole
decimal gigabytes, rounded up (8Gi is 9 units: 7200 s at 800, not the article's 6400 s)."""

from __future__ import annotations

import datetime as dt

from harvester_conformance.checks import live_migration as lm
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require

from .conftest import namespace_labels

# virt-launcher's monitor polls; the snapshot and the cluster's clock may differ a little.
SLACK = dt.timedelta(minutes=2)


@invariant("MIG-08")
def test_no_migration_is_stuck(hc: RunContext, kubevirt: lm.Version | None, snapshot_config: lm.Configuration) -> None:
    snap = hc.snapshot
    policies = snap.list(R.MIGRATION_POLICIES)
    ns_labels = namespace_labels(snap.list(R.NAMESPACES))
    cluster = snapshot_config.plain()
    findings = []
    for vmim in snap.list(R.VMIMS):
        ns = vmim["metadata"]["namespace"]
        vmi = snap.get(R.VMIS, (vmim.get("spec") or {}).get("vmiName") or "", ns)
        labels = ((vmi or {}).get("metadata") or {}).get("labels") or {}
        cfg = lm.with_policy(cluster, lm.match_policy(policies, labels, ns_labels.get(ns), kubevirt))
        stuck = lm.Stuck(
            vmim,
            vmi,
            snap.captured_at,
            int(cfg["completionTimeoutPerGiB"]),  # type: ignore[call-overload]
            int(cfg["progressTimeout"]),  # type: ignore[call-overload]
        )
        findings.append(lm.check_stuck(stuck, SLACK))
    require(findings, "migrations running past their completion timeout or pending past virt-controller's limit")
