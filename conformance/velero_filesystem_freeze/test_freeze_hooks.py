"""Section "Configuring VM Template Annotations": a VM that freezes its filesystems for a Velero
backup also thaws them, with hooks Velero can run in the launcher's compute container, and a guest
agent that can do the freezing."""

from __future__ import annotations

from harvester_conformance.checks import velero_filesystem_freeze as vff
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("VEL-02")
def test_freeze_hooks_are_paired_and_effective(hc: RunContext) -> None:
    snap = hc.snapshot
    require(
        vff.check_freeze_hooks(snap.list(R.VMS), snap.list(R.VMIS), snap.list(R.PODS), snap.captured_at),
        "VMs whose Velero filesystem-freeze hooks would fail or leave the guest frozen",
    )
