"""Longhorn objects as a Harvester installation has them (facts.md §6, §7, §8, §9).

Pure builders and small helpers shared by the Longhorn seed, the simulated longhorn-manager and
the Longhorn faults. Names and sizes are deterministic per node so that a cluster started twice
looks the same.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from harvester_conformance.emulator import clock
from harvester_conformance.emulator.profiles import STORAGE_NETWORK_NAD

NS = "longhorn-system"
MANAGER = "harvester-conformance-longhorn"
DRIVER = "driver.longhorn.io"
EVICTION_STUCK = "eviction-stuck"
MANAGER_STUCK = "manager-stuck"
PRIORITY_STUCK = "priority-class-stuck"
MANAGED_BY = {"longhorn.io/managed-by": "longhorn-manager"}
IM_COMPONENT = {"longhorn.io/component": "instance-manager"}
DEFAULT_DISK_PATH = "/var/lib/harvester/defaultdisk"
EXTRA_DISK_PATH = "/var/lib/harvester/extra-disks"
CRITICAL = "system-cluster-critical"
PRIORITY_REFUSED = "failed to apply priority-class setting to Longhorn components when there are attached volumes"
CSI_DEPLOYMENTS = ("csi-attacher", "csi-provisioner", "csi-resizer", "csi-snapshotter")
GB = 1_000_000_000


def version(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.lstrip("v").split("-")[0].split(".")[:3]]
    return (parts + [0, 0, 0])[0], (parts + [0, 0, 0])[1], (parts + [0, 0, 0])[2]


def hexdigest(*parts: str, n: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


# -- settings (facts §7, §8; Harvester's values) ------------------------------------------------
def settings(longhorn: str, harvester: str) -> dict[str, str]:
    values = {
        "default-replica-count": "3",
        "default-data-locality": "disabled",
        "replica-auto-balance": "disabled",
        "replica-soft-anti-affinity": "false",
        "storage-network": "/".join(STORAGE_NETWORK_NAD),
        # Harvester copies overcommit-config's storage percentage here (facts §15.2).
        "storage-over-provisioning-percentage": "200",
        "storage-minimal-available-percentage": "25",
        "taint-toleration": "kubevirt.io/drain:NoSchedule",
        "default-data-path": DEFAULT_DISK_PATH,
        "priority-class": CRITICAL if version(harvester) >= (1, 2, 0) else "",
    }
    if version(longhorn) >= (1, 5, 0):
        values["storage-reserved-percentage-for-default-disk"] = "30"
    return values


def reserved_percentage(setting_values: dict[str, str]) -> int:
    """The percentage for default disks: the setting from Longhorn 1.5, 30 built in before (facts §6)."""
    raw = setting_values.get("storage-reserved-percentage-for-default-disk", "30")
    try:
        return int(raw)
    except ValueError:
        return 30


# -- images and names ----------------------------------------------------------------------------
def engine_image(longhorn: str) -> str:
    return f"longhornio/longhorn-engine:{longhorn}"


def engine_image_name(longhorn: str) -> str:
    return "ei-" + hexdigest(engine_image(longhorn))


def instance_manager_pods(node: str, longhorn: str) -> list[tuple[str, str]]:
    """(pod name, type): engine and replica managers up to Longhorn 1.4, one `aio` from 1.5 (facts §8)."""
    if version(longhorn) < (1, 5, 0):
        return [
            (f"instance-manager-e-{hexdigest('engine', node, longhorn)}", "engine"),
            (f"instance-manager-r-{hexdigest('replica', node, longhorn)}", "replica"),
        ]
    return [(f"instance-manager-{hexdigest('aio', node, longhorn, n=32)}", "aio")]


# -- Longhorn nodes and disks (facts §6, §9) ----------------------------------------------------
def default_disk_name(node: str) -> str:
    return "default-disk-" + hexdigest("disk", node, n=16)


def extra_disk_name(node: str) -> str:
    # Harvester names an added disk after its BlockDevice object.
    return hexdigest("blockdevice", node, n=32)


def disk_uuid(node: str, disk: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"longhorn-disk/{node}/{disk}"))


def disk_maximum(node: str, disk: str, index: int) -> int:
    """Filesystem sizes as a statfs reports them: ~490 GB default disks, ~980 GB extra disks."""
    if disk.startswith("default-disk-"):
        return 489_695_481_856 + index * 10_737_418_240
    return 983_944_888_320 - index * 4_294_967_296


def disk_base_usage(disk: str) -> int:
    """Bytes used on a disk outside Longhorn replicas (images, logs on the default disk)."""
    return 14_316_557_312 if disk.startswith("default-disk-") else 137_363_456


def node_spec(node: str, index: int, pct: int, longhorn: str) -> dict:
    default, extra = default_disk_name(node), extra_disk_name(node)
    disks = {
        default: {
            "path": DEFAULT_DISK_PATH,
            "allowScheduling": True,
            "evictionRequested": False,
            "storageReserved": disk_maximum(node, default, index) * pct // 100,
            "tags": [],
        },
        extra: {
            "path": f"{EXTRA_DISK_PATH}/{extra}",
            "allowScheduling": True,
            "evictionRequested": False,
            "storageReserved": 0,
            "tags": [],
        },
    }
    if version(longhorn) >= (1, 5, 0):
        for disk in disks.values():
            disk["diskType"] = "filesystem"
    return {
        "name": node,
        "allowScheduling": True,
        "evictionRequested": False,
        "tags": [],
        "instanceManagerCPURequest": 0,
        "disks": disks,
    }


def longhorn_node(node: str, index: int, pct: int, longhorn: str) -> dict:
    return {
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Node",
        "metadata": {"name": node, "namespace": NS, "labels": {}},
        "spec": node_spec(node, index, pct, longhorn),
    }


def condition(old: list[dict] | None, ctype: str, status: str, reason: str = "", message: str = "") -> dict:
    """A Longhorn condition, keeping its transition time while its status does not change."""
    prev = next((c for c in old or [] if c.get("type") == ctype), None)
    stamp = prev["lastTransitionTime"] if prev and prev.get("status") == status else clock.stamp()
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastProbeTime": "",
        "lastTransitionTime": stamp,
    }


# -- system-managed components (facts §8) --------------------------------------------------------
def _pod_template(app: str, image: str, priority: str, labels: dict | None = None) -> dict:
    spec: dict[str, Any] = {
        "serviceAccountName": "longhorn-service-account",
        "containers": [
            {
                "name": app,
                "image": image,
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
            }
        ],
        "tolerations": [{"key": "kubevirt.io/drain", "operator": "Exists", "effect": "NoSchedule"}],
    }
    if priority:
        spec["priorityClassName"] = priority
    return {"metadata": {"labels": {"app": app, **(labels or {})}}, "spec": spec}


def deployment(app: str, image: str, priority: str) -> dict:
    return {
        "metadata": {"name": app, "namespace": NS, "labels": {"app": app, **MANAGED_BY}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": app}},
            "template": _pod_template(app, image, priority, MANAGED_BY),
        },
    }


def daemonset(name: str, app: str, image: str, priority: str, managed: bool = True) -> dict:
    labels = {"app": app, **(MANAGED_BY if managed else {})}
    return {
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "template": _pod_template(app, image, priority, MANAGED_BY if managed else None),
        },
    }


def components(longhorn: str, priority: str) -> tuple[list[dict], list[dict]]:
    """(Deployments, DaemonSets) of a Longhorn installation; longhorn-manager is user-deployed."""
    csi_tags = {
        "csi-attacher": "v4.4.2",
        "csi-provisioner": "v3.6.2",
        "csi-resizer": "v1.9.2",
        "csi-snapshotter": "v6.3.2",
    }
    deployments = [deployment(n, f"longhornio/{n}:{csi_tags[n]}", priority) for n in CSI_DEPLOYMENTS]
    ei = engine_image_name(longhorn)
    daemonsets = [
        daemonset(f"engine-image-{ei}", f"engine-image-{ei}", engine_image(longhorn), priority),
        daemonset(
            "longhorn-csi-plugin", "longhorn-csi-plugin", "longhornio/csi-node-driver-registrar:v2.9.2", priority
        ),
        daemonset("longhorn-manager", "longhorn-manager", f"longhornio/longhorn-manager:{longhorn}", "", managed=False),
    ]
    return deployments, daemonsets


def instance_manager_pod(name: str, im_type: str, node: str, longhorn: str, priority: str) -> dict:
    template = _pod_template(
        "instance-manager",
        f"longhornio/longhorn-instance-manager:{longhorn}",
        priority,
        {
            **MANAGED_BY,
            **IM_COMPONENT,
            "longhorn.io/node": node,
            "longhorn.io/instance-manager-type": im_type,
            "longhorn.io/instance-manager-image": "imi-" + hexdigest("im", longhorn),
        },
    )
    template["spec"]["nodeName"] = node  # longhorn-manager pins each one to its node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, **template["metadata"]},
        "spec": template["spec"],
    }


# -- storage classes (facts §2.2, §7) ------------------------------------------------------------
def storage_classes() -> list[dict]:
    return [
        {
            "metadata": {
                "name": "harvester-longhorn",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": DRIVER,
            "parameters": {"numberOfReplicas": "3", "staleReplicaTimeout": "30", "migratable": "true"},
            "reclaimPolicy": "Delete",
            "allowVolumeExpansion": True,
            "volumeBindingMode": "Immediate",
        },
        {
            "metadata": {"name": "longhorn"},
            "provisioner": DRIVER,
            "parameters": {
                "numberOfReplicas": "3",
                "staleReplicaTimeout": "30",
                "fromBackup": "",
                "fsType": "ext4",
                "dataLocality": "disabled",
            },
            "reclaimPolicy": "Delete",
            "allowVolumeExpansion": True,
            "volumeBindingMode": "Immediate",
        },
    ]


def snapshot_classes() -> list[dict]:
    return [
        {"metadata": {"name": name}, "driver": DRIVER, "deletionPolicy": "Delete", "parameters": {"type": kind}}
        for name, kind in (("longhorn-snapshot", "snap"), ("longhorn", "bak"))
    ]


def csi_driver() -> dict:
    return {
        "metadata": {"name": DRIVER},
        "spec": {"attachRequired": True, "podInfoOnMount": True, "volumeLifecycleModes": ["Persistent"]},
    }


def recurring_job() -> dict:
    return {
        "metadata": {"name": "daily-backup", "namespace": NS},
        "spec": {
            "name": "daily-backup",
            "task": "backup",
            "cron": "0 2 * * *",
            "retain": 7,
            "concurrency": 2,
            "groups": ["default"],
            "labels": {},
        },
    }


# -- VM images: Longhorn backing images behind a per-image StorageClass (Harvester >= v1.1) --------
IMAGE_NS, IMAGE = "default", "image-ubuntu"
IMAGE_URL = "https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.img"


def image_objects() -> tuple[dict, dict]:
    """(StorageClass, VirtualMachineImage) of the seeded image, as Harvester's image controller leaves them."""
    backing = f"{IMAGE_NS}-{IMAGE}"
    sc_name = f"longhorn-{IMAGE}"
    params = {"numberOfReplicas": "3", "staleReplicaTimeout": "30", "migratable": "true"}
    sc = {
        "metadata": {"name": sc_name, "annotations": {"harvesterhci.io/is-reserved-storageclass": "true"}},
        "provisioner": DRIVER,
        "parameters": {
            **params,
            "backingImage": backing,
            "backingImageDataSourceType": "download",
            "backingImageDataSourceParameters": '{"url":"' + IMAGE_URL + '"}',
        },
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": True,
        "volumeBindingMode": "Immediate",
    }
    image = {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "VirtualMachineImage",
        "metadata": {"name": IMAGE, "namespace": IMAGE_NS},
        "spec": {
            "displayName": "ubuntu-22.04-server-cloudimg-amd64.img",
            "sourceType": "download",
            "url": IMAGE_URL,
            "retry": 3,
            "storageClassParameters": params,
        },
        "status": {
            "appliedUrl": IMAGE_URL,
            "progress": 100,
            "size": 667_680_768,
            "virtualSize": 2_361_393_152,
            "storageClassName": sc_name,
            "backingImageName": backing,
            "conditions": [
                {"type": "Imported", "status": "True", "reason": "Imported"},
                {"type": "Initialized", "status": "True"},
            ],
        },
    }
    return sc, image
