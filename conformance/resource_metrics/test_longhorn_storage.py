"""Sections "Data Sources and Calculation" and "Reserved Storage in Longhorn": the Longhorn
storage figures per node and the default disk's reserve (facts.md §6, §17.3, R4)."""

from __future__ import annotations

from harvester_conformance.checks import resource_metrics as rm
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require

NS = rm.LONGHORN_NS


@invariant("MET-03")
def test_longhorn_storage_figures_are_consistent(hc: RunContext) -> None:
    findings = [rm.check_storage_figures(n) for n in hc.snapshot.list(R.LONGHORN_NODES, NS)]
    require(findings, "Longhorn nodes whose storage figures are inconsistent")


@invariant("MET-04")
def test_default_disk_reserves_the_percentage(hc: RunContext) -> None:
    snap = hc.snapshot
    nodes = snap.list(R.LONGHORN_NODES, NS)
    inconsistent = [f.object for n in nodes if (f := rm.check_storage_figures(n))]
    if inconsistent:
        raise Broken(f"storage figures inconsistent on {', '.join(inconsistent)}", prerequisite="MET-03")
    setting = snap.get(R.LONGHORN_SETTINGS, rm.RESERVED_SETTING, NS)
    pct, source = rm.reserved_percentage(setting, hc.versions.get("longhorn"))
    if pct is None:
        require([Finding(f"Setting {NS}/{rm.RESERVED_SETTING}", source)], "default-disk reserved percentage")
        return
    require([rm.check_default_disks(n, pct, source) for n in nodes], f"default disks not reserving {source}")
