"""CSI-01..03 and CSI-05 without a cluster (harvester settings.go csi-driver-config; image.go
spec.backend from v1.5.0, facts.md §17.7; KubeVirt boots the lowest bootOrder, else the first disk;
harvester-installer's rendering of os.persistent_state_paths and os.modules into /oem)."""

from __future__ import annotations

import json

from harvester_conformance.checks import rook_ceph as rc
from harvester_conformance.probes.parsers import KernelModule, Mount

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


# -- CSI-05: hosts that run Rook (the article's os.persistent_state_paths and os.modules) ------------------
HARVESTER_PATHS = "/etc/systemd /etc/rancher /var/log /var/lib/rancher /var/lib/kubelet /var/lib/longhorn"


def _oem(extra_paths: str = "", modules: tuple[str, ...] = ()) -> bytes:
    """/oem/90_custom.yaml as harvester-installer renders the configuration (templates/cos-rootfs.yaml,
    cos.go: one `modprobe` command per os.modules entry)."""
    commands = "".join(f"        - modprobe {m}\n" for m in modules)
    return (
        "name: Harvester Configuration\nstages:\n  rootfs:\n"
        "    - name: Rootfs layout overwrite\n      environment_file: /run/cos/cos-layout.env\n"
        f"      environment:\n        PERSISTENT_STATE_PATHS: >-\n          {HARVESTER_PATHS}\n"
        + (f"          {extra_paths}\n" if extra_paths else "")
        + '        PERSISTENT_STATE_BIND: "true"\n'
        + "  initramfs:\n    - hostname: node-1\n"
        + (f"      commands:\n{commands}" if commands else "")
    ).encode()


def _mounts(*bound: str) -> tuple[Mount, ...]:
    base = [
        Mount("/", "/", "ext2", "/dev/loop0", "ro"),
        Mount("/var", "/", "overlay", "overlay", "rw"),
        Mount("/etc", "/", "overlay", "overlay", "rw"),
        Mount("/var/lib/kubelet", "/.state/var-lib-kubelet.bind", "ext4", "/dev/sda5", "rw"),
    ]
    return (
        *base,
        *(Mount(p, "/.state/" + p.strip("/").replace("/", "-") + ".bind", "ext4", "/dev/sda5", "rw") for p in bound),
    )


def _modules(*names: str) -> tuple[KernelModule, ...]:
    return tuple(KernelModule(n, 1, 0, (), "Live") for n in ("kvm", *names))


def _rook(**change: object) -> rc.RookHost:
    base: dict = {
        "node": "node-2",
        "evidence": ("/var/lib/rook holds rook-ceph",),
        "modules": _modules("rbd", "nbd"),
        "builtin": (),
        "mounts": _mounts("/var/lib/rook", "/var/lib/ceph"),
        "oem": {"/oem/90_custom.yaml": _oem("/var/lib/rook /var/lib/ceph", ("rbd", "nbd"))},
    }
    return rc.RookHost(**{**base, **change})


def test_rook_evidence() -> None:
    assert rc.rook_evidence(None, None) == []
    assert rc.rook_evidence((), ("kubernetes.io", "driver.longhorn.io", "rbd.csi.ceph.com")) == []
    assert rc.rook_evidence(("rook-ceph",), None) == ["/var/lib/rook holds rook-ceph"]
    assert rc.rook_evidence(None, ("rook-ceph.rbd.csi.ceph.com", "rook-ceph.cephfs.csi.ceph.com")) == [
        "/var/lib/kubelet/plugins/rook-ceph.rbd.csi.ceph.com",
        "/var/lib/kubelet/plugins/rook-ceph.cephfs.csi.ceph.com",
    ]


def test_rook_host_prepared_as_the_article_says() -> None:
    assert rc.check_rook_host(_rook()) is None
    # A persisted parent directory covers both; modules from yip's `modules` key or modules-load.d.
    oem = _oem("/var/lib") + (
        b"  boot:\n    - modules: [rbd]\n      files:\n        - path: /etc/modules-load.d/rook.conf\n"
        b"          content: nbd\n"
    )
    assert rc.check_rook_host(_rook(oem={"/oem/90_custom.yaml": oem}, mounts=_mounts("/var/lib"))) is None


def test_rook_host_without_any_preparation() -> None:
    found = rc.check_rook_host(_rook(modules=_modules(), mounts=_mounts(), oem={"/oem/90_custom.yaml": _oem()}))
    assert found is not None and found.object == "Node node-2"
    assert found.message == (
        "runs Rook (/var/lib/rook holds rook-ceph): /var/lib/rook is on overlay /var (rebuilt at every boot); "
        "/var/lib/ceph is on overlay /var (rebuilt at every boot); the /oem rootfs stage's PERSISTENT_STATE_PATHS "
        "lacks /var/lib/rook, /var/lib/ceph; module(s) rbd, nbd not loaded (not in /proc/modules nor built in); "
        "no /oem boot stage loads rbd, nbd (os.modules)"
    )


def test_rook_host_configured_but_not_rebooted_yet() -> None:
    found = rc.check_rook_host(_rook(modules=_modules(), mounts=_mounts()))
    assert found is not None
    assert "/var/lib/rook is on overlay /var" in found.message and "PERSISTENT_STATE_PATHS" not in found.message
    assert "module(s) rbd, nbd not loaded" in found.message and "no /oem boot stage" not in found.message


def test_rook_host_prepared_by_hand_only_loses_it_at_reboot() -> None:
    found = rc.check_rook_host(_rook(oem={"/oem/90_custom.yaml": _oem()}))
    assert found is not None
    assert (
        "lacks /var/lib/rook, /var/lib/ceph" in found.message and "no /oem boot stage loads rbd, nbd" in found.message
    )
    assert "is on overlay" not in found.message and "not loaded" not in found.message
    found = rc.check_rook_host(_rook(oem={}))
    assert found is not None
    assert (
        "no /oem rootfs stage sets PERSISTENT_STATE_PATHS: /var/lib/rook, /var/lib/ceph not persisted" in found.message
    )


def test_rook_host_with_modules_built_into_the_kernel() -> None:
    builtin = rc.builtin_modules(b"kernel/drivers/block/rbd.ko\nkernel/drivers/block/nbd.ko.zst\n")
    assert builtin == ("rbd", "nbd")
    assert (
        rc.check_rook_host(
            _rook(modules=_modules(), builtin=builtin, oem={"/oem/90_custom.yaml": _oem("/var/lib/rook /var/lib/ceph")})
        )
        is None
    )


def test_rook_host_later_rootfs_stage_overrides_the_paths() -> None:
    # yip writes the environment file key by key: a later file setting PERSISTENT_STATE_PATHS replaces it.
    later = b"stages:\n  rootfs:\n    - environment:\n        PERSISTENT_STATE_PATHS: /var/lib/rook\n"
    found = rc.check_rook_host(_rook(oem={**_rook().oem, "/oem/99_rook.yaml": later}))
    assert found is not None and "lacks /var/lib/ceph" in found.message


# -- CSI-04 ---------------------------------------------------------------------------------------
TRIDENT = "csi.trident.netapp.io"
VENDOR_CFG = {TRIDENT: {"volumeSnapshotClassName": "snap", "backupVolumeSnapshotClassName": "bak"}}


def test_vendor_classes_names_the_configured_snapshot_classes():
    sc = {"metadata": _meta("ontap"), "provisioner": TRIDENT}
    assert rc.vendor_classes(_setting(VENDOR_CFG), sc, "ontap") == (TRIDENT, "snap", "bak")
    assert "does not exist" in rc.vendor_classes(_setting(VENDOR_CFG), None, "ontap").message
    lh = rc.vendor_classes(_setting(VENDOR_CFG), {"metadata": _meta("lh"), "provisioner": LH}, "lh")
    assert lh.object == "StorageClass lh"
    assert "no entry for" in rc.vendor_classes(_setting({}), sc, "ontap").message


def test_backup_type_follows_release_and_backup_target():
    target = {"value": json.dumps({"type": "s3", "endpoint": "https://s3.example"})}
    assert rc.backup_type((1, 4, 3), target) == "backup"
    assert rc.backup_type((1, 4, 3), {"value": ""}) == "snapshot"
    assert rc.backup_type((1, 5, 0), target) == "snapshot"


def _event(kind: str, name: str, reason: str, message: str) -> dict:
    return {"involvedObject": {"kind": kind, "namespace": "ns", "name": name}, "reason": reason, "message": message}


def test_check_claim_names_claim_and_class_with_events():
    assert rc.check_claim({"status": {"phase": "Bound"}}, "ns", "c", "ontap", []) == []
    ev = [_event("PersistentVolumeClaim", "c", "ProvisioningFailed", "backend offline")]
    out = rc.check_claim({"status": {"phase": "Pending"}}, "ns", "c", "ontap", ev)
    assert [f.object for f in out] == ["PersistentVolumeClaim ns/c", "StorageClass ontap"]
    assert "ProvisioningFailed: backend offline" in out[0].message


def test_check_snapshot_names_missing_or_foreign_class():
    classes = [{"metadata": _meta("snap"), "driver": TRIDENT}, {"metadata": _meta("lh"), "driver": LH}]
    ready = {"status": {"readyToUse": True}}
    assert rc.check_snapshot(ready, "ns", "s", "snap", classes, TRIDENT, []) == []
    err = {"status": {"readyToUse": False, "error": {"message": "Failed to get snapshot class"}}}
    out = rc.check_snapshot(err, "ns", "s", "gone", classes, TRIDENT, [])
    assert [f.object for f in out] == ["VolumeSnapshot ns/s", "VolumeSnapshotClass gone"]
    assert "Failed to get snapshot class" in out[0].message and "does not exist" in out[1].message
    foreign = rc.check_snapshot(ready, "ns", "s", "lh", classes, TRIDENT, [])
    assert "of driver driver.longhorn.io" in foreign[1].message


def test_check_vm_backup_ready_error_and_wrong_class():
    vb = {"name": "b-volume-c", "volumeName": "data", "readyToUse": True}
    snaps = {"b-volume-c": {"spec": {"volumeSnapshotClassName": "bak"}}}
    ok = {"status": {"readyToUse": True, "volumeBackups": [vb]}}
    assert rc.check_vm_backup(ok, "ns", "b", "bak", snaps, []) == []
    wrong = rc.check_vm_backup(ok, "ns", "b", "snap", snaps, [])
    assert [f.object for f in wrong] == ["VirtualMachineBackup ns/b", "VolumeSnapshot ns/b-volume-c"]
    failed = {
        "status": {
            "readyToUse": False,
            "error": {"message": "can't find volumeSnapshotClass bak for CSI driver x"},
            "conditions": [{"type": "Ready", "status": "False", "message": "Not Ready"}],
            "volumeBackups": [{**vb, "readyToUse": False}],
        }
    }
    out = rc.check_vm_backup(failed, "ns", "b", "bak", snaps, [])
    assert "can't find volumeSnapshotClass bak" in out[0].message and "Ready=False" in out[0].message
    assert rc.check_vm_backup(None, "ns", "b", "bak", {}, [])[0].message.startswith("not ready (absent")
