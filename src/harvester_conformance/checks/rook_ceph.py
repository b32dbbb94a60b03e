"""Third-party CSI storage (article use_rook_ceph_external_storage; facts.md §2.2, §11, §17.7, R6).

Pure functions over plain data: `csi-driver-config` against the snapshot classes, CSIDrivers and
StorageClasses (CSI-01), where VM images are stored (CSI-02) and which class backs each VM's boot
volume (CSI-03).

Upstream sources:
- `csi-driver-config`: harvester/harvester `pkg/settings/settings.go` (JSON: provisioner ->
  {volumeSnapshotClassName, backupVolumeSnapshotClassName}; default names driver.longhorn.io with
  `longhorn-snapshot` and `longhorn`), read by the VM backup controller to pick the
  VolumeSnapshotClass of each volume's provisioner (`pkg/controller/master/backup/`).
- images: `pkg/apis/harvesterhci.io/v1beta1/image.go` (`spec.backend` backingimage|cdi and
  `spec.targetStorageClassName` from v1.5.0, unchanged to v1.8.2; `status.storageClassName`, the
  image's own Longhorn class `longhorn-<image>` for backing images).
- boot volume: KubeVirt boots the disk with the lowest `bootOrder`, else the first disk listed
  (kubevirt `pkg/virt-launcher/virtwrap/converter`); Harvester supports third-party classes for
  non-boot volumes only (the article; HV docs "Third-party storage").
"""

from __future__ import annotations

import json

from harvester_conformance.checks.findings import Finding

SETTING = "csi-driver-config"
SETTING_REF = f"Setting {SETTING}"
LONGHORN = "driver.longhorn.io"
CLASS_KEYS = ("volumeSnapshotClassName", "backupVolumeSnapshotClassName")
VOLUME_CLAIM_TEMPLATES = "harvesterhci.io/volumeClaimTemplates"
# Vendor drivers whose own invariant owns their StorageClass (a missing class is reported there).
VENDOR_CLASS_OWNER = {"csi.trident.netapp.io": "NTA-01"}


def _name(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def _ref(kind: str, obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return (
        f"{kind} {meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else f"{kind} {meta.get('name')}"
    )


def parse_driver_config(setting: dict | None) -> tuple[dict[str, dict] | None, str | None]:
    """(provisioner -> entry, problem): the value in force (value, else default)."""
    text = str((setting or {}).get("value") or (setting or {}).get("default") or "")
    if not text:
        return None, "empty (no value and no default)"
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return None, f"not JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        return None, "not a JSON object of provisioner -> {volumeSnapshotClassName, backupVolumeSnapshotClassName}"
    return doc, None


def check_driver_config(
    setting: dict | None, snapshot_classes: list[dict], drivers: list[dict], storage_classes: list[dict]
) -> tuple[list[Finding], dict[str, str]]:
    """CSI-01: (findings, vendor-owned gaps: provisioner -> the ID that owns its StorageClass)."""
    config, problem = parse_driver_config(setting)
    if config is None:
        return [Finding(SETTING_REF, f"value {problem}")], {}
    vsc = {_name(c): c for c in snapshot_classes}
    csi = {_name(d) for d in drivers}
    provisioners = {sc.get("provisioner") for sc in storage_classes}
    findings, owned = [], {}
    for provisioner, entry in sorted(config.items()):
        for key in CLASS_KEYS:
            name = entry.get(key)
            if not name:
                findings.append(
                    Finding(SETTING_REF, f"{provisioner}: {key} is not set; expected a VolumeSnapshotClass")
                )
            elif name not in vsc:
                findings.append(
                    Finding(SETTING_REF, f"{provisioner}: {key} names VolumeSnapshotClass {name}, which does not exist")
                )
            elif vsc[name].get("driver") != provisioner:
                findings.append(
                    Finding(
                        SETTING_REF,
                        f"{provisioner}: {key} names VolumeSnapshotClass {name} of driver "
                        f"{vsc[name].get('driver')}; expected driver {provisioner}",
                    )
                )
        if provisioner not in csi:
            findings.append(Finding(SETTING_REF, f"{provisioner}: no CSIDriver {provisioner} is installed"))
        if provisioner not in provisioners:
            if provisioner in VENDOR_CLASS_OWNER:
                owned[provisioner] = VENDOR_CLASS_OWNER[provisioner]
            else:
                findings.append(Finding(SETTING_REF, f"{provisioner}: no StorageClass uses this provisioner"))
    return findings, owned


def check_image(image: dict, classes: dict[str, dict], drivers: set[str], cdi_backend: bool) -> Finding | None:
    """CSI-02: a backing-image image sits on a Longhorn class; from v1.5.0 (`cdi_backend`) a CDI
    image may use a third-party class that exists and whose driver is installed."""
    spec, status = image.get("spec") or {}, image.get("status") or {}
    backend = str(spec.get("backend") or "backingimage")
    target = spec.get("targetStorageClassName") if backend == "cdi" else None
    name = target or status.get("storageClassName")
    if not name:
        return None  # not imported yet: Harvester has not created its class
    sc = classes.get(str(name))
    ref = _ref("VirtualMachineImage", image)
    if backend == "cdi" and cdi_backend:
        if sc is None:
            return Finding(ref, f"CDI image on StorageClass {name}, which does not exist")
        if sc.get("provisioner") not in drivers:
            return Finding(
                ref, f"CDI image on StorageClass {name}, whose provisioner {sc.get('provisioner')} has no CSIDriver"
            )
        return None
    if sc is None:
        return Finding(ref, f"stored on StorageClass {name}, which does not exist; expected a {LONGHORN} class")
    if sc.get("provisioner") != LONGHORN:
        how = f"backend {backend}" + ("" if cdi_backend else " (this release stores every image as a backing image)")
        return Finding(
            ref,
            f"stored on StorageClass {name} of provisioner {sc.get('provisioner')} ({how}); "
            f"expected a {LONGHORN} class",
        )
    return None


def boot_volume(vm: dict) -> str | None:
    """The name of the volume the VM boots from: lowest bootOrder, else the first disk."""
    template = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
    disks = [d for d in ((template.get("domain") or {}).get("devices") or {}).get("disks") or [] if isinstance(d, dict)]
    if not disks:
        return None
    ordered = [d for d in disks if isinstance(d.get("bootOrder"), int)]
    first = min(ordered, key=lambda d: d["bootOrder"]) if ordered else disks[0]
    return str(first.get("name"))


def _claim_templates(vm: dict) -> dict[str, dict]:
    text = ((vm.get("metadata") or {}).get("annotations") or {}).get(VOLUME_CLAIM_TEMPLATES)
    try:
        doc = json.loads(text) if text else []
    except ValueError:
        return {}
    return {_name(t): t for t in doc if isinstance(t, dict)} if isinstance(doc, list) else {}


def boot_class(vm: dict, pvcs: dict[str, dict]) -> tuple[str, str] | None:
    """(claim, StorageClass) of the boot volume; None when it is not a claim or the class is unknown."""
    volume = boot_volume(vm)
    template = ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}
    vol = next((v for v in template.get("volumes") or [] if isinstance(v, dict) and v.get("name") == volume), None)
    if vol is None:
        return None
    source = vol.get("persistentVolumeClaim") or vol.get("dataVolume") or {}
    claim = source.get("claimName") or source.get("name")
    if not claim:
        return None
    pvc = pvcs.get(str(claim)) or _claim_templates(vm).get(str(claim)) or {}
    sc = (pvc.get("spec") or {}).get("storageClassName")
    return (str(claim), str(sc)) if sc else None


def check_boot_volume(vm: dict, pvcs: dict[str, dict], classes: dict[str, dict]) -> Finding | None:
    """CSI-03: a VM's boot volume is on a Longhorn class, never a third-party one."""
    found = boot_class(vm, pvcs)
    if found is None:
        return None
    claim, name = found
    sc = classes.get(name)
    if sc is None or sc.get("provisioner") == LONGHORN:
        return None
    return Finding(
        _ref("VirtualMachine", vm),
        f"boot volume {claim} on StorageClass {name} of provisioner {sc.get('provisioner')}; "
        f"expected a {LONGHORN} class (third-party classes are for data volumes only)",
    )
