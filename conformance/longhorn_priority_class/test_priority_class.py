"""Section "Set the priority-class setting": the setting, the PriorityClass and the system-managed
components that run with it (facts.md §8, §17.3)."""

from __future__ import annotations

from harvester_conformance.checks import longhorn_priority_class as lpc
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require

NS = lpc.NAMESPACE


@invariant("LPC-01")
def test_priority_class_setting(hc: RunContext) -> None:
    require([lpc.check_setting(hc.snapshot.get(R.LONGHORN_SETTINGS, lpc.SETTING, NS))], "Longhorn priority-class")


@invariant("LPC-02")
def test_system_cluster_critical_priority_class(hc: RunContext) -> None:
    require([lpc.check_priority_class(hc.snapshot.get(R.PRIORITY_CLASSES, lpc.CRITICAL))], "built-in PriorityClass")


@invariant("LPC-03")
def test_system_managed_components_run_with_it(hc: RunContext) -> None:
    snap = hc.snapshot
    if lpc.check_setting(snap.get(R.LONGHORN_SETTINGS, lpc.SETTING, NS)) is not None:
        raise Broken(f"the {lpc.SETTING} setting is not {lpc.CRITICAL}", prerequisite="LPC-01")
    findings = lpc.check_components(snap.list(R.DEPLOYMENTS, NS), snap.list(R.DAEMONSETS, NS), snap.list(R.PODS, NS))
    require(findings, f"Longhorn system-managed components not running with {lpc.CRITICAL}")
