"""Disks without a WWN (article 2025-07-09, "Handling Disks That Don't Appear in the Harvester GUI"): DSK-01.

node-disk-manager identifies a disk by the `ID_WWN_WITH_EXTENSION`, else `ID_WWN` udev property
and records it in the BlockDevice's `status.deviceStatus.details.wwn`; a disk without one reads
"unknown" (or nothing) there (harvester/node-disk-manager `pkg/block/block_device.go` diskWWN,
`pkg/apis/harvesterhci.io/v1beta1` BlockDevice, v0.6.x … v1.8.2). The article's first workaround
(a filesystem, whose UUID then identifies the disk) works only for the filesystem-based Longhorn V1
provisioner, not for LVM or Longhorn V2 (block-device based); before v1.6.0 only for one extra disk
per node (harvester issue 7173: the scanner's duplicate-WWN check treats every "unknown" alike and
skips the next such disk). The second workaround (a udev rule generating a fake WWN) works for all.

A BlockDevice is provisioned when `spec.provision` (v1.5+) or the older `spec.fileSystem.provisioned`
is set, or its `status.provisionPhase` is Provisioned; its provisioner is `spec.provisioner.lvm` or
`spec.provisioner.longhorn.engineVersion` (LonghornV1 / LonghornV2), Longhorn V1 when absent.
"""

from __future__ import annotations

from collections.abc import Iterable

from harvester_conformance.checks.findings import Finding

UNKNOWN = "unknown"  # node-disk-manager util.UNKNOWN
SINGLE_DISK_FIXED = (1, 6, 0)
LONGHORN_V1, LONGHORN_V2, LVM = "Longhorn V1", "Longhorn V2", "LVM"


def _ref(bd: dict) -> str:
    meta = bd.get("metadata") or {}
    return f"BlockDevice {meta.get('namespace')}/{meta.get('name')}"


def wwn(bd: dict) -> str:
    """The WWN node-disk-manager recorded ("" when none)."""
    value = str(((((bd.get("status") or {}).get("deviceStatus") or {}).get("details") or {}).get("wwn")) or "")
    return "" if value.strip().lower() in ("", UNKNOWN) else value


def provisioned(bd: dict) -> bool:
    spec, status = bd.get("spec") or {}, bd.get("status") or {}
    return bool(
        spec.get("provision")
        or (spec.get("fileSystem") or {}).get("provisioned")
        or status.get("provisionPhase") == "Provisioned"
    )


def provisioner(bd: dict) -> str:
    """Which provisioner the device is given to (Longhorn V1 when none is named)."""
    p = (bd.get("spec") or {}).get("provisioner") or {}
    if p.get("lvm"):
        return LVM
    if (p.get("longhorn") or {}).get("engineVersion") == "LonghornV2":
        return LONGHORN_V2
    return LONGHORN_V1


def check_disks_without_wwn(block_devices: Iterable[dict], release: tuple[int, ...]) -> list[Finding]:
    """DSK-01: a provisioned device without a WWN is a Longhorn V1 disk; before v1.6.0, one per node."""
    found: list[Finding] = []
    per_node: dict[str, list[dict]] = {}
    for bd in block_devices:
        if not provisioned(bd) or wwn(bd):
            continue
        node = str((bd.get("spec") or {}).get("nodeName") or "")
        per_node.setdefault(node, []).append(bd)
        kind = provisioner(bd)
        if kind != LONGHORN_V1:
            dev = (bd.get("spec") or {}).get("devPath") or "?"
            found.append(
                Finding(
                    _ref(bd),
                    f"{dev} on {node} has no WWN and is provisioned with {kind}, which is block-device based: a "
                    "filesystem UUID does not identify it; give it a WWN with the udev rule workaround",
                )
            )
    if release < SINGLE_DISK_FIXED:
        for node, bds in sorted(per_node.items()):
            for bd in sorted(bds, key=lambda b: b["metadata"]["name"])[1:]:
                found.append(
                    Finding(
                        _ref(bd),
                        f"{len(bds)} provisioned disks without a WWN on {node}: before v1.6.0 node-disk-manager "
                        "keeps only one (harvester issue 7173)",
                    )
                )
    return found
