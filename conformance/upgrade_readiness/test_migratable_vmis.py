"""Harvester's upgrade gate: no VMI it would refuse as non-live-migratable (facts.md §16, R3.1)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import upgrade_readiness as ur
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("UPG-03")
def test_no_vmi_the_upgrade_gate_refuses(hc: RunContext) -> None:
    snap = hc.snapshot
    gate = ur.Gate(hc.release.release.key)
    nodes = snap.list(R.NODES)
    skip = ur.skip_reason(nodes, snap.get(R.HARVESTER_SETTINGS, ur.UPGRADE_CONFIG), gate)
    if skip:
        pytest.skip(f"not applicable: {skip}")
    vmis = snap.list(R.VMIS)
    findings = [ur.check_vmi(v, nodes, gate) for v in vmis]
    if gate.stale_hotplug:
        by_name = {(v["metadata"].get("namespace"), v["metadata"]["name"]): v for v in vmis}
        findings += [
            ur.check_stale_hotplug(vm, by_name.get((vm["metadata"].get("namespace"), vm["metadata"]["name"])))
            for vm in snap.list(R.VMS)
        ]
    require(findings, f"the upgrade gate of Harvester {hc.release.rules_from} would refuse these (shut them down)")
