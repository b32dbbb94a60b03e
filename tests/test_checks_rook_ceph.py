"""CSI-01..03 without a cluster (harvester settings.go csi-driver-config; image.go spec.backend from
v1.5.0, facts.md §17.7; KubeVirt boots the lowest bootOrder, else the first disk)."""

from __future__ import annotations

import json

from harvester_conformance.checks import rook_ceph as rc

LH, ROOK = "driver.longhorn.io", "rook-ceph.rbd.csi.ceph.com"


def _meta(name: str, ns: str | None = None) -> dict:
    return {"name": name, **({"namespace": ns} if ns else {})}


def _setting(cfg: object) -> dict:
    return {"metadata": _meta("csi-driver-config"), "value": cfg if isinstance(cfg, str) else json.dumps(cfg)}


VSC = [
    {"metadata": _meta("longhorn-snapshot"), "driver": LH},
    {"metadata": _meta("longhorn"), "driver": LH},
    {"metadata": _meta("csi-rbdplugin-snapclass-external"), "driver": ROOK},
]
DRIVERS = [{"metadata": _meta(LH)}, {"metadata": _meta(ROOK)}]
SCS = [
    {"metadata": _meta("harvester-longhorn"), "provisioner": LH},
    {"metadata": _meta("ceph-rbd"), "provisioner": ROOK},
]
GOOD = {
    LH: {"volumeSnapshotClassName": "longhorn-snapshot", "backupVolumeSnapshotClassName": "longhorn"},
    ROOK: {
        "volumeSnapshotClassName": "csi-rbdplugin-snapclass-external",
        "backupVolumeSnapshotClassName": "csi-rbdplugin-snapclass-external",
    },
}


def test_driver_config_consistent() -> None:
    assert rc.check_driver_config(_setting(GOOD), VSC, DRIVERS, SCS) == ([], {})


def test_driver_config_problems_name_the_setting() -> None:
    bad = {
        **GOOD,
        LH: {
            "volumeSnapshotClassName": "longhorn-snapshot-v2",
            "backupVolumeSnapshotClassName": "csi-rbdplugin-snapclass-external",
        },
    }
    found, _ = rc.check_driver_config(_setting(bad), VSC, DRIVERS, SCS)
    assert {f.object for f in found} == {"Setting csi-driver-config"}
    assert (
        "longhorn-snapshot-v2, which does not exist" in found[0].message and f"expected driver {LH}" in found[1].message
    )
    found, _ = rc.check_driver_config(_setting("{not json"), VSC, DRIVERS, SCS)
    assert "not JSON" in found[0].message
    found, _ = rc.check_driver_config(_setting(GOOD), VSC, DRIVERS[:1], SCS[:1])
    assert [m.message.split(":")[0] for m in found] == [ROOK, ROOK]
    trident = {"csi.trident.netapp.io": {"volumeSnapshotClassName": "t", "backupVolumeSnapshotClassName": "t"}}
    vsc = [*VSC, {"metadata": _meta("t"), "driver": "csi.trident.netapp.io"}]
    drivers = [*DRIVERS, {"metadata": _meta("csi.trident.netapp.io")}]
    assert rc.check_driver_config(_setting(trident), vsc, drivers, SCS) == ([], {"csi.trident.netapp.io": "NTA-01"})


def _image(name: str, sc: str, backend: str | None = None) -> dict:
    spec = {"backend": backend, "targetStorageClassName": sc} if backend else {}
    return {"metadata": _meta(name, "default"), "spec": spec, "status": {"storageClassName": sc}}


CLASSES = {
    "longhorn-image-a": {"metadata": _meta("longhorn-image-a"), "provisioner": LH},
    "ceph-rbd": {"metadata": _meta("ceph-rbd"), "provisioner": ROOK},
}


def test_images_on_longhorn_and_cdi_from_v1_5() -> None:
    assert rc.check_image(_image("a", "longhorn-image-a"), CLASSES, {LH, ROOK}, False) is None
    found = rc.check_image(_image("v", "ceph-rbd", "cdi"), CLASSES, {LH, ROOK}, False)
    assert found is not None and found.object == "VirtualMachineImage default/v" and ROOK in found.message
    assert rc.check_image(_image("v", "ceph-rbd", "cdi"), CLASSES, {LH, ROOK}, True) is None
    assert rc.check_image(_image("v", "ceph-rbd", "cdi"), CLASSES, {LH}, True) is not None  # no driver
    assert rc.check_image(_image("v", "gone", "cdi"), CLASSES, {LH, ROOK}, True) is not None
    assert rc.check_image(_image("b", "ceph-rbd", "backingimage"), CLASSES, {LH, ROOK}, True) is not None
    assert rc.check_image({"metadata": _meta("new", "default")}, CLASSES, {LH}, True) is None  # not imported yet


def _vm(disks: list[dict], volumes: list[dict]) -> dict:
    spec = {"domain": {"devices": {"disks": disks}}, "volumes": volumes}
    return {"metadata": _meta("vm", "default"), "spec": {"template": {"spec": spec}}}


def test_boot_volume_on_longhorn_only() -> None:
    pvcs = {
        "root": {"spec": {"storageClassName": "longhorn-image-a"}},
        "data": {"spec": {"storageClassName": "ceph-rbd"}},
    }
    vols = [
        {"name": "d0", "persistentVolumeClaim": {"claimName": "root"}},
        {"name": "d1", "persistentVolumeClaim": {"claimName": "data"}},
    ]
    assert rc.check_boot_volume(_vm([{"name": "d0"}, {"name": "d1"}], vols), pvcs, CLASSES) is None
    found = rc.check_boot_volume(
        _vm([{"name": "d0", "bootOrder": 2}, {"name": "d1", "bootOrder": 1}], vols), pvcs, CLASSES
    )
    assert found is not None and found.object == "VirtualMachine default/vm" and "data" in found.message
    vm = _vm([{"name": "d1"}], vols)
    vm["metadata"]["annotations"] = {
        rc.VOLUME_CLAIM_TEMPLATES: json.dumps([{"metadata": _meta("data"), "spec": {"storageClassName": "ceph-rbd"}}])
    }
    assert rc.check_boot_volume(vm, {}, CLASSES) is not None  # the claim not created yet: its template
