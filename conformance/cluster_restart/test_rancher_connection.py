"""Section "5.4 Restore the Connection to the Rancher Manager": the shutdown procedure blanks the
embedded Rancher's `management.cattle.io/scale-available` and scales `cattle-system/rancher` to 0;
after the restart both must be restored, or Rancher never scales itself (nor the cluster agent of
an imported cluster) again, and the Harvester UI stays unavailable."""

from __future__ import annotations

from harvester_conformance.checks import cluster_restart as rst
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("RST-03")
def test_embedded_rancher_is_scaled_up(hc: RunContext) -> None:
    snap = hc.snapshot
    require(
        rst.check_embedded_rancher(
            snap.get(R.DEPLOYMENTS, rst.RANCHER, rst.RANCHER_NS),
            snap.get(R.DEPLOYMENTS, rst.CLUSTER_AGENT, rst.RANCHER_NS),
        ),
        "the embedded Rancher left scaled down after the restart",
    )
