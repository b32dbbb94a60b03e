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

import datetime as dt
import json
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import kubevirt_model as m
from harvester_conformance.emulator.areas import kubevirt_webhooks
from harvester_conformance.emulator.areas.kubevirt_controllers import (
    ACTIVE_PHASES,
    KV_NS,
    MigrationController,
    VirtController,
    stamp,
)
from harvester_conformance.emulator.faults import Fault, set_webhook_registered
from harvester_conformance.waits import wait_for

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

CONTROLLERS = [
    ("virt-controller", lambda cl, state_dir: VirtController(cl).reconcile, 2.0),
    ("migration-controller", lambda cl, state_dir: MigrationController(cl).reconcile, 1.0),
]
WEBHOOKS = kubevirt_webhooks.WEBHOOKS
API_GROUPS: list = []


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


# -- fault helpers ---------------------------------------------------------------------------------
def _vmi_condition(vmi: dict, ctype: str) -> dict:
    return next((c for c in (vmi.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), {})


def _seeded_vms(cl: Cluster) -> list[dict]:
    return sorted(cl.list(R.VMS, NS, label_selector="harvesterhci.io/creator"), key=lambda v: v["metadata"]["name"])


def _annotate(cl: Cluster, res: Any, name: str, ns: str | None, value: str | None) -> None:
    cl.patch(res, name, {"metadata": {"annotations": {m.FAULT_ANNOTATION: value}}}, ns)


def _rwo_vmi(cl: Cluster) -> dict:
    for vm in _seeded_vms(cl):
        if (vm["metadata"].get("labels") or {}).get(ACCESS_LABEL) == "rwo":
            vmi = cl.get(R.VMIS, vm["metadata"]["name"], NS)
            if vmi and _vmi_condition(vmi, "LiveMigratable").get("status") == "False":
                return vmi
    raise RuntimeError("no running VMI with a ReadWriteOnce PVC to make stale")


def _mig02(cl: Cluster) -> None:
    # virt-handler on the VMI's node stuck: its status keeps a LiveMigratable True from before.
    vmi = _rwo_vmi(cl)
    name = vmi["metadata"]["name"]
    _annotate(cl, R.VMIS, name, NS, "stale-virt-handler")
    conds = [c for c in vmi["status"]["conditions"] if c.get("type") != "LiveMigratable"]
    conds.append({"type": "LiveMigratable", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp()})
    cl.patch(R.VMIS, name, {"status": {"conditions": conds}}, NS)


def _mig02_revert(cl: Cluster) -> None:
    stale = [v for v in cl.list(R.VMIS, NS) if _fault_of(v) == "stale-virt-handler"]
    for vmi in stale:
        _annotate(cl, R.VMIS, vmi["metadata"]["name"], NS, None)
    for vmi in stale:
        name = vmi["metadata"]["name"]
        wait_for(
            "cluster-seeded",
            lambda n=name: _vmi_condition(cl.get(R.VMIS, n, NS) or {}, "LiveMigratable").get("status") == "False",
        )


def _fault_of(obj: dict) -> str:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(m.FAULT_ANNOTATION, "")


def _mig06(cl: Cluster) -> None:
    _annotate(cl, R.KUBEVIRTS, "kubevirt", KV_NS, "ignore-migration-limits")


def _mig06_revert(cl: Cluster) -> None:
    _annotate(cl, R.KUBEVIRTS, "kubevirt", KV_NS, None)


MIG08_NAME = "emulator-stuck-migration"


def _migratable_vmi(cl: Cluster) -> dict:
    busy = {
        (x.get("spec") or {}).get("vmiName")
        for x in cl.list(R.VMIMS, NS)
        if (x.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    }
    for vm in _seeded_vms(cl):
        vmi = cl.get(R.VMIS, vm["metadata"]["name"], NS)
        if (
            vmi
            and vmi["metadata"]["name"] not in busy
            and not _fault_of(vmi)
            and (vmi.get("status") or {}).get("phase") == "Running"
            and _vmi_condition(vmi, "LiveMigratable").get("status") == "True"
        ):
            return vmi
    raise RuntimeError("no live-migratable VMI is free to migrate")


def _mig08(cl: Cluster) -> None:
    # The migration monitor hangs in Running and never applies the completion timeout; the
    # migration has been running for longer than completionTimeoutPerGiB x size.
    vmi = _migratable_vmi(cl)
    cl.create(
        R.VMIMS,
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstanceMigration",
            "metadata": {
                "name": MIG08_NAME,
                "namespace": NS,
                "annotations": {m.FAULT_ANNOTATION: "stuck-migration"},
            },
            "spec": {"vmiName": vmi["metadata"]["name"]},
        },
        NS,
    )
    mig = wait_for(
        "cluster-seeded",
        lambda: (x := cl.get(R.VMIMS, MIG08_NAME, NS)) and (x.get("status") or {}).get("phase") == "Running" and x,
    )
    state = mig["status"]["migrationState"]
    per_gib = int(state["migrationConfiguration"]["completionTimeoutPerGiB"])
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=per_gib * m.data_size_units(vmi["spec"]) + 3600)
    state = {**state, "startTimestamp": stamp(started)}
    stamps = [
        {**p, "phaseTransitionTimestamp": stamp(started)} if p.get("phase") == "Running" else p
        for p in mig["status"].get("phaseTransitionTimestamps") or []
    ]
    cl.patch(
        R.VMIMS,
        MIG08_NAME,
        {"status": {"migrationState": state, "phaseTransitionTimestamps": stamps}},
        NS,
        sub="status",
    )
    cl.patch(R.VMIS, vmi["metadata"]["name"], {"status": {"migrationState": state}}, NS)


def _mig08_revert(cl: Cluster) -> None:
    # The monitor recovers: the completion timeout aborts the migration; the record is then removed.
    if cl.get(R.VMIMS, MIG08_NAME, NS) is None:
        return
    _annotate(cl, R.VMIMS, MIG08_NAME, NS, None)
    wait_for(
        "cluster-seeded",
        lambda: ((cl.get(R.VMIMS, MIG08_NAME, NS) or {}).get("status") or {}).get("phase") not in ACTIVE_PHASES,
    )
    cl.delete(R.VMIMS, MIG08_NAME, NS)


def _restart_vm(cl: Cluster, name: str) -> None:
    """Stop/start as a user would: the VMI goes, a new one is started from the VM's template."""
    old = cl.get(R.VMIS, name, NS)
    old_uid = (old or {}).get("metadata", {}).get("uid")
    if old:
        cl.delete(R.VMIS, name, NS)

    def restarted() -> bool:
        vmi = cl.get(R.VMIS, name, NS)
        if not vmi or vmi["metadata"]["uid"] == old_uid or (vmi.get("status") or {}).get("phase") != "Running":
            return False
        pods = cl.list(R.PODS, NS, label_selector=f"kubevirt.io/created-by={vmi['metadata']['uid']}")
        vm_status = (cl.get(R.VMS, name, NS) or {}).get("status") or {}
        return vm_status.get("ready") is True and any((p.get("status") or {}).get("phase") == "Running" for p in pods)

    wait_for("cluster-seeded", restarted)


def _set_mutator(cl: Cluster, present: bool) -> None:
    set_webhook_registered(cl, kubevirt_webhooks.VM_MUTATOR_NAME, present)


def _requests_equal_limits(vm: dict) -> bool:
    res = vm["spec"]["template"]["spec"]["domain"].get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    return m.to_milli(req.get("cpu", 0)) == m.to_milli(lim.get("cpu", 0)) and m.to_bytes(
        req.get("memory", 0)
    ) == m.to_bytes(lim.get("memory", 0))


def _sch02(cl: Cluster) -> None:
    # The VM was edited and restarted while Harvester's webhook was down (not registered): its
    # requests equal its limits, and so do the new virt-launcher pod's (plus overhead).
    vm = _seeded_vms(cl)[0]
    name = vm["metadata"]["name"]
    _set_mutator(cl, present=False)
    limits = vm["spec"]["template"]["spec"]["domain"]["resources"]["limits"]

    def unmutated() -> bool:
        cl.patch(R.VMS, name, {"spec": {"template": {"spec": {"domain": {"resources": {"requests": limits}}}}}}, NS)
        return _requests_equal_limits(cl.get(R.VMS, name, NS) or {})

    wait_for("cluster-seeded", unmutated)
    _restart_vm(cl, name)


def _sch02_revert(cl: Cluster) -> None:
    _set_mutator(cl, present=True)
    for vm in _seeded_vms(cl):
        if not _requests_equal_limits(vm):
            continue
        name = vm["metadata"]["name"]

        def mutated(n: str = name) -> bool:
            touch = {"metadata": {"annotations": {"emulator.harvester-conformance.io/touched": stamp()}}}
            cl.patch(R.VMS, n, touch, NS)
            return not _requests_equal_limits(cl.get(R.VMS, n, NS) or {})

        wait_for("cluster-seeded", mutated)
        _restart_vm(cl, name)


def _set_tools_disk(cl: Cluster, attached: bool) -> None:
    """A user attaches (or detaches) a driver container disk and restarts the VM."""
    vm = _seeded_vms(cl)[0]
    name = vm["metadata"]["name"]
    spec = vm["spec"]["template"]["spec"]
    disks = [d for d in spec["domain"]["devices"]["disks"] if d["name"] != "tools"]
    volumes = [v for v in spec["volumes"] if v["name"] != "tools"]
    if attached:
        disks, volumes = [*disks, TOOLS_DISK], [*volumes, TOOLS_VOLUME]
    patch = {"spec": {"template": {"spec": {"domain": {"devices": {"disks": disks}}, "volumes": volumes}}}}
    cl.patch(R.VMS, name, patch, NS)
    _restart_vm(cl, name)


def _two_nic_vm(cl: Cluster) -> dict:
    for vm in _seeded_vms(cl):
        if len(vm["spec"]["template"]["spec"]["domain"]["devices"].get("interfaces") or []) > 1:
            return vm
    raise RuntimeError("no VM with two NICs")


def _cloud_init(vm: dict) -> dict:
    return next(v for v in vm["spec"]["template"]["spec"]["volumes"] if "cloudInitNoCloud" in v)["cloudInitNoCloud"]


def _mnc01(cl: Cluster) -> None:
    # A user switched the second NIC to DHCP too: two DHCP clients race for the default route.
    vm = _two_nic_vm(cl)
    ci = _cloud_init(vm)
    vm["metadata"].setdefault("annotations", {})[ORIGINAL_NETWORK_DATA] = ci.get("networkData", "")
    ci["networkData"] = network_data(2, dhcp_everywhere=True)
    cl.replace(R.VMS, vm)


def _mnc01_revert(cl: Cluster) -> None:
    for vm in _seeded_vms(cl):
        annotations = vm["metadata"].get("annotations") or {}
        if ORIGINAL_NETWORK_DATA in annotations:
            _cloud_init(vm)["networkData"] = annotations.pop(ORIGINAL_NETWORK_DATA)
            cl.replace(R.VMS, vm)


def _trm02(cl: Cluster) -> None:
    # The VM's disk returned IO errors (trim during a replica rebuild): libvirt paused the guest.
    vmi = _migratable_vmi(cl)
    _annotate(cl, R.VMIS, vmi["metadata"]["name"], NS, "io-error")
    name = vmi["metadata"]["name"]
    wait_for("cluster-seeded", lambda: _vmi_condition(cl.get(R.VMIS, name, NS) or {}, "Paused").get("status") == "True")


def _trm02_revert(cl: Cluster) -> None:
    for vmi in cl.list(R.VMIS, NS):
        if _fault_of(vmi) == "io-error":
            name = vmi["metadata"]["name"]
            _annotate(cl, R.VMIS, name, NS, None)
            wait_for("cluster-seeded", lambda n=name: not _vmi_condition(cl.get(R.VMIS, n, NS) or {}, "Paused"))


FAULTS = [
    Fault(
        "MIG-02",
        "virt-handler stuck on a VMI with a ReadWriteOnce PVC: its LiveMigratable condition stays True",
        _mig02,
        _mig02_revert,
    ),
    Fault(
        "MIG-06",
        "the migration controller misbehaves and ignores parallelOutboundMigrationsPerNode",
        _mig06,
        _mig06_revert,
    ),
    Fault(
        "MIG-08",
        "a migration whose monitor hangs in Running, started longer ago than its completion timeout",
        _mig08,
        _mig08_revert,
    ),
    Fault(
        "SCH-02",
        "a VM edited and restarted while Harvester's mutating webhook was not registered: requests = limits",
        _sch02,
        _sch02_revert,
    ),
    Fault("MNC-01", "a two-NIC VM whose cloud-init configures DHCP on both NICs", _mnc01, _mnc01_revert),
    Fault(
        "UPG-03",
        "a running VM with a driver container disk attached (not live-migratable for the upgrade)",
        lambda cl: _set_tools_disk(cl, True),
        lambda cl: _set_tools_disk(cl, False),
    ),
    Fault("TRM-02", "a VMI paused by its disk's IO errors", _trm02, _trm02_revert),
]
