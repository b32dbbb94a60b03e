"""Section "Steps to Keep Load Balancer IP", checked across the upgrade itself (IPP-06): against
the state recorded before it (--baseline), every load balancer has the same address and every
pool kept its allocations and its history (checks/upgrade_regression.py)."""

from __future__ import annotations

from harvester_conformance.checks import upgrade_regression as ur
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("IPP-06")
def test_load_balancer_ips_and_pool_history_are_kept(upgrade_changes: list[ur.Change]) -> None:
    require(ur.regressions(upgrade_changes, ur.IPP), "load balancers or IP pools changed across the upgrade")
