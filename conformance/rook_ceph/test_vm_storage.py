"""Section "Use Rook Ceph External Storage with Harvester": VM images stay on Longhorn (CDI images
on their own class from v1.5.0), and third-party classes back data volumes only."""

from __future__ import annotations

from harvester_conformance.checks import rook_ceph as rc
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require

CDI_BACKEND_FROM = (1, 5, 0)  # facts.md §17.7, facts-releases.md R6


def _classes(hc: RunContext) -> dict[str, dict]:
    return {sc["metadata"]["name"]: sc for sc in hc.snapshot.list(R.STORAGE_CLASSES)}


@invariant("CSI-02")
def test_vm_images_are_on_longhorn(hc: RunContext) -> None:
    snap = hc.snapshot
    drivers = {d["metadata"]["name"] for d in snap.list(R.CSI_DRIVERS)}
    cdi = hc.release.release.key >= CDI_BACKEND_FROM
    classes = _classes(hc)
    require([rc.check_image(i, classes, drivers, cdi) for i in snap.list(R.VM_IMAGES)], "VM images off Longhorn")


@invariant("CSI-03")
def test_boot_volumes_are_on_longhorn(hc: RunContext) -> None:
    snap = hc.snapshot
    classes = _classes(hc)
    pvcs: dict[str, dict[str, dict]] = {}
    for pvc in snap.list(R.PVCS):
        pvcs.setdefault(pvc["metadata"]["namespace"], {})[pvc["metadata"]["name"]] = pvc
    findings = [rc.check_boot_volume(vm, pvcs.get(vm["metadata"]["namespace"], {}), classes) for vm in snap.list(R.VMS)]
    require(findings, "VMs booting from a third-party StorageClass")
