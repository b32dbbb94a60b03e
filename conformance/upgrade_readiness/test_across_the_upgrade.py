"""After the upgrade (UPG-08): against the state recorded before it (--baseline), the same VMs
in the same power state, the same settings except those the release changes, the components of
the release's row of the version table; the load balancers and pools are IPP-06's, the NIC
names NIC-02's, and a regression there leaves this invariant unproven (broken, naming them)."""

from __future__ import annotations

from harvester_conformance.checks import upgrade_regression as ur
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require


@invariant("UPG-08")
def test_cluster_state_is_kept_across_the_upgrade(upgrade_changes: list[ur.Change]) -> None:
    require(ur.regressions(upgrade_changes, ur.UPG), "VMs, settings or components regressed across the upgrade")
    for prerequisite in (ur.IPP, ur.NIC):
        if found := ur.regressions(upgrade_changes, prerequisite):
            raise Broken(
                f"{len(found)} regression(s) of {prerequisite} ({', '.join(f.object for f in found)})",
                prerequisite=prerequisite,
            )
