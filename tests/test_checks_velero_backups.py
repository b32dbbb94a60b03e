"""VEL-01/03 without a cluster: Velero found by its server Deployment, the `longhorn` class labelled
for it, and VM volumes on NFS CSI classes in Filesystem mode."""

from __future__ import annotations

from harvester_conformance.checks import velero_backups as vel


def deployment(name: str, ns: str, image: str = "velero/velero:v1.16.0", labels: dict | None = None) -> dict:
    spec = {"template": {"spec": {"containers": [{"name": name, "image": image}]}}}
    return {"metadata": {"name": name, "namespace": ns, "labels": labels or {}}, "spec": spec}


def test_velero_is_found_by_its_server_deployment() -> None:
    assert vel.installed_where([deployment("harvester", "harvester-system", "rancher/harvester:v1.3.1")]) == ""
    assert vel.installed_where([deployment("velero", "backup", labels={"component": "velero"})]) == "backup/velero"
    assert vel.installed_where([deployment("velero", "velero", "registry.local/mirror/velero:v1.16.0")]) == ""
    helm = deployment("velero", "velero", "registry.local/velero/velero:v1.16.0")
    assert vel.installed_where([helm]) == "velero/velero"
    other = deployment("velero", "apps", "nginx:1.27")  # a namesake that is not Velero
    assert vel.installed_where([other]) == ""


def test_longhorn_class_needs_the_label() -> None:
    labelled = {"metadata": {"name": "longhorn", "labels": {vel.VSC_LABEL: "true"}}}
    assert vel.check_snapshot_class(labelled) == []
    assert vel.check_snapshot_class({"metadata": {"name": "longhorn", "labels": {vel.VSC_LABEL: ""}}}) == []
    found = vel.check_snapshot_class({"metadata": {"name": "longhorn"}})
    assert [f.object for f in found] == ["VolumeSnapshotClass longhorn"]
    assert "does not exist" in vel.check_snapshot_class(None)[0].message


def _pvc(name: str, sc: str, mode: str | None) -> dict:
    spec = {"storageClassName": sc, **({"volumeMode": mode} if mode else {})}
    return {"metadata": {"name": name, "namespace": "demo"}, "spec": spec}


def _vm(name: str, *claims: str) -> dict:
    vols = [{"name": f"d{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims[:1])]
    vols += [{"name": f"v{i}", "dataVolume": {"name": c}} for i, c in enumerate(claims[1:])]
    return {"metadata": {"name": name, "namespace": "demo"}, "spec": {"template": {"spec": {"volumes": vols}}}}


def test_vm_volumes_on_nfs_must_be_filesystem() -> None:
    classes = [
        {"metadata": {"name": "nfs-csi"}, "provisioner": "nfs.csi.k8s.io"},
        {"metadata": {"name": "harvester-longhorn"}, "provisioner": "driver.longhorn.io"},
    ]  # noqa: E501
    pvcs = [
        _pvc("root", "nfs-csi", "Filesystem"),
        _pvc("data", "nfs-csi", "Block"),
        _pvc("default-mode", "nfs-csi", None),
        _pvc("lh", "harvester-longhorn", "Block"),
        _pvc("unused", "nfs-csi", "Block"),
    ]
    found = vel.check_nfs_volume_modes(pvcs, classes, [_vm("vm-nfs", "root", "data", "default-mode", "lh")])
    assert [f.object for f in found] == ["PersistentVolumeClaim demo/data"]
    assert "demo/vm-nfs" in found[0].message and "Block" in found[0].message
