"""Longhorn objects as a Harvester installation has them (facts.md §6, §7, §8, §9).

Pure builders and small helpers shared by the Longhorn seed, the simulated longhorn-manager and
the Longhorn faults. Names and sizes are deterministic per node so that a cluster started twice
looks the same.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from harvester_conformance.cluster.resources import Resource
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.profiles import STORAGE_NETWORK, STORAGE_NETWORK_NAD

NS = "longhorn-system"
MANAGER = "harvester-conformance-longhorn"
DRIVER = "driver.longhorn.io"
EVICTION_STUCK = "eviction-stuck"
MANAGER_STUCK = "manager-stuck"
PRIORITY_STUCK = "priority-class-stuck"
# On the priority-class Setting: a longhorn-manager of Longhorn 1.5 still serves it (a stalled
# upgrade), whose setting controller applies the class at once (LM v1.5.5 updatePriorityClass has no
# detachment check: its validator refused the change instead).
PRIORITY_NOT_DEFERRED = "priority-class-not-deferred"
MANAGED_BY = {"longhorn.io/managed-by": "longhorn-manager"}
IM_COMPONENT = {"longhorn.io/component": "instance-manager"}
DEFAULT_DISK_PATH = "/var/lib/harvester/defaultdisk"
EXTRA_DISK_PATH = "/var/lib/harvester/extra-disks"
CRITICAL = "system-cluster-critical"
# LM controller/setting_controller.go updatePriorityClass (v1.6.2, v1.7.3): the deferral, logged
# by the setting controller (no Event is recorded).
PRIORITY_REFUSED = "failed to apply priority-class setting to Longhorn components when there are attached volumes"
# LM datastore/longhorn.go ValidateSetting (v1.4.3, v1.5.5): the webhook's refusal.
PRIORITY_NOT_DETACHED = "cannot modify priority class setting before all volumes are detached"
# Kinds the shared resource table does not list (the suite reads none of them).
BACKING_IMAGE_MANAGERS = Resource("longhorn.io", "v1beta2", "backingimagemanagers", "BackingImageManager", True)
WHEREABOUTS_POOLS = Resource("whereabouts.cni.cncf.io", "v1alpha1", "ippools", "IPPool", True)
WHEREABOUTS_NS = "kube-system"
STORAGE_IFNAME = "lhnet1"  # LM types.StorageNetworkInterface
CSI_DEPLOYMENTS = ("csi-attacher", "csi-provisioner", "csi-resizer", "csi-snapshotter")
GB = 1_000_000_000


def version(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.lstrip("v").split("-")[0].split(".")[:3]]
    return (parts + [0, 0, 0])[0], (parts + [0, 0, 0])[1], (parts + [0, 0, 0])[2]


def hexdigest(*parts: str, n: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


# -- settings (facts §7, §8, §17.3; Harvester's values) -------------------------------------------
def over_provisioning_default(longhorn: str) -> str:
    """Longhorn's own default (LM types/setting.go): 200 up to 1.4.x, 100 from 1.5.0. Harvester's
    overcommit-config controller copies its storage percentage over it; the seed only creates it."""
    return "200" if version(longhorn) < (1, 5, 0) else "100"


def installer_settings(longhorn: str, harvester: str) -> dict[str, str]:
    """Settings a Harvester install configures (HV deploy/charts/harvester/values.yaml
    longhorn.defaultSettings; HI pkg/config/templates/rancherd-10-harvester.yaml), with Longhorn's
    defaults (LM types/setting.go) for the ones the release leaves alone."""
    lh, hv = version(longhorn), version(harvester)
    values = {
        "concurrent-automatic-engine-upgrade-per-node-limit": "3",  # HV chart, every release read
        # HI v1.4.0+: allow-if-replica-is-stopped; Longhorn's default before.
        "node-drain-policy": "allow-if-replica-is-stopped" if hv >= (1, 4, 0) else "block-if-contains-last-replica",
        "disable-revision-counter": "true" if lh >= (1, 7, 0) else "false",  # Longhorn default
    }
    if lh >= (1, 5, 0):  # the setting exists from Longhorn 1.5
        values["detach-manually-attached-volumes-when-cordoned"] = "true" if hv >= (1, 4, 0) else "false"
    if lh >= (1, 7, 0):  # the setting exists from Longhorn 1.7; HV chart sets it from v1.4
        values["auto-cleanup-snapshot-when-delete-backup"] = "true" if hv >= (1, 4, 0) else "false"
    if hv >= (1, 6, 0):  # HV values.yaml @v1.6.0+: orphanResourceAutoDeletion (Longhorn 1.9 setting)
        values["orphan-resource-auto-deletion"] = "instance"
        # HV values.yaml: false on v1.6/v1.7; from v1.8.0 true, VMI-owned pods blacklisted.
        values["auto-delete-pod-when-volume-detached-unexpectedly"] = "true" if hv >= (1, 8, 0) else "false"
    if hv >= (1, 8, 0):
        values["blacklist-for-auto-delete-pod-when-volume-detached-unexpectedly"] = "kubevirt.io/VirtualMachineInstance"
    return values


def settings(longhorn: str, harvester: str) -> dict[str, str]:
    values = {
        "default-replica-count": "3",
        "default-data-locality": "disabled",
        "replica-auto-balance": "disabled",
        "replica-soft-anti-affinity": "false",
        "storage-network": "/".join(STORAGE_NETWORK_NAD),
        "storage-over-provisioning-percentage": over_provisioning_default(longhorn),
        "storage-minimal-available-percentage": "25",
        "taint-toleration": "kubevirt.io/drain:NoSchedule",
        "default-data-path": DEFAULT_DISK_PATH,
        "priority-class": CRITICAL if version(harvester) >= (1, 2, 0) else "",
        **installer_settings(longhorn, harvester),
    }
    lh = version(longhorn)
    if lh >= (1, 5, 0):
        values["storage-reserved-percentage-for-default-disk"] = "30"
    if lh >= (1, 9, 0):  # LM types/setting.go default (plain "12" up to 1.9)
        values["guaranteed-instance-manager-cpu"] = "12"
    if lh >= (1, 11, 0):  # replaces storage-network-for-rwx-volume-enabled (LM @v1.11.2, CniNetworkNone "")
        values["endpoint-network-for-rwx-volume"] = ""
    return values


# Seeded only when absent: Harvester's overcommit-config controller owns the first one's value once
# the cluster runs; the second cannot be rewritten on Longhorn <= 1.5 once volumes are attached.
SEEDED_ONCE = ("storage-over-provisioning-percentage", "priority-class")


def setting_status_applied(longhorn: str) -> bool:
    """`Setting.status.applied` exists from Longhorn 1.7 (LM v1beta2 setting.go; absent at 1.6.2)."""
    return version(longhorn) >= (1, 7, 0)


def priority_refused_while_attached(longhorn: str) -> bool:
    """Up to 1.5.x the validator refuses the change unless every volume is detached
    (LM datastore/longhorn.go ValidateSetting); from 1.6 the controller defers it instead."""
    return version(longhorn) < (1, 6, 0)


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
    """Filesystem sizes as a statfs reports them: ~850 GB default disks (a 1 TB root disk less the
    OS partitions), ~980 GB extra disks. Either disk of a node takes all of the node's replicas of
    the seeded VMs (~480 GB) with 30% reserved at Longhorn >= 1.5's default over-provisioning of
    100%, so that an eviction within a node completes."""
    if disk.startswith("default-disk-"):
        return 849_674_305_536 + index * 10_737_418_240
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
    lh = version(longhorn)
    for disk in disks.values():
        if lh >= (1, 5, 0):
            disk["diskType"] = "filesystem"
        if lh >= (1, 7, 0):
            disk["diskDriver"] = ""
    spec: dict[str, Any] = {"name": node, "allowScheduling": True, "evictionRequested": False, "tags": []}
    # LM v1beta2 node.go: engine/replica manager CPU requests at 1.4.3, one instance manager's from 1.5.
    if lh >= (1, 5, 0):
        spec["instanceManagerCPURequest"] = 0
    else:
        spec.update({"engineManagerCPURequest": 0, "replicaManagerCPURequest": 0})
    return {**spec, "disks": disks}


def longhorn_node(node: str, index: int, pct: int, longhorn: str) -> dict:
    return {
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Node",
        "metadata": {"name": node, "namespace": NS, "labels": {}},
        "spec": node_spec(node, index, pct, longhorn),
    }


def disk_status_fields(longhorn: str, name: str, path: str, instance_manager: str) -> dict[str, Any]:
    """The version-dependent part of a disk's status (LM v1beta2 node.go DiskStatus): diskType and
    filesystemType from 1.5; diskName, diskPath, diskDriver, instanceManagerName from 1.7;
    scheduledBackingImage from 1.8."""
    lh = version(longhorn)
    out: dict[str, Any] = {}
    if lh >= (1, 5, 0):
        out.update({"diskType": "filesystem", "filesystemType": "ext4"})
    if lh >= (1, 7, 0):
        out.update({"diskName": name, "diskPath": path, "diskDriver": "", "instanceManagerName": instance_manager})
    if lh >= (1, 8, 0):
        out["scheduledBackingImage"] = {}
    if lh >= (1, 11, 0):
        out.update(disk_health(name, path))
    return out


def disk_health(name: str, path: str) -> dict[str, Any]:
    """healthData and healthDataLastCollectedAt of a disk's status, new in Longhorn 1.11 (LM v1beta2
    node.go DiskStatus @v1.11.2): the disk monitor's SMART read of the device behind a filesystem
    disk (util/health.go collectSmartDataForDevice), a healthy SSD here. Upstream keys the map by
    the SMART tool's own device key; the device path stands in for it."""
    device = "/dev/sda" if name.startswith("default-disk-") else "/dev/sdb"
    data = {
        "source": "SMART",
        "modelName": "SAMSUNG MZ7L31T9HBLT-00A07",
        "serialNumber": "S6ESNC0W" + hexdigest("serial", name, n=6).upper(),
        "firmwareVersion": "JXTC404Q",
        "capacity": 1_920_383_410_176,
        "healthStatus": "PASSED",
        "diskName": device,
        "diskType": "sat",
        "temperature": 31,
    }
    return {"healthData": {device: data}, "healthDataLastCollectedAt": clock.stamp()}


def node_status_fields(longhorn: str) -> dict[str, Any]:
    """Node status fields by version: autoEvicting from 1.5 (LM v1beta2 node.go NodeStatus)."""
    return {"autoEvicting": False} if version(longhorn) >= (1, 5, 0) else {}


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


def user_deployed_priority(harvester: str) -> str:
    """longhorn-manager, the CSI driver deployer and the UI are set through Helm values: from
    Harvester v1.3.0 its chart gives them system-cluster-critical (HV values.yaml longhornManager /
    longhornDriver / longhornUI.priorityClass), none before."""
    return CRITICAL if version(harvester) >= (1, 3, 0) else ""


def components(longhorn: str, priority: str, harvester: str = "v1.2.1") -> tuple[list[dict], list[dict]]:
    """(Deployments, DaemonSets) of a Longhorn installation; longhorn-manager, the driver deployer
    and the UI are user-deployed (not managed by longhorn-manager)."""
    csi_tags = {
        "csi-attacher": "v4.4.2",
        "csi-provisioner": "v3.6.2",
        "csi-resizer": "v1.9.2",
        "csi-snapshotter": "v6.3.2",
    }
    deployments = [deployment(n, f"longhornio/{n}:{csi_tags[n]}", priority) for n in CSI_DEPLOYMENTS]
    user = user_deployed_priority(harvester)
    for app, image, replicas in (
        ("longhorn-driver-deployer", f"longhornio/longhorn-manager:{longhorn}", 1),
        ("longhorn-ui", f"longhornio/longhorn-ui:{longhorn}", 2),
    ):
        dep = deployment(app, image, user)
        dep["metadata"]["labels"] = {"app": app}
        dep["spec"]["template"]["metadata"]["labels"] = {"app": app}
        dep["spec"]["replicas"] = replicas
        deployments.append(dep)
    ei = engine_image_name(longhorn)
    daemonsets = [
        daemonset(f"engine-image-{ei}", f"engine-image-{ei}", engine_image(longhorn), priority),
        daemonset(
            "longhorn-csi-plugin", "longhorn-csi-plugin", "longhornio/csi-node-driver-registrar:v2.9.2", priority
        ),
        daemonset(
            "longhorn-manager", "longhorn-manager", f"longhornio/longhorn-manager:{longhorn}", user, managed=False
        ),
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
    # With the storage-network setting, Longhorn attaches the NAD as a second interface (LM
    # types.StorageNetworkInterface); whereabouts allocates its address.
    nad = [{"namespace": STORAGE_NETWORK_NAD[0], "name": STORAGE_NETWORK_NAD[1], "interface": STORAGE_IFNAME}]
    annotations = {"k8s.v1.cni.cncf.io/networks": json.dumps(nad, separators=(",", ":"))}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "annotations": annotations, **template["metadata"]},
        "spec": template["spec"],
    }


# -- the storage network's whereabouts pool ------------------------------------------------------------
def whereabouts_pool_name(cidr: str) -> str:
    """whereabouts names a pool after its range, "/" replaced by "-" (NormalizeRange)."""
    return cidr.replace("/", "-")


def pool_allocations(existing: dict[str, dict], pods: list[str], ifname: bool) -> dict[str, dict]:
    """Allocations (offset in the range -> owner) for the pods `pods` ("namespace/name"): a pod
    keeps its offset, pods gone release theirs, new pods take the lowest free offset from 1.
    `ifname` exists from whereabouts v0.8 (RKE2 of Harvester v1.4+)."""
    wanted = set(pods)
    kept = {k: v for k, v in existing.items() if v.get("podref") in wanted}
    held = {v["podref"] for v in kept.values()}
    offset = 1
    for pod in sorted(wanted - held):
        while str(offset) in kept:
            offset += 1
        entry = {"id": hexdigest("container", pod, n=64), "podref": pod}
        if ifname:
            entry["ifname"] = STORAGE_IFNAME
        kept[str(offset)] = entry
    if not ifname:
        kept = {k: {f: x for f, x in v.items() if f != "ifname"} for k, v in kept.items()}
    return dict(sorted(kept.items(), key=lambda kv: int(kv[0])))


def whereabouts_has_ifname(harvester: str) -> bool:
    """Allocations carry `ifname` from whereabouts v0.8.0, which RKE2 ships from the releases of
    Harvester v1.4 (rke2 scripts/build-images: v0.6.1 in v1.25.9, v0.6.3 in v1.27.13, v0.8.0 in
    v1.31.7 and v1.32.3)."""
    return bool(harvester) and harvester[0] == "v" and version(harvester) >= (1, 4, 0)


def whereabouts_pool(allocations: dict[str, dict]) -> dict:
    cidr = str(STORAGE_NETWORK["range"])
    return {
        "apiVersion": "whereabouts.cni.cncf.io/v1alpha1",
        "kind": "IPPool",
        "metadata": {"name": whereabouts_pool_name(cidr), "namespace": WHEREABOUTS_NS},
        "spec": {"range": cidr, "allocations": allocations},
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


# Harvester's recurring VM backups from v1.4.0 (HV pkg/apis/harvesterhci.io/v1beta1/schedulebackup.go,
# new in v1.4.0); before, a Longhorn backup RecurringJob is the only recurring backup (LHP-05).
SCHEDULES_FROM = (1, 4, 0)
BACKUP_SCHEDULE = "daily-backup"
# Why a schedule was suspended (HV pkg/controller/master/schedulevmbackup/common.go @v1.4.0 … v1.8.2).
USER_SUSPEND, MAX_FAILURE = "Proactive Schedule Suspend", "Reach Max Failure"


def backup_schedule(vm: str, suspend_reason: str = USER_SUSPEND, failures: int = 0) -> dict:
    """A daily ScheduleVMBackup of one VM, suspended as Harvester's controller records it
    (updateSuspendState: spec.suspend and status.suspended true, BackupSuspend True with the reason).
    The healthy seed's is suspended by the user, as before an upgrade: Harvester's upgrade gate
    refuses while any schedule runs (UPG-05). The CRD has no status subresource: written together."""
    return {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "ScheduleVMBackup",
        "metadata": {"name": BACKUP_SCHEDULE, "namespace": IMAGE_NS},
        "spec": {
            "cron": "0 2 * * *",
            "retain": 8,
            "maxFailure": 4,
            "suspend": True,
            "vmbackup": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": vm}, "type": "backup"},
        },
        "status": {
            "suspended": True,
            "failure": failures,
            "conditions": [
                {
                    "type": "BackupSuspend",
                    "status": "True",
                    "reason": suspend_reason,
                    "message": suspend_reason
                    if suspend_reason == USER_SUSPEND
                    else f"failure backups {failures} reach max tolerance 4",
                }
            ],
        },
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


# -- engines (one per volume, LM controller/volume_controller.go createEngine) -------------------------
def engine_name(volume: str) -> str:
    """types.GenerateEngineNameForVolume for a volume's first engine."""
    return f"{volume}-e-0"


def engine_spec(volume: dict, longhorn: str, node: str, replicas: list[dict]) -> dict[str, Any]:
    """What the volume controller asks of the engine: run on the attached node with the volume's
    replicas (failed ones left out of the address map, as the controller does)."""
    vspec = volume.get("spec") or {}
    image = engine_image(longhorn)
    spec: dict[str, Any] = {
        "volumeName": volume["metadata"]["name"],
        "volumeSize": str(vspec.get("size", "0")),
        "nodeID": node,
        "desireState": "running" if node else "stopped",
        "frontend": vspec.get("frontend", "blockdev"),
        "active": True,
        "disableFrontend": False,
        "revisionCounterDisabled": False,
        "replicaAddressMap": {
            r["metadata"]["name"]: f"{r['spec'].get('nodeID', '')}:10000"
            for r in replicas
            if node and not (r.get("spec") or {}).get("failedAt")
        },
        "upgradedReplicaAddressMap": {},
        "logRequested": False,
        "salvageRequested": False,
    }
    spec["image" if version(longhorn) >= (1, 5, 0) else "engineImage"] = image
    if version(longhorn) >= (1, 6, 0):
        spec["dataEngine"] = "v1"
    return spec


def replica_mode(replica: dict) -> str:
    """RW for a healthy replica, ERR for one the engine found failed."""
    st = replica.get("status") or {}
    failed = bool((replica.get("spec") or {}).get("failedAt")) or st.get("currentState") == "error"
    return "ERR" if failed else "RW"


def engine_status(
    old: dict, volume: str, longhorn: str, node: str, instance_manager: str, replicas: list[dict]
) -> dict:
    """The engine's status: running on the attached node with a mode per replica (a degraded volume
    shows an ERR replica here too), stopped with no replicas when detached."""
    running = bool(node)
    return {
        **old,
        "currentState": "running" if running else "stopped",
        "ownerID": node or old.get("ownerID", ""),
        "instanceManagerName": instance_manager if running else "",
        "currentImage": engine_image(longhorn) if running else "",
        "started": running,
        "endpoint": f"/dev/longhorn/{volume}" if running else "",
        "replicaModeMap": {r["metadata"]["name"]: replica_mode(r) for r in replicas} if running else {},
        "currentReplicaAddressMap": {
            r["metadata"]["name"]: f"{r['spec'].get('nodeID', '')}:10000" for r in replicas if replica_mode(r) == "RW"
        }
        if running
        else {},
    }


# -- VM images: Longhorn backing images behind a per-image StorageClass (Harvester >= v1.1) --------
IMAGE_NS, IMAGE = "default", "image-ubuntu"
IMAGE_URL = "https://cloud-images.ubuntu.com/releases/22.04/release/ubuntu-22.04-server-cloudimg-amd64.img"
IMAGE_SIZE, IMAGE_VIRTUAL_SIZE = 667_680_768, 2_361_393_152
IMAGE_PARAMS = {"numberOfReplicas": "3", "staleReplicaTimeout": "30", "migratable": "true"}


def backing_image_name(harvester: str, namespace: str, name: str, uid: str) -> str:
    """The backing image Harvester creates for an image (HV pkg/util/image.go): `<ns>-<name>` up to
    v1.3.x, `vmi-<image UID>` from v1.4.0 (the legacy name only for images that already had one)."""
    return f"{namespace}-{name}" if version(harvester) < (1, 4, 0) else f"vmi-{uid}"


def vm_image() -> dict:
    """The seeded VirtualMachineImage as Harvester's image controller leaves it (no backing image
    name in its status: upstream links them through the StorageClass parameter)."""
    return {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "VirtualMachineImage",
        "metadata": {"name": IMAGE, "namespace": IMAGE_NS},
        "spec": {
            "displayName": "ubuntu-22.04-server-cloudimg-amd64.img",
            "sourceType": "download",
            "url": IMAGE_URL,
            "retry": 3,
            "storageClassParameters": dict(IMAGE_PARAMS),
        },
        "status": {
            "appliedUrl": IMAGE_URL,
            "progress": 100,
            "size": IMAGE_SIZE,
            "virtualSize": IMAGE_VIRTUAL_SIZE,
            "storageClassName": f"longhorn-{IMAGE}",
            "conditions": [
                {"type": "Imported", "status": "True", "reason": "Imported"},
                {"type": "Initialized", "status": "True"},
            ],
        },
    }


def image_storage_class(image_name: str, backing: str) -> dict:
    """The image's StorageClass (HV GetImageStorageClassName / GetImageStorageClassParameters)."""
    return {
        "metadata": {
            "name": f"longhorn-{image_name}",
            "annotations": {"harvesterhci.io/is-reserved-storageclass": "true"},
        },
        "provisioner": DRIVER,
        "parameters": {
            **IMAGE_PARAMS,
            "backingImage": backing,
            "backingImageDataSourceType": "download",
            "backingImageDataSourceParameters": '{"url":"' + IMAGE_URL + '"}',
        },
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": True,
        "volumeBindingMode": "Immediate",
    }


def image_objects() -> tuple[dict, dict]:
    """(StorageClass, VirtualMachineImage) with the legacy backing image name (for callers that
    need an image shape only)."""
    return image_storage_class(IMAGE, f"{IMAGE_NS}-{IMAGE}"), vm_image()


# -- a CDI-backed VM image (Harvester >= v1.5.0) ---------------------------------------------------
# HV v1.5.0..v1.8.2 pkg/image/cdi: an image of `spec.backend: cdi` is imported by a DataVolume of the
# image's own namespace/name (owned by the image) onto `spec.targetStorageClassName`, Block and
# ReadWriteOnce, sized to the image's virtual size; `status.storageClassName` is the target class
# (pkg/util GetImageStorageClassName). No backing image and no per-image StorageClass exist for it.
CDI_IMAGE_FROM = (1, 5, 0)
CDI_IMAGE = "image-ubuntu-vendor"


def cdi_vm_image(target: str) -> dict:
    """The seeded CDI-backed image as Harvester's image controller leaves it once imported."""
    return {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "VirtualMachineImage",
        "metadata": {"name": CDI_IMAGE, "namespace": IMAGE_NS},
        "spec": {
            "displayName": "ubuntu-22.04-server-cloudimg-amd64-vendor.img",
            "sourceType": "download",
            "url": IMAGE_URL,
            "retry": 3,
            "backend": "cdi",
            "targetStorageClassName": target,
        },
        "status": {
            "appliedUrl": IMAGE_URL,
            "progress": 100,
            "size": IMAGE_SIZE,
            "virtualSize": IMAGE_VIRTUAL_SIZE,
            "storageClassName": target,
            "conditions": [
                {"type": "Imported", "status": "True", "reason": "Imported"},
                {"type": "Initialized", "status": "True", "reason": "Initialized"},
                {"type": "RetryLimitExceeded", "status": "False"},
            ],
        },
    }


def cdi_data_volume(image_uid: str, target: str) -> tuple[dict, dict]:
    """(object, status) of the image's DataVolume after a successful import (CDI: phase Succeeded,
    progress 100.0%, Bound and Ready true, Running false with reason Completed)."""
    body = {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {
            "name": CDI_IMAGE,
            "namespace": IMAGE_NS,
            "ownerReferences": [
                {
                    "apiVersion": "harvesterhci.io/v1beta1",
                    "kind": "VirtualMachineImage",
                    "name": CDI_IMAGE,
                    "uid": image_uid,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "source": {"http": {"url": IMAGE_URL}},
            "storage": {
                "storageClassName": target,
                "accessModes": ["ReadWriteOnce"],
                "volumeMode": "Block",
                "resources": {"requests": {"storage": str(IMAGE_VIRTUAL_SIZE)}},
            },
        },
    }
    stamp = clock.stamp()

    def cond(kind: str, status: str, reason: str) -> dict:
        return {"type": kind, "status": status, "reason": reason, "lastTransitionTime": stamp}

    status = {
        "phase": "Succeeded",
        "progress": "100.0%",
        "claimName": CDI_IMAGE,
        "conditions": [
            cond("Bound", "True", "Bound"),
            cond("Ready", "True", ""),
            cond("Running", "False", "Completed"),
        ],
    }
    return body, status


def cdi_claim(dv_uid: str, target: str) -> dict:
    """The DataVolume's PersistentVolumeClaim (same namespace/name, owned by it), which the
    vendor's external-provisioner binds."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": CDI_IMAGE,
            "namespace": IMAGE_NS,
            "labels": {"app": "containerized-data-importer", "app.kubernetes.io/managed-by": "cdi-controller"},
            "ownerReferences": [
                {
                    "apiVersion": "cdi.kubevirt.io/v1beta1",
                    "kind": "DataVolume",
                    "name": CDI_IMAGE,
                    "uid": dv_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Block",
            "storageClassName": target,
            "resources": {"requests": {"storage": str(IMAGE_VIRTUAL_SIZE)}},
        },
    }


def backing_image(name: str, longhorn: str, disk_uuids: list[str]) -> tuple[dict, dict]:
    """(object, status) of a downloaded backing image with a ready copy on each disk of
    `disk_uuids`, its fields as LM v1beta2 backingimage.go has them at the release."""
    lh = version(longhorn)
    spec: dict[str, Any] = {
        "sourceType": "download",
        "sourceParameters": {"url": IMAGE_URL},
        "checksum": "",
        "disks": {u: "" for u in disk_uuids},
    }
    if lh >= (1, 7, 0):
        spec.update(
            {
                "diskFileSpecMap": {u: {"evictionRequested": False} for u in disk_uuids},
                "minNumberOfCopies": 1,
                "diskSelector": [],
                "nodeSelector": [],
                "secret": "",
                "secretNamespace": "",
            }
        )
    if lh >= (1, 8, 0):
        spec["dataEngine"] = "v1"
    ready = {"state": "ready", "progress": 100, "message": "", "lastStateTransitionTime": ""}
    status: dict[str, Any] = {
        "ownerID": "",
        "uuid": hexdigest("backing-image", name),
        "size": IMAGE_SIZE,
        "checksum": hashlib.sha512(name.encode()).hexdigest(),
        "diskFileStatusMap": {u: dict(ready) for u in disk_uuids},
        "diskLastRefAtMap": {},
    }
    if lh >= (1, 6, 0):
        status["virtualSize"] = IMAGE_VIRTUAL_SIZE
    if lh >= (1, 8, 0):
        status["realSize"] = IMAGE_SIZE
    body = {
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "BackingImage",
        "metadata": {"name": name, "namespace": NS, "labels": {**MANAGED_BY, "longhorn.io/component": "backing-image"}},
        "spec": spec,
    }
    return body, status


def backing_image_manager_name(longhorn: str, disk_uuid: str) -> str:
    """types.GetBackingImageManagerName: SHA-512 of the manager image, then the disk UUID."""
    image = f"longhornio/backing-image-manager:{longhorn}"
    return f"backing-image-manager-{hashlib.sha512(image.encode()).hexdigest()[:4]}-{disk_uuid[:4]}"


def backing_image_manager(
    longhorn: str, node: str, disk_uuid: str, disk_path: str, images: dict[str, dict]
) -> tuple[dict, dict]:
    """(object, status) of the manager of one disk's backing image files; `images` maps a backing
    image name to its status (uuid, size)."""
    lh = version(longhorn)
    spec: dict[str, Any] = {
        "image": f"longhornio/backing-image-manager:{longhorn}",
        "nodeID": node,
        "diskUUID": disk_uuid,
        "diskPath": disk_path,
        "backingImages": {n: st["uuid"] for n, st in images.items()},
    }
    files = {}
    for n, st in images.items():
        entry: dict[str, Any] = {
            "name": n,
            "uuid": st["uuid"],
            "size": st["size"],
            "state": "ready",
            "progress": 100,
            "currentChecksum": st["checksum"],
            "message": "",
            "senderManagerAddress": "",
            "sendingReference": 0,
        }
        if lh >= (1, 6, 0):
            entry["virtualSize"] = IMAGE_VIRTUAL_SIZE
        if lh >= (1, 8, 0):
            entry["realSize"] = st["size"]
        files[n] = entry
    status = {
        "ownerID": node,
        "currentState": "running",
        "ip": "",
        "storageIP": "",
        "apiMinVersion": 1,
        "apiVersion": 1,
        "backingImageFileMap": files,
    }
    labels = {
        **MANAGED_BY,
        "longhorn.io/component": "backing-image-manager",
        "longhorn.io/disk-uuid": disk_uuid,
        "longhorn.io/node": node,
    }
    body = {
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "BackingImageManager",
        "metadata": {"name": backing_image_manager_name(longhorn, disk_uuid), "namespace": NS, "labels": labels},
        "spec": spec,
    }
    return body, status
