"""External CSI storage backup and restore with Velero (article 2025-05-26): VEL-01, VEL-03.

Both apply only where Velero runs. `velero install` (vmware-tanzu/velero pkg/install, v1.16) and
the vmware-tanzu Helm chart both create the server Deployment `velero` in the install namespace
(`velero` by default, any namespace allowed), labelled `component: velero` by the CLI; the CRDs
alone are no sign (Helm leaves them behind on uninstall).

VEL-01: Velero's CSI support chooses, among the VolumeSnapshotClasses of a volume's driver, the
one labelled `velero.io/csi-volumesnapshot-class` (GetVolumeSnapshotClassForStorageClass: the label's
presence counts); the article labels Harvester's `longhorn` class (driver.longhorn.io, `type: bak`)
so that Longhorn volumes are backed up through it rather than through `longhorn-snapshot`.
VEL-03: the NFS CSI driver (kubernetes-csi/csi-driver-nfs, provisioner `nfs.csi.k8s.io`) serves
filesystem volumes only, and its snapshots need them: a VM volume on an NFS class in Block mode
(Harvester's default for VM volumes) cannot be snapshotted, so Velero cannot back it up.
"""

from __future__ import annotations

from collections.abc import Iterable

from harvester_conformance.checks.findings import Finding

VELERO = "velero"
VSC = "longhorn"
VSC_LABEL = "velero.io/csi-volumesnapshot-class"
NFS_PROVISIONER = "nfs.csi.k8s.io"


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def velero_deployments(deployments: Iterable[dict]) -> list[dict]:
    """Velero's server Deployments: named `velero` and running Velero's image or carrying its labels."""
    found = []
    for dep in deployments:
        meta = _meta(dep)
        if meta.get("name") != VELERO:
            continue
        labels = meta.get("labels") or {}
        containers = ((((dep.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
        images = [str(c.get("image") or "") for c in containers]
        if (
            labels.get("component") == VELERO
            or labels.get("app.kubernetes.io/name") == VELERO
            or any("velero/velero:" in i or i.endswith("/velero") for i in images)
        ):
            found.append(dep)
    return found


def installed_where(deployments: Iterable[dict]) -> str:
    """ "namespace/name" of the first Velero server found, or "" when Velero is not installed."""
    deps = velero_deployments(deployments)
    return f"{_meta(deps[0]).get('namespace')}/{VELERO}" if deps else ""


def check_snapshot_class(vsc: dict | None) -> list[Finding]:
    """VEL-01: the `longhorn` VolumeSnapshotClass carries Velero's class label."""
    ref = f"VolumeSnapshotClass {VSC}"
    if vsc is None:
        return [Finding(ref, "does not exist: Velero finds no Longhorn snapshot class to back up Longhorn volumes")]
    if VSC_LABEL not in (_meta(vsc).get("labels") or {}):
        return [
            Finding(
                ref,
                f"has no label {VSC_LABEL}: Velero's CSI snapshots of Longhorn volumes may pick another class of "
                "driver.longhorn.io (longhorn-snapshot, in-cluster snapshots only) or none",
            )
        ]
    return []


def vm_claims(vms: Iterable[dict]) -> dict[tuple[str, str], str]:
    """(namespace, claim) -> "namespace/vm" for every PVC a VM's template uses."""
    out = {}
    for vm in vms:
        meta = _meta(vm)
        spec = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
        for v in spec.get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName") or (v.get("dataVolume") or {}).get("name")
            if claim:
                out.setdefault((meta.get("namespace", ""), claim), f"{meta.get('namespace')}/{meta.get('name')}")
    return out


def check_nfs_volume_modes(pvcs: Iterable[dict], classes: Iterable[dict], vms: Iterable[dict]) -> list[Finding]:
    """VEL-03: every VM volume on an NFS CSI class has volumeMode Filesystem."""
    nfs = {_meta(c).get("name") for c in classes if c.get("provisioner") == NFS_PROVISIONER}
    used = vm_claims(vms)
    found = []
    for pvc in pvcs:
        meta, spec = _meta(pvc), pvc.get("spec") or {}
        vm = used.get((meta.get("namespace", ""), meta.get("name", "")))
        if vm is None or spec.get("storageClassName") not in nfs:
            continue
        mode = spec.get("volumeMode") or "Filesystem"
        if mode != "Filesystem":
            found.append(
                Finding(
                    f"PersistentVolumeClaim {meta.get('namespace')}/{meta.get('name')}",
                    f"volume of VirtualMachine {vm} on NFS class {spec.get('storageClassName')} has volumeMode "
                    f"{mode}: NFS CSI snapshots, and so Velero backups, need Filesystem",
                )
            )
    return found
