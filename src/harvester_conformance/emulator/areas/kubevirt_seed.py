"""KubeVirt/Harvester VM workloads of the emulated cluster (facts.md §10, §15).

Seeds `spec.vms` running VirtualMachines in `default`, each with a Block-mode root PVC on the
Harvester StorageClass (about half ReadWriteMany, half ReadWriteOnce, the latter labelled
`emulator.harvester-conformance.io/access-mode: rwo`), a cloud-init NoCloud disk with network data
(every fifth VM has a second NIC configured static: one DHCP default route), two VMs with an extra
containerDisk, and every fourth VM with its cloud-init disk read-only. VM requests come from the
Harvester mutating webhook (registered before the areas seed).

Reading of facts §10.3 for migrationMethod: a volume that is not a PVC/DataVolume or shared hostDisk
and whose disk is not read-only forces BlockMigration, cloud-init disks included. So VMs with a
writable cloud-init disk or a containerDisk report BlockMigration, those with a read-only cloud-init
disk and only PVCs report LiveMigration.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster

MANAGER = "harvester-conformance-kubevirt"
NS = "default"
STORAGE_CLASS = "harvester-longhorn"
CREATOR = {"harvesterhci.io/creator": "harvester"}
ACCESS_LABEL = "emulator.harvester-conformance.io/access-mode"
ORIGINAL_NETWORK_DATA = "emulator.harvester-conformance.io/original-network-data"
# A container disk makes a VM non-migratable for Harvester's upgrade gate (facts.md §16), so the
# healthy profiles have none; the UPG-03 fault attaches one.
TOOLS_DISK = {"name": "tools", "disk": {"bus": "virtio"}}
TOOLS_VOLUME = {"name": "tools", "containerDisk": {"image": "registry.suse.com/suse/vmdp/vmdp:2.5.4.3"}}


# -- seed ------------------------------------------------------------------------------------------
def vm_name(i: int) -> str:
    return f"vm-{i:03d}"


def network_data(nics: int, dhcp_everywhere: bool = False) -> str:
    config: list[dict] = [{"type": "physical", "name": "eth0", "subnets": [{"type": "dhcp"}]}]
    if nics > 1:
        second = {"type": "dhcp"} if dhcp_everywhere else {"type": "static", "address": "10.0.0.100/24"}
        config.append({"type": "physical", "name": "eth1", "subnets": [second]})
    return yaml.safe_dump({"network": {"version": 1, "config": config}}, sort_keys=False)


def _suffix(text: str) -> str:
    return f"{zlib.crc32(text.encode()):08x}"[:5]


def vm_objects(i: int) -> tuple[dict, dict]:
    """(PVC, VirtualMachine) of seeded VM number i; deterministic so re-seeding converges."""
    name = vm_name(i)
    rwx = i % 2 == 0
    cores = 1 + i % 4
    memory = [1, 2, 4, 8][zlib.crc32(name.encode()) % 4]
    nics = 2 if i % 5 == 1 else 1
    claim = f"{name}-disk-0-{_suffix(name)}"
    pvc = {
        "metadata": {
            "name": claim,
            "namespace": NS,
            "labels": {ACCESS_LABEL: "rwx" if rwx else "rwo"},
            "annotations": {"harvesterhci.io/imageId": "default/image-ubuntu"},
        },
        "spec": {
            "accessModes": ["ReadWriteMany" if rwx else "ReadWriteOnce"],
            "volumeMode": "Block",
            "storageClassName": STORAGE_CLASS,
            "resources": {"requests": {"storage": f"{[10, 20, 40][i % 3]}Gi"}},
        },
    }
    disks = [
        {"name": "disk-0", "bootOrder": 1, "disk": {"bus": "virtio"}},
        {"name": "cloudinitdisk", "disk": {"bus": "virtio", **({"readonly": True} if i % 4 == 0 else {})}},
    ]
    volumes = [
        {"name": "disk-0", "persistentVolumeClaim": {"claimName": claim}},
        {
            "name": "cloudinitdisk",
            "cloudInitNoCloud": {
                "userData": "#cloud-config\npackage_update: true\npackages:\n  - qemu-guest-agent\n",
                "networkData": network_data(nics),
            },
        },
    ]
    interfaces = [{"name": "default", "model": "virtio", "masquerade": {}}]
    networks: list[dict] = [{"name": "default", "pod": {}}]
    if nics > 1:
        interfaces.append({"name": "storage", "model": "virtio", "bridge": {}})
        networks.append({"name": "storage", "multus": {"networkName": "default/storage-net"}})
    labels = {**CREATOR, "harvesterhci.io/vmName": name}
    vm = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {**CREATOR, ACCESS_LABEL: "rwx" if rwx else "rwo"},
            "annotations": {"harvesterhci.io/volumeClaimTemplates": json.dumps([{"metadata": {"name": claim}}])},
        },
        "spec": {
            "running": True,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "domain": {
                        "cpu": {"cores": cores, "sockets": 1, "threads": 1},
                        "resources": {"limits": {"cpu": str(cores), "memory": f"{memory}Gi"}},
                        "machine": {"type": "q35"},
                        "features": {"acpi": {"enabled": True}},
                        "devices": {"disks": disks, "interfaces": interfaces},
                    },
                    "evictionStrategy": "LiveMigrate",
                    "terminationGracePeriodSeconds": 120,
                    "hostname": name,
                    "networks": networks,
                    "volumes": volumes,
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "labelSelector": {
                                            "matchExpressions": [
                                                {"key": "harvesterhci.io/creator", "operator": "Exists"}
                                            ]
                                        },
                                        "topologyKey": "kubernetes.io/hostname",
                                    },
                                }
                            ]
                        }
                    },
                },
            },
        },
    }
    return pvc, vm


def seed(cl: Cluster, spec: Any, state_dir: Path, progress: Callable[[str], None]) -> None:
    try:
        cl.apply(
            R.STORAGE_CLASSES,
            {
                # The same immutable fields as the Longhorn area's copy (Harvester's chart values),
                # so that whichever area applies first, the other's apply converges.
                "metadata": {
                    "name": STORAGE_CLASS,
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": "driver.longhorn.io",
                "parameters": {"numberOfReplicas": "3", "staleReplicaTimeout": "30", "migratable": "true"},
                "reclaimPolicy": "Delete",
                "allowVolumeExpansion": True,
                "volumeBindingMode": "Immediate",
            },
            manager=MANAGER,
        )
    except ApiError as exc:  # an existing class with other immutable fields (the Longhorn area's) wins
        if cl.get(R.STORAGE_CLASSES, STORAGE_CLASS) is None:
            raise
        progress(f"StorageClass {STORAGE_CLASS} kept as found ({exc.status})")
    existing = {v["metadata"]["name"] for v in cl.list(R.VMS, NS)}

    def one(i: int) -> None:
        pvc, vm = vm_objects(i)
        cl.apply(R.PVCS, pvc, manager=MANAGER)
        size = pvc["spec"]["resources"]["requests"]["storage"]
        cl.apply(
            R.PVCS,
            {
                "metadata": {"name": pvc["metadata"]["name"], "namespace": NS},
                "status": {"phase": "Bound", "accessModes": pvc["spec"]["accessModes"], "capacity": {"storage": size}},
            },
            manager=MANAGER,
            sub="status",
        )
        if vm["metadata"]["name"] not in existing:
            cl.create(R.VMS, vm, NS)  # through the mutating webhook, as a user's VM would be

    # A few requests in flight: the apiserver and the webhook serve them concurrently.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, range(spec.vms)))
    progress(f"{spec.vms} VMs with their PVCs seeded")


def ready(cl: Cluster, spec: Any) -> bool:
    """Every seeded VM has a Running VMI on a node and reports ready."""
    names = {vm_name(i) for i in range(spec.vms)}
    running = {
        v["metadata"]["name"]
        for v in cl.list(R.VMIS, NS)
        if (v.get("status") or {}).get("phase") == "Running" and (v.get("status") or {}).get("nodeName")
    }
    ready_vms = {v["metadata"]["name"] for v in cl.list(R.VMS, NS) if (v.get("status") or {}).get("ready") is True}
    return names <= running and names <= ready_vms
