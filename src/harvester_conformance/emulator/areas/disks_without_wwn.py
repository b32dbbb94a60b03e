"""Area module (see areas/__init__.py): disks without WWNs (article 2025-07-09, checks/disks_without_wwn.py).

Seed: node-disk-manager's BlockDevice (namespace longhorn-system) for each node's dedicated data
disk, the one Longhorn's node lists as its extra disk (Harvester names that disk after the
BlockDevice, longhorn_model.extra_disk_name): /dev/sdb, an ATA SSD with a WWN, provisioned for
Longhorn V1 and mounted under /var/lib/harvester/extra-disks. From Harvester v1.4.0 (node-disk-manager
v0.7) the device carries `spec.provision` and `spec.provisioner.longhorn.engineVersion: LonghornV1`;
before, `spec.fileSystem.provisioned` (harvester/node-disk-manager `pkg/apis/harvesterhci.io/v1beta1`
at v0.6.4, v0.7.9, v1.5.0 … v1.8.2).

Fault (from v1.4.0, `Fault.releases`: LVM and Longhorn V2 disks exist from v1.4.0, and before
v1.6.0 node-disk-manager never creates a second WWN-less BlockDevice on a node; proven on the
release profiles from v1.6.1, not on the matrix's v1.3.1): DSK-01, a disk behind a RAID controller that gives udev no
ID_WWN, given a filesystem (the article's first workaround) and then provisioned to an LVM volume group.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import longhorn_model as lm
from harvester_conformance.emulator.areas.kubevirt_model import version_tuple
from harvester_conformance.emulator.faults import Fault
from harvester_conformance.emulator.profiles import ProfileSpec

MANAGER = "harvester-conformance-node-disk-manager"
NS = "longhorn-system"
PROVISIONER_SINCE = (1, 4, 0)  # node-disk-manager v0.7: spec.provision, spec.provisioner
FAULT_NODE = "harvester-node-1"
RAID_DISK = "c1d8f3a04b7e52961a0d3e8f7b6c5a49"  # a BlockDevice name (node-disk-manager hashes its ids)
ATA_SSD = ("ATA", "SAMSUNG MZ7LH3T8", 3_840_755_982_336)


def _release(spec_or_cl: ProfileSpec | Cluster) -> tuple[int, ...]:
    if isinstance(spec_or_cl, ProfileSpec):
        return version_tuple(spec_or_cl.harvester)
    return version_tuple((spec_or_cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value"))


def block_device(
    name: str, node: str, dev: str, wwn: str, serial: str, release: tuple[int, ...], provisioner: dict | None = None
) -> dict:
    """A provisioned whole-disk BlockDevice as node-disk-manager writes it for `release`."""
    vendor, model, size = ATA_SSD
    spec: dict = {"nodeName": node, "devPath": dev, "fileSystem": {"mountPoint": ""}, "tags": []}
    if release >= PROVISIONER_SINCE:
        spec |= {"provision": True, "provisioner": provisioner or {"longhorn": {"engineVersion": "LonghornV1"}}}
    else:
        spec["fileSystem"] = {"mountPoint": f"{lm.EXTRA_DISK_PATH}/{name}", "provisioned": True}
    lvm = bool((provisioner or {}).get("lvm"))
    return {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "BlockDevice",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"kubernetes.io/hostname": node, "ndm.harvesterhci.io/device-type": "disk"},
        },
        "spec": spec,
        "status": {
            "state": "Active",
            "provisionPhase": "Provisioned",
            "deviceStatus": {
                "devPath": dev,
                "partitioned": False,
                "capacity": {"sizeBytes": size, "physicalBlockSizeBytes": 512},
                "details": {
                    "deviceType": "disk",
                    "driveType": "SSD",
                    "storageController": "SCSI",
                    "vendor": vendor,
                    "model": model,
                    "serialNumber": serial,
                    "wwn": wwn,
                    "uuid": "" if lvm else f"{name[:8]}-{name[8:12]}-{name[12:16]}-{name[16:20]}-{name[20:32]}",
                },
                "fileSystem": None
                if lvm
                else {"type": "ext4", "mountPoint": f"{lm.EXTRA_DISK_PATH}/{name}", "isReadOnly": False},
            },
        },
    }


def _nodes(cl: Cluster) -> list[str]:
    return sorted(n["metadata"]["name"] for n in cl.list(R.NODES))


def seed(cl: Cluster, spec: ProfileSpec, state_dir: Path, progress: Callable[[str], None]) -> None:
    release = _release(spec)
    for node in _nodes(cl):
        name = lm.extra_disk_name(node)
        wwn = f"0x5002538e{lm.hexdigest('wwn', node, n=8)}"
        serial = f"S4EN{lm.hexdigest('serial', node, n=8).upper()}"
        cl.apply(R.BLOCK_DEVICES, block_device(name, node, "/dev/sdb", wwn, serial, release), manager=MANAGER)
    progress("node-disk-manager BlockDevices seeded")


def ready(cl: Cluster, spec: ProfileSpec) -> bool:
    return True


def _dsk01(cl: Cluster) -> None:
    """A WWN-less disk behind a RAID controller, made visible by a filesystem UUID, then given to LVM."""
    bd = block_device(
        RAID_DISK, FAULT_NODE, "/dev/sdd", "unknown", "", _release(cl), provisioner={"lvm": {"vgName": "vg-data"}}
    )
    cl.apply(R.BLOCK_DEVICES, bd, manager=MANAGER)


def _dsk01_revert(cl: Cluster) -> None:
    cl.delete(R.BLOCK_DEVICES, RAID_DISK, NS)


FAULTS: list[Fault] = [
    Fault(
        "DSK-01",
        f"a WWN-less RAID disk on {FAULT_NODE} identified by its filesystem UUID and provisioned to LVM",
        _dsk01,
        _dsk01_revert,
        objects=(f"BlockDevice {NS}/{RAID_DISK}",),
        creates=(f"BlockDevice {NS}/{RAID_DISK}",),
        releases=("v1.4.0", ""),
        why_not="LVM and Longhorn V2 disks exist from v1.4.0; before v1.6.0 a second WWN-less disk never "
        "becomes a BlockDevice",
    ),
]
CONTROLLERS: list = []
WEBHOOKS: list = []
API_GROUPS: list = []
