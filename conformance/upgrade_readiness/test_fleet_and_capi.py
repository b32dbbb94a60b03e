"""The gate's Rancher-side rules (HV pkg/webhook/resources/upgrade/validator.go: the
`fleet-local/local` CAPI cluster Provisioned, `checkManagedCharts`, `checkMachines`, and from v1.5.1
`checkNodeMachineMatching`) with the pre-check script's (harvester/upgrade-helpers
pre-check/v1.x/check.sh: Fleet bundles ready, CAPI cluster not paused) and from v1.7.0
`checkAddons` (no Addon, in any namespace, being enabled, disabled or updated: pkg/util/addon
`IsAddonOnProcessing`). A ManagedChart's own bundle is judged through the chart, which Rancher
copies its status into."""

from __future__ import annotations

from harvester_conformance.checks import upgrade_readiness as ur
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("UPG-06")
def test_charts_bundles_and_capi_ready(hc: RunContext, gate: ur.Gate) -> None:
    snap = hc.snapshot
    machines = snap.list(R.CAPI_MACHINES, ur.FLEET_LOCAL)
    findings = [ur.check_managed_chart(c) for c in snap.list(R.MANAGED_CHARTS, ur.FLEET_LOCAL)]
    findings += [ur.check_bundle(b) for b in snap.list(R.FLEET_BUNDLES)]
    findings.append(ur.check_capi_cluster(snap.get(R.CAPI_CLUSTERS, "local", ur.FLEET_LOCAL)))
    findings += [ur.check_machine(m) for m in machines]
    if gate.node_machine_matching:
        findings += ur.check_node_machine_matching(snap.list(R.NODES), machines)
    if gate.checks_addons:
        findings += [ur.check_addon(a) for a in snap.list(R.ADDONS)]
    require(findings, f"Rancher/CAPI state the upgrade gate of {hc.release.rules_from} refuses")
