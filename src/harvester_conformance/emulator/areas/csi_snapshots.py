"""Area module (see areas/__init__.py): volume snapshots and VM backups of third-party CSI volumes.

- The external-snapshotter's snapshot-controller, for a VolumeSnapshot whose VolumeSnapshotClass does
  not exist: status.readyToUse false, status.error "Failed to get snapshot class with error ..." and a
  GetSnapshotClassFailed event (kubernetes-csi/external-snapshotter pkg/common-controller
  snapshot_controller.go `checkAndUpdateSnapshotClass`). Snapshots of an existing class are the
  driver's (Trident: areas/trident.py; Longhorn's own).
- Harvester's VM backup controller (harvester pkg/controller/master/backup/backup.go and
  backup_status.go, v1.2.0 to v1.8.x) for a VirtualMachineBackup whose VM's volumes are all on
  non-Longhorn CSI drivers: the status initialised from the VM (status.source, one volumeBackup per
  claim named `<backup>-volume-<pvc>` with the PV's CSI driver, csiDriverVolumeSnapshotClassNames
  from csi-driver-config: backupVolumeSnapshotClassName for `type: backup`, volumeSnapshotClassName
  for `type: snapshot`), a VolumeSnapshot per volume owned by the backup, each volume's readyToUse
  and error copied from its snapshot, and the backup readyToUse with Ready/Progressing conditions once
  every volume is. Errors go to status.error and a Progressing=False condition (`setStatusError`).
  Not modelled: Longhorn volumes (their backups need Longhorn's backup target), secret backups,
  metadata upload, freezing the guest file system. A VirtualMachineBackup with a status but no
  status.source is left alone (a backup synced from a backup target, or one a fault wrote).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvester_conformance.checks.quantities import whole
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.simulator.informers import ON_CHANGE

LONGHORN = "driver.longhorn.io"
SETTING = "csi-driver-config"
GROUP_VERSION = "harvesterhci.io/v1beta1"
# The setting's built-in default (harvester pkg/settings/settings.go), merged under the value.
DEFAULT_CONFIG = {
    LONGHORN: {"volumeSnapshotClassName": "longhorn-snapshot", "backupVolumeSnapshotClassName": "longhorn"}
}


class _BackupError(Exception):
    """What Harvester's controller would write to the backup's status.error."""


def _event(cl: Cluster, kind: str, obj: dict, reason: str, message: str, component: str, kind_type: str) -> None:
    meta = obj["metadata"]
    body = {
        "metadata": {"name": f"{meta['name']}.{reason.lower()}", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion"),
            "kind": kind,
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta.get("uid"),
        },
        "reason": reason,
        "message": message,
        "type": kind_type,
        "source": {"component": component},
        "firstTimestamp": clock.stamp(),
        "lastTimestamp": clock.stamp(),
        "count": 1,
    }
    try:
        cl.create(R.EVENTS, body, meta["namespace"])
    except ApiError as exc:
        if exc.status != 409:
            raise


def _missing_classes(cl: Cluster) -> None:
    """snapshot-controller: a VolumeSnapshot naming a class that does not exist gets the error."""
    classes = {c["metadata"]["name"] for c in cl.list(R.VOLUME_SNAPSHOT_CLASSES)}
    for snap in cl.list(R.VOLUME_SNAPSHOTS):
        name = (snap.get("spec") or {}).get("volumeSnapshotClassName")
        st = snap.get("status") or {}
        if not name or name in classes or st.get("error") or snap["metadata"].get("deletionTimestamp"):
            continue
        message = (
            f'Failed to get snapshot class with error volumesnapshotclass.snapshot.storage.k8s.io "{name}" not found'
        )
        status = {"readyToUse": False, "error": {"message": message, "time": clock.stamp()}}
        cl.patch(
            R.VOLUME_SNAPSHOTS,
            snap["metadata"]["name"],
            {"status": status},
            snap["metadata"]["namespace"],
            sub="status",
        )
        _event(cl, "VolumeSnapshot", snap, "GetSnapshotClassFailed", message, "snapshot-controller", "Warning")


def _driver_config(cl: Cluster) -> dict[str, dict]:
    """csi-driver-config: the default's entries, with the value's added for other drivers (as
    `getCSIDriverMap` merges them)."""
    setting = cl.get(R.HARVESTER_SETTINGS, SETTING) or {}
    try:
        value = json.loads(str(setting.get("value") or "{}"))
    except ValueError as exc:
        raise _BackupError(f"unmarshal failed, error: {exc}, value: {setting.get('value')}") from None
    merged = dict(DEFAULT_CONFIG)
    for key, entry in (value or {}).items():
        merged.setdefault(key, entry)
    return merged


def _class_names(cl: Cluster, backup_type: str, volume_backups: list[dict]) -> dict[str, str]:
    config = _driver_config(cl)
    key = "backupVolumeSnapshotClassName" if backup_type == "backup" else "volumeSnapshotClassName"
    out: dict[str, str] = {}
    for vb in volume_backups:
        driver = vb["csiDriverName"]
        if driver in out:
            continue
        if driver not in config:
            raise _BackupError(f"can't find CSI driver {driver} in setting CSIDriverInfo")
        name = str((config[driver] or {}).get(key) or "")
        if cl.get(R.VOLUME_SNAPSHOT_CLASSES, name) is None:
            raise _BackupError(f"can't find volumeSnapshotClass {name} for CSI driver {driver}")
        out[driver] = name
    return out


def _claims(vm: dict) -> list[tuple[str, str]]:
    """(volume, claim) of the VM's PVC and DataVolume volumes (`volumeToPVCMappings`)."""
    out = []
    for vol in ((vm.get("spec") or {}).get("template") or {}).get("spec", {}).get("volumes") or []:
        source = vol.get("persistentVolumeClaim") or vol.get("dataVolume") or {}
        claim = source.get("claimName") or source.get("name")
        if claim:
            out.append((vol["name"], claim))
    return out


def _volume_backups(cl: Cluster, backup: dict, vm: dict) -> list[dict] | None:
    """One entry per claim; None when a volume is Longhorn's (not modelled here)."""
    ns, out = vm["metadata"]["namespace"], []
    for volume, claim in _claims(vm):
        pvc = cl.get(R.PVCS, claim, ns)
        if pvc is None:
            raise _BackupError(f'persistentvolumeclaims "{claim}" not found')
        pv = cl.get(R.PERSISTENT_VOLUMES, (pvc.get("spec") or {}).get("volumeName") or "")
        if pv is None:
            raise _BackupError(f"PersistentVolume of claim {ns}/{claim} not found")
        csi = (pv.get("spec") or {}).get("csi")
        if not csi:
            raise _BackupError(
                f"PV {pv['metadata']['name']} is not from CSI driver, cannot take a {backup['spec'].get('type')}"
            )
        if csi.get("driver") == LONGHORN:
            return None
        meta = pvc["metadata"]
        out.append(
            {
                "name": f"{backup['metadata']['name']}-volume-{claim}",
                "volumeName": volume,
                "csiDriverName": csi["driver"],
                "persistentVolumeClaim": {
                    "metadata": {
                        "name": claim,
                        "namespace": ns,
                        "labels": meta.get("labels") or {},
                        "annotations": meta.get("annotations") or {},
                    },
                    "spec": pvc.get("spec") or {},
                },
                "readyToUse": False,
                "volumeSize": whole(((pv.get("spec") or {}).get("capacity") or {}).get("storage", "0")),
            }
        )
    return out


def _condition(kind: str, status: str, reason: str, message: str) -> dict:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": clock.stamp()}


def _set_error(cl: Cluster, backup: dict, message: str) -> None:
    status = dict(backup.get("status") or {})
    if (status.get("error") or {}).get("message") == message:
        return
    status["error"] = {"message": message, "time": clock.stamp()}
    status["conditions"] = [
        _condition("InProgress", "False", "Error", message),
        _condition("Ready", "False", "", "Not Ready"),
    ]
    cl.patch(R.VM_BACKUPS, backup["metadata"]["name"], {"status": status}, backup["metadata"]["namespace"])


def _init(cl: Cluster, backup: dict) -> None:
    ns, spec = backup["metadata"]["namespace"], backup.get("spec") or {}
    vm = cl.get(R.VMS, (spec.get("source") or {}).get("name") or "", ns)
    if vm is None:
        raise _BackupError(f'virtualmachines.kubevirt.io "{(spec.get("source") or {}).get("name")}" not found')
    volume_backups = _volume_backups(cl, backup, vm)
    if volume_backups is None:
        return
    status: dict[str, Any] = {
        "readyToUse": False,
        "sourceUID": vm["metadata"].get("uid"),
        "source": {
            "metadata": {
                "name": vm["metadata"]["name"],
                "namespace": ns,
                "labels": vm["metadata"].get("labels") or {},
                "annotations": vm["metadata"].get("annotations") or {},
            },
            "spec": vm.get("spec") or {},
        },
        "volumeBackups": volume_backups,
        "csiDriverVolumeSnapshotClassNames": _class_names(cl, str(spec.get("type") or "backup"), volume_backups),
    }
    cl.patch(R.VM_BACKUPS, backup["metadata"]["name"], {"status": status}, ns)


def _snapshot_body(backup: dict, vb: dict, class_name: str, pvc: dict | None) -> dict:
    meta = backup["metadata"]
    annotations = {}
    if pvc is not None:
        annotations["harvesterhci.io/storageClassName"] = (pvc.get("spec") or {}).get("storageClassName") or ""
    return {
        "apiVersion": R.VOLUME_SNAPSHOTS.api_version,
        "kind": R.VOLUME_SNAPSHOTS.kind,
        "metadata": {
            "name": vb["name"],
            "namespace": meta["namespace"],
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": GROUP_VERSION,
                    "kind": "VirtualMachineBackup",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {
            "source": {"persistentVolumeClaimName": vb["persistentVolumeClaim"]["metadata"]["name"]},
            "volumeSnapshotClassName": class_name,
        },
    }


def _progress(cl: Cluster, backup: dict) -> None:
    """`reconcileVolumeSnapshots` then `updateConditions`."""
    ns, st = backup["metadata"]["namespace"], backup["status"]
    classes = _class_names(cl, str((backup.get("spec") or {}).get("type") or "backup"), st.get("volumeBackups") or [])
    new = json.loads(json.dumps(st))
    for vb in new.get("volumeBackups") or []:
        snap = cl.get(R.VOLUME_SNAPSHOTS, vb["name"], ns)
        if snap is None:
            pvc = cl.get(R.PVCS, vb["persistentVolumeClaim"]["metadata"]["name"], ns)
            snap = cl.create(R.VOLUME_SNAPSHOTS, _snapshot_body(backup, vb, classes[vb["csiDriverName"]], pvc), ns)
            _event(
                cl,
                "VirtualMachineBackup",
                backup,
                "VolumeSnapshotCreated",
                f"Successfully created VolumeSnapshot {ns}/{vb['name']}",
                "harvester-vm-backup-controller",
                "Normal",
            )
        snap_st = snap.get("status")
        if snap_st is not None:
            vb["readyToUse"] = snap_st.get("readyToUse")
            if snap_st.get("creationTime"):
                vb["creationTime"] = snap_st["creationTime"]
            if snap_st.get("error"):
                vb["error"] = snap_st["error"]
            else:
                vb.pop("error", None)
    ready = all(vb.get("readyToUse") for vb in new.get("volumeBackups") or [])
    failed = next((vb for vb in new.get("volumeBackups") or [] if vb.get("error")), None)
    if ready and not st.get("readyToUse"):
        new["creationTime"] = clock.stamp()
        new.pop("error", None)
        new["conditions"] = [
            _condition("InProgress", "False", "", "Operation complete"),
            _condition("Ready", "True", "", "Operation complete"),
        ]
    elif failed is not None:
        message = f"VolumeSnapshot {failed['name']} in error state"
        if (new.get("error") or {}).get("message") != message:
            new["error"] = {"message": message, "time": clock.stamp()}
            new["conditions"] = [
                _condition("InProgress", "False", "Error", message),
                _condition("Ready", "False", "", "Not Ready"),
            ]
    elif not new.get("conditions"):
        new["conditions"] = [
            _condition("InProgress", "True", "", "Operation in progress"),
            _condition("Ready", "False", "", "Not ready"),
        ]
    new["readyToUse"] = ready
    if new != st:
        cl.patch(R.VM_BACKUPS, backup["metadata"]["name"], {"status": new}, ns)


def _backups(cl: Cluster) -> None:
    for backup in cl.list(R.VM_BACKUPS):
        st = backup.get("status")
        foreign = st is not None and "source" not in st and "error" not in st
        if backup["metadata"].get("deletionTimestamp") or foreign:
            continue
        if st is not None and st.get("readyToUse"):
            continue
        try:
            if st is None or "source" not in st:
                _init(cl, backup)
            else:
                _progress(cl, backup)
        except _BackupError as exc:
            _set_error(cl, backup, str(exc))


def controller_factory(cl: Cluster, state_dir: Path) -> Callable[[], None]:
    def reconcile() -> None:
        _missing_classes(cl)
        _backups(cl)

    return reconcile


def seed(cl: Any, spec: Any, state_dir: Path, progress: Any) -> None:
    return None  # nothing of its own: the drivers and classes are seeded by their areas


def ready(cl: Any, spec: Any) -> bool:
    return True


CONTROLLERS = [("csi-snapshots", controller_factory, 2.0, ON_CHANGE)]
WEBHOOKS: list[dict] = []
API_GROUPS: list = []
FAULTS: list = []  # CSI-04's fault is the Trident area's (backend offline); see the lead's note
