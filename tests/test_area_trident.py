"""The third-party CSI driver (Trident) of the emulated cluster: a data volume provisioned and
snapshotted through the classes csi-driver-config names, and the CSI-04 fault both ways."""

from __future__ import annotations

import json

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import all_faults
from harvester_conformance.waits import WaitTimeout, wait_for

NS = "default"
DRIVER = "csi.trident.netapp.io"


def _vendor_classes(cl: Cluster) -> tuple[str, str]:
    cfg = json.loads(cl.get(R.HARVESTER_SETTINGS, "csi-driver-config")["value"])
    sc = next(c["metadata"]["name"] for c in cl.list(R.STORAGE_CLASSES) if c["provisioner"] == DRIVER)
    return sc, cfg[DRIVER]["volumeSnapshotClassName"]


def _claim(cl: Cluster, name: str, sc: str) -> None:
    body = {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "volumeMode": "Block",
            "storageClassName": sc,
            "resources": {"requests": {"storage": "5Gi"}},
        },
    }
    cl.create(R.PVCS, body, NS)


def _phase(cl: Cluster, name: str) -> str:
    return ((cl.get(R.PVCS, name, NS) or {}).get("status") or {}).get("phase", "")


def test_vendor_volume_provisions_and_snapshots(cl):
    sc, vsc = _vendor_classes(cl)
    _claim(cl, "trident-data", sc)
    try:
        wait_for("cluster-seeded", lambda: _phase(cl, "trident-data") == "Bound")
        snap = {
            "apiVersion": R.VOLUME_SNAPSHOTS.api_version,
            "kind": R.VOLUME_SNAPSHOTS.kind,
            "metadata": {"name": "trident-data-snap", "namespace": NS},
            "spec": {"volumeSnapshotClassName": vsc, "source": {"persistentVolumeClaimName": "trident-data"}},
        }
        cl.create(R.VOLUME_SNAPSHOTS, snap, NS)
        ready = wait_for(
            "cluster-seeded",
            lambda: (
                (s := cl.get(R.VOLUME_SNAPSHOTS, "trident-data-snap", NS))
                and s.get("status", {}).get("readyToUse")
                and s
            ),
        )
        content = cl.get(R.VOLUME_SNAPSHOT_CONTENTS, ready["status"]["boundVolumeSnapshotContentName"])
        assert content["spec"]["driver"] == DRIVER and ready["status"]["restoreSize"] == "5Gi"
    finally:
        cl.delete(R.VOLUME_SNAPSHOTS, "trident-data-snap", NS)
        cl.delete(R.PVCS, "trident-data", NS)


def test_fault_csi04_backend_offline(cl):
    sc, _ = _vendor_classes(cl)
    fault = all_faults()["CSI-04"]
    fault.inject(cl)
    try:
        _claim(cl, "trident-offline", sc)
        try:
            wait_for("cluster-seeded", lambda: _phase(cl, "trident-offline") == "Bound", timeout=8)
            raise AssertionError("a Trident volume was provisioned while the backend was offline")
        except WaitTimeout:
            pass
        events = cl.list(R.EVENTS, NS)
        assert any(
            e["reason"] == "ProvisioningFailed" and e["involvedObject"]["name"] == "trident-offline" for e in events
        )
    finally:
        fault.revert(cl)
    wait_for("cluster-seeded", lambda: _phase(cl, "trident-offline") == "Bound")
    cl.delete(R.PVCS, "trident-offline", NS)
