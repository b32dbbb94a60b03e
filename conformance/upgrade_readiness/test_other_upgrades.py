"""The gate's first rule (HV pkg/webhook/resources/upgrade/validator.go `Create`, v1.2.1 … v1.8.2):
no Upgrade in harvester-system whose `harvesterhci.io/upgradeState` is not Succeeded or Failed
(a missing label matches too), and from v1.7.0 none still labelled `upgradeCleanup=pending`.
From v1.7.0 `Create` and `Update` also validate `harvesterhci.io/node-upgrade-pause-map`
(`validatePauseMapAnnotation`): on an Upgrade the controller still writes, a map naming a node
that no longer exists (or an action other than pause/unpause) makes every update refused."""

from __future__ import annotations

from harvester_conformance.checks import upgrade_readiness as ur
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("UPG-07")
def test_no_other_upgrade_in_progress(hc: RunContext, gate: ur.Gate) -> None:
    upgrades = hc.snapshot.list(R.UPGRADES, "harvester-system")
    findings = [ur.check_upgrade(u, gate) for u in upgrades]
    if gate.pause_map:
        nodes = {n["metadata"]["name"] for n in hc.snapshot.list(R.NODES)}
        findings += [ur.check_pause_map(u, nodes, gate) for u in upgrades if ur.still_updated(u)]
    require(findings, "another upgrade blocks a new one (409), or carries a pause map the webhook refuses")
