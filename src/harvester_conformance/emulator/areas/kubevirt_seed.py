"""KubeVirt/Harvester VM workloads of the emulated cluster (facts.md §10, §15).

Seeds `spec.vms` running VirtualMachines in `default`, each with a Block-mode root PVC on the
Harvester StorageClass (about half ReadWriteMany, half ReadWriteOnce, the latter labelled
`emulator.harvester-conformance.io/access-mode: rwo`), a cloud-init NoCloud disk with network data
(every fifth VM has a second NIC configured static: one DHCP default route), two VMs with an extra
containerDisk, and every fourth VM with its cloud-init disk read-only. VM requests come from the
Harvester mutating webhook (registered before the areas seed).

migrationMethod as virt-handler computes it (facts §17.1, KV `checkVolumesForMigration`): only a
CD-ROM counts as read-only, so the cloud-init disk (a `disk`, read-only or not, as Harvester writes
it) makes every seeded VMI a BlockMigration; a ReadWriteOnce PVC makes it BlockMigration and not
live-migratable (DisksNotLiveMigratable).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import kubevirt_model as m
from harvester_conformance.emulator.seed import concurrently
from harvester_conformance.waits import wait_for

MANAGER = "harvester-conformance-kubevirt"
NS = "default"
STORAGE_CLASS = "harvester-longhorn"
CREATOR = {"harvesterhci.io/creator": "harvester"}
ACCESS_LABEL = "emulator.harvester-conformance.io/access-mode"
ORIGINAL_NETWORK_DATA = "emulator.harvester-conformance.io/original-network-data"
# The VMDP driver image as Harvester's Windows template mounts it: a containerDisk on a SATA CD-ROM
# (HV `pkg/data/template.go`, disk and volume `virtio-container-disk`; vmdp 2.5.4.2 up to v1.3.x,
# 2.5.4.3 from v1.4.0). A CD-ROM is read-only, so KubeVirt neither blocks the migration nor makes it
# a block migration for it; Harvester's upgrade gate up to v1.7.x refuses VMIs with a CD-ROM or a
# containerDisk (HV `pkg/util/virtualmachineinstance` VMContainsCDRomOrContainerDisk, removed in
# v1.8.0), so the healthy profiles have none and the UPG-03 fault attaches one there.
TOOLS_NAME = "virtio-container-disk"
TOOLS_DISK = {"name": TOOLS_NAME, "cdrom": {"bus": "sata"}}


def tools_volume(harvester: tuple[int, ...]) -> dict:
    tag = "2.5.4.3" if harvester >= (1, 4, 0) else "2.5.4.2"
    image = f"registry.suse.com/suse/vmdp/vmdp:{tag}"
    return {"name": TOOLS_NAME, "containerDisk": {"image": image, "imagePullPolicy": "IfNotPresent"}}


KV_NS = "harvester-system"


def _limits_patch(name: str, kind: str, cpu: str, memory: str) -> dict:
    """One of the chart's customizeComponents patches, in the chart's own text."""
    limits = '"resources":{"limits":{"cpu":"' + cpu + '","memory":"' + memory + '"}}'
    text = '{"spec":{"template":{"spec":{"containers":[{"name":"' + name + '", ' + limits + "}]}}}}"
    return {"patch": text, "resourceName": name, "resourceType": kind, "type": "strategic"}


COMPONENT_PATCHES = [
    {
        "patch": '{"webhooks":[{"name":"kubevirt-validator.kubevirt.io","failurePolicy":"Ignore"},'
        '{"name":"kubevirt-update-validator.kubevirt.io","failurePolicy":"Ignore"}]}',
        "resourceName": "virt-operator-validator",
        "resourceType": "ValidatingWebhookConfiguration",
        "type": "strategic",
    },
    _limits_patch("virt-api", "Deployment", "400m", "1100Mi"),
    _limits_patch("virt-controller", "Deployment", "800m", "1300Mi"),
    _limits_patch("virt-handler", "DaemonSet", "700m", "1600Mi"),
]


# -- seed ------------------------------------------------------------------------------------------
def kubevirt_spec(harvester: tuple[int, ...]) -> dict:
    """spec of the KubeVirt CR as Harvester's chart writes it (HV `deploy/charts/harvester/values.yaml`
    key `kubevirt.spec`, rendered by `dependency_charts/kubevirt/templates/kubevirt.yaml`): feature
    gates LiveMigration, HotplugVolumes, HostDevices, GPU from v1.3.0, CPUManager from v1.4.0,
    VMPersistentState and `vmStateStorageClass` from v1.5.0; the network settings; the emulated
    machines up to v1.4.x; `infra.nodePlacement` from v1.4.0; the component patches. From v1.6.0
    the gates VMLiveUpdateFeatures and ExpandDisks, `vmRolloutStrategy: LiveUpdate`, the
    `managedtap` network binding and `workloadUpdateMethods: [LiveMigrate]`; v1.8.0 replaces the
    gate list (values.yaml @v1.6.1, v1.7.3, v1.8.2). The empty structs are what virt-operator's
    Update serializes (non-pointer fields of `KubeVirtSpec`)."""
    gates = ["LiveMigration", "HotplugVolumes", "HostDevices"]
    gates += ["GPU"] if harvester >= (1, 3, 0) else []
    gates += ["CPUManager"] if harvester >= (1, 4, 0) else []
    gates += ["VMPersistentState"] if harvester >= (1, 5, 0) else []
    gates += ["VMLiveUpdateFeatures", "ExpandDisks"] if harvester >= (1, 6, 0) else []
    if harvester >= (1, 8, 0):
        gates = ["CPUManager", "DeclarativeHotplugVolumes", "ExpandDisks", "EnableVirtioFsConfigVolumes", "HostDevices"]
    network: dict = {
        "defaultNetworkInterface": "bridge",
        "permitSlirpInterface": True,
        "permitBridgeInterfaceOnPodNetwork": True,
    }
    if harvester >= (1, 6, 0):
        network["binding"] = {"managedtap": {"domainAttachmentType": "managedTap"}}
    configuration: dict = {"developerConfiguration": {"featureGates": gates}, "network": network}
    if harvester >= (1, 6, 0):
        configuration["vmRolloutStrategy"] = "LiveUpdate"
    if harvester >= (1, 5, 0):
        configuration["vmStateStorageClass"] = "vmstate-persistence"
    else:
        configuration["emulatedMachines"] = ["q35", "pc-q35*", "pc", "pc-i440fx*"]
    spec: dict = {
        "certificateRotateStrategy": {},
        "configuration": configuration,
        "customizeComponents": {"patches": COMPONENT_PATCHES},
        "workloadUpdateStrategy": {"workloadUpdateMethods": ["LiveMigrate"]} if harvester >= (1, 6, 0) else {},
    }
    if harvester >= (1, 4, 0):
        spec["infra"] = {"nodePlacement": {}}
    return spec


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
    harvester = m.version_tuple(spec.harvester)
    body = {"metadata": {"name": "kubevirt", "namespace": KV_NS}, "spec": kubevirt_spec(harvester)}
    # virt-operator's update validator sees this write; retried like _create_vm on a busy host.
    wait_for("cluster-seeded", lambda: cl.apply(R.KUBEVIRTS, body, manager=MANAGER))
    progress("KubeVirt CR configured as Harvester's chart writes it")
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
            wait_for("cluster-seeded", lambda: _create_vm(cl, vm))

    concurrently(one, range(spec.vms))  # the apiserver and the webhooks serve them concurrently
    progress(f"{spec.vms} VMs with their PVCs seeded")


def _create_vm(cl: Cluster, vm: dict) -> bool:
    """Through the mutating webhooks, as a user's VM would be; a webhook call that timed out on a
    busy host (HTTP 500, nothing stored) is retried by the caller's wait, like a client would, and
    a retry finding the VM stored after all is done."""
    try:
        cl.create(R.VMS, vm, NS)
    except ApiError as exc:
        if exc.status != 409:
            raise
    return True


def ready(cl: Cluster, spec: Any) -> bool:
    """Every seeded VM has settled as virt-controller and virt-handler leave it: its VMI Running on a
    node with the Ready and LiveMigratable conditions, the migration method and the volume status
    written, and the VM reporting ready (so that `cluster up` does not report ready early at scale)."""
    names = {vm_name(i) for i in range(spec.vms)}
    settled = {v["metadata"]["name"] for v in cl.list(R.VMIS, NS) if vmi_settled(v)}
    if not names <= settled:
        return False
    ready_vms = {v["metadata"]["name"] for v in cl.list(R.VMS, NS) if (v.get("status") or {}).get("ready") is True}
    return names <= ready_vms


def vmi_settled(vmi: dict) -> bool:
    st = vmi.get("status") or {}
    types = {c.get("type") for c in st.get("conditions") or []}
    volumes = {v.get("name") for v in st.get("volumeStatus") or []}
    wanted = {v.get("name") for v in (vmi.get("spec") or {}).get("volumes") or []}
    return (
        st.get("phase") == "Running"
        and bool(st.get("nodeName"))
        and {"Ready", "LiveMigratable"} <= types
        and bool(st.get("migrationMethod"))
        and wanted <= volumes
    )
