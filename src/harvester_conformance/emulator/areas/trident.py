"""Area module (see areas/__init__.py): the third-party CSI driver's controller side (NetApp
Trident, seeded by harvester_hosts_rancher.seed_trident): what the external-provisioner and the
external-snapshotter do for its classes, so that the vendor checks (CSI-04) can provision a data
volume, attach it and snapshot it.

- A PVC of a Trident StorageClass gets a PersistentVolume pre-bound to it (kube-controller-manager's
  binder completes the binding); released volumes of the Delete policy are deleted.
- A VolumeSnapshot of a Trident VolumeSnapshotClass whose source PVC is bound gets a
  VolumeSnapshotContent and becomes readyToUse.

The CSIDriver annotated with the fault annotation `backend-offline` models the ONTAP backend being
unreachable: provisioning fails with a ProvisioningFailed event and the PVC stays Pending.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.areas import csi_provisioner as csi
from harvester_conformance.emulator.areas.harvester_hosts_rancher import TRIDENT, TRIDENT_CLASS
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, Fault, fault_of
from harvester_conformance.emulator.simulator.informers import ON_CHANGE
from harvester_conformance.waits import wait_for

OFFLINE = "backend-offline"
OFFLINE_MESSAGE = "failed to create volume: backend ontap-san-economy is offline (no route to the SVM management LIF)"


def _offline(cl: Cluster) -> bool:
    driver = cl.get(R.CSI_DRIVERS, TRIDENT) or {}
    return fault_of(driver) == OFFLINE


def _event(cl: Cluster, pvc: dict, message: str) -> None:
    ns, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
    event = {
        "metadata": {"name": f"{name}.trident-provisioning", "namespace": ns},
        "involvedObject": {
            "kind": "PersistentVolumeClaim",
            "namespace": ns,
            "name": name,
            "uid": pvc["metadata"]["uid"],
        },
        "reason": "ProvisioningFailed",
        "message": message,
        "type": "Warning",
        "source": {"component": f"{TRIDENT}_trident-controller"},
        "firstTimestamp": clock.stamp(),
        "lastTimestamp": clock.stamp(),
        "count": 1,
    }
    try:
        cl.create(R.EVENTS, event, ns)
    except ApiError as exc:
        if exc.status != 409:
            raise


def controller_factory(cl: Cluster, state_dir: Path) -> Callable[[], None]:
    def reconcile() -> None:
        pvs = csi.driver_pvs(cl, TRIDENT)
        offline = _offline(cl)
        pvcs = cl.list(R.PVCS)
        for pvc, sc in csi.unprovisioned(pvcs, csi.classes_of(cl, TRIDENT), pvs):
            if offline:
                _event(cl, pvc, OFFLINE_MESSAGE)
                continue
            attrs = {"backendUUID": "3f1c2d9e", "internalName": csi.pv_name(pvc).replace("-", "_")}
            csi.create_pv(cl, csi.pre_bound_pv(pvc, sc, TRIDENT, attrs))
        csi.delete_released(cl, pvs)
        _snapshots(cl, pvcs, offline)

    return reconcile


def _snapshots(cl: Cluster, pvcs: list[dict], offline: bool) -> None:
    classes = {c["metadata"]["name"] for c in cl.list(R.VOLUME_SNAPSHOT_CLASSES) if c.get("driver") == TRIDENT}
    bound = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in pvcs if p["spec"].get("volumeName")}
    snapshots = cl.list(R.VOLUME_SNAPSHOTS)
    _delete_orphaned_contents(cl, {s["metadata"]["uid"] for s in snapshots})
    for snap in snapshots:
        spec, st = snap.get("spec") or {}, snap.get("status") or {}
        if spec.get("volumeSnapshotClassName") not in classes or st.get("readyToUse") or offline:
            continue
        ns = snap["metadata"]["namespace"]
        pvc = bound.get((ns, (spec.get("source") or {}).get("persistentVolumeClaimName", "")))
        if pvc is None:
            continue
        content = f"snapcontent-{snap['metadata']['uid']}"
        body = {
            "apiVersion": R.VOLUME_SNAPSHOT_CONTENTS.api_version,
            "kind": R.VOLUME_SNAPSHOT_CONTENTS.kind,
            "metadata": {"name": content},
            "spec": {
                "deletionPolicy": "Delete",
                "driver": TRIDENT,
                "source": {"volumeHandle": pvc["spec"]["volumeName"]},
                "volumeSnapshotClassName": spec["volumeSnapshotClassName"],
                "volumeSnapshotRef": {
                    "apiVersion": R.VOLUME_SNAPSHOTS.api_version,
                    "kind": R.VOLUME_SNAPSHOTS.kind,
                    "namespace": ns,
                    "name": snap["metadata"]["name"],
                    "uid": snap["metadata"]["uid"],
                },
            },
        }
        try:
            cl.create(R.VOLUME_SNAPSHOT_CONTENTS, body)
        except ApiError as exc:
            if exc.status != 409:
                raise
        size = pvc["spec"]["resources"]["requests"]["storage"]
        status = {"boundVolumeSnapshotContentName": content, "creationTime": clock.stamp(), "readyToUse": True}
        cl.patch(
            R.VOLUME_SNAPSHOTS,
            snap["metadata"]["name"],
            {"status": {**status, "restoreSize": size}},
            ns,
            sub="status",
        )


def _delete_orphaned_contents(cl: Cluster, live: set[str]) -> None:
    """The snapshot controller's part: a content of deletionPolicy Delete whose bound VolumeSnapshot
    is gone is deleted (with the storage snapshot) (external-snapshotter common-controller)."""
    for content in cl.list(R.VOLUME_SNAPSHOT_CONTENTS):
        spec = content.get("spec") or {}
        uid = (spec.get("volumeSnapshotRef") or {}).get("uid")
        if spec.get("driver") != TRIDENT or spec.get("deletionPolicy") != "Delete" or not uid or uid in live:
            continue
        try:
            cl.delete(R.VOLUME_SNAPSHOT_CONTENTS, content["metadata"]["name"])
        except ApiError as exc:
            if not exc.not_found:
                raise


def seed(cl: Any, spec: Any, state_dir: Path, progress: Any) -> None:
    return None  # the driver's objects are seeded with the Rancher side (harvester_hosts_rancher)


def ready(cl: Any, spec: Any) -> bool:
    return True


def _set_offline(offline: bool):
    def apply(cl: Cluster) -> None:
        cl.patch(
            R.CSI_DRIVERS, TRIDENT, {"metadata": {"annotations": {FAULT_ANNOTATION: OFFLINE if offline else None}}}
        )
        if offline:  # provisioning stops at the controller's next tick
            wait_for("cluster-seeded", lambda: _offline(cl))

    return apply


CONTROLLERS = [("trident-controller", controller_factory, 2.0, ON_CHANGE)]
WEBHOOKS: list[dict] = []
API_GROUPS: list = []
FAULTS = [
    Fault(
        "CSI-04",
        "the Trident backend offline: new Trident volumes fail to provision (ProvisioningFailed)",
        _set_offline(True),
        _set_offline(False),
        objects=(f"StorageClass {TRIDENT_CLASS}",),
    )
]
