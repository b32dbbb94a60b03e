"""What Kubernetes' external-provisioner sidecar does for any CSI driver, shared by the simulated
drivers (Longhorn, Trident): a PersistentVolume pre-bound to the claim (kube-controller-manager's
binder completes the binding), and released volumes of the Delete policy deleted."""

from __future__ import annotations

from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster


def pv_name(pvc: dict) -> str:
    return f"pvc-{pvc['metadata']['uid']}"


def pre_bound_pv(pvc: dict, sc: dict, driver: str, attributes: dict[str, str], fs_type: str | None = None) -> dict:
    spec = pvc.get("spec") or {}
    name = pv_name(pvc)
    csi: dict[str, Any] = {"driver": driver, "volumeHandle": name, "volumeAttributes": attributes}
    volume_mode = spec.get("volumeMode", "Filesystem")
    if volume_mode == "Filesystem" and fs_type:
        csi["fsType"] = fs_type
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": driver}},
        "spec": {
            "capacity": {"storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
            "storageClassName": sc["metadata"]["name"],
            "volumeMode": volume_mode,
            "csi": csi,
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": pvc["metadata"]["namespace"],
                "name": pvc["metadata"]["name"],
                "uid": pvc["metadata"]["uid"],
            },
        },
    }


def driver_pvs(cl: Cluster, driver: str) -> dict[str, dict]:
    return {
        p["metadata"]["name"]: p
        for p in cl.list(R.PERSISTENT_VOLUMES)
        if ((p.get("spec") or {}).get("csi") or {}).get("driver") == driver
    }


def create_pv(cl: Cluster, body: dict) -> dict | None:
    """Create the PV; None when another tick created it first."""
    try:
        return cl.create(R.PERSISTENT_VOLUMES, body)
    except ApiError as exc:
        if exc.status != 409:
            raise
        return None


def delete_released(cl: Cluster, pvs: dict[str, dict]) -> None:
    """Delete released volumes of the Delete policy (removed from `pvs` too), but none that a
    VolumeAttachment still names: the external-provisioner refuses those ("persistentvolume %s is
    still attached to node %s", kubernetes-csi/external-provisioner pkg/controller/controller.go
    canDeleteVolume) until the detach is done."""
    try:
        attached = {
            ((va.get("spec") or {}).get("source") or {}).get("persistentVolumeName")
            for va in cl.list(R.VOLUME_ATTACHMENTS)
        }
    except ApiError as exc:
        if not exc.forbidden:
            raise
        return  # not yet allowed to read them (the simulator's grant is seeded): delete nothing yet
    for name, pv in list(pvs.items()):
        st, spec = pv.get("status") or {}, pv.get("spec") or {}
        if name in attached:
            continue
        if st.get("phase") == "Released" and spec.get("persistentVolumeReclaimPolicy") == "Delete":
            cl.delete(R.PERSISTENT_VOLUMES, name)
            del pvs[name]


def classes_of(cl: Cluster, driver: str) -> dict[str, dict]:
    return {c["metadata"]["name"]: c for c in cl.list(R.STORAGE_CLASSES) if c.get("provisioner") == driver}


def unprovisioned(pvcs: list[dict], classes: dict[str, dict], pvs: dict[str, dict]) -> list[tuple[dict, dict]]:
    """(claim, class) of the driver's claims that have neither a volume nor a PV yet."""
    out = []
    for pvc in pvcs:
        spec = pvc.get("spec") or {}
        sc = classes.get(spec.get("storageClassName") or "")
        if sc is None or pvc["metadata"].get("deletionTimestamp") or spec.get("volumeName"):
            continue
        if pv_name(pvc) not in pvs:
            out.append((pvc, sc))
    return out
