"""Section "Configure Harvester Cluster": csi-driver-config names, per provisioner, snapshot classes
of that driver, and the driver is installed with a StorageClass."""

from __future__ import annotations

from harvester_conformance.checks import rook_ceph as rc
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require


@invariant("CSI-01")
def test_csi_driver_config_is_consistent(hc: RunContext) -> None:
    snap = hc.snapshot
    findings, owned = rc.check_driver_config(
        snap.get(R.HARVESTER_SETTINGS, rc.SETTING),
        snap.list(R.VOLUME_SNAPSHOT_CLASSES),
        snap.list(R.CSI_DRIVERS),
        snap.list(R.STORAGE_CLASSES),
    )
    require(findings, "csi-driver-config does not match the installed CSI drivers")
    for provisioner, owner in sorted(owned.items()):
        raise Broken(f"{provisioner} has no StorageClass; its vendor check reports the missing class", owner)
