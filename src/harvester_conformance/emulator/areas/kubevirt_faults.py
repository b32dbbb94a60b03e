"""Faults of the KubeVirt workloads area, each the way a real cluster gets there (a stuck
virt-handler, a webhook that is not registered, a misbehaving migration controller, a user's edit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import clock, controlplane, lifecycle, versions
from harvester_conformance.emulator.areas import kubevirt_model as m
from harvester_conformance.emulator.areas import kubevirt_webhooks, volume_attachments
from harvester_conformance.emulator.areas.harvester_hosts_rancher import TRIDENT_CLASS
from harvester_conformance.emulator.areas.kubevirt_controllers import ACTIVE_PHASES, KV_NS
from harvester_conformance.emulator.areas.kubevirt_seed import (
    ACCESS_LABEL,
    NS,
    ORIGINAL_NETWORK_DATA,
    TOOLS_DISK,
    TOOLS_NAME,
    network_data,
    tools_volume,
    vm_name,
)
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, Fault, fault_of, set_webhook_registered
from harvester_conformance.waits import wait_for

# Each fault's victim among the seeded VMs, fixed so that the objects it breaks can be declared
# (kubevirt_seed: even VMs are ReadWriteMany, odd ones ReadWriteOnce, VM 1 has two NICs and every
# VM but each fourth a writable cloud-init disk, so BlockMigration). These are the VMs the faults
# picked by searching when every seeded VM was healthy.
FIRST_VM = vm_name(0)  # live-migratable, one NIC: SCH-02, UPG-03, TRM-02
RWO_VM = vm_name(1)  # ReadWriteOnce (not live-migratable), two NICs, BlockMigration: MIG-02, MNC-01, MIG-03
LAST_VM = vm_name(19)  # the last of the 20 VMs every release profile seeds: UPG-08


# -- fault helpers ---------------------------------------------------------------------------------
def _kubevirt_fault(value: str | None) -> Callable[[Cluster], None]:
    """The migration controller misbehaving in the way `value` names (None: behaving again)."""
    return lambda cl: _annotate(cl, R.KUBEVIRTS, "kubevirt", KV_NS, value)


def _vmi_condition(vmi: dict, ctype: str) -> dict:
    return next((c for c in (vmi.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), {})


def _seeded_vms(cl: Cluster) -> list[dict]:
    return sorted(cl.list(R.VMS, NS, label_selector="harvesterhci.io/creator"), key=lambda v: v["metadata"]["name"])


def _annotate(cl: Cluster, res: Any, name: str, ns: str | None, value: str | None) -> None:
    cl.patch(res, name, {"metadata": {"annotations": {FAULT_ANNOTATION: value}}}, ns)


def _seeded_vmi(cl: Cluster, name: str, why: str, fits: Callable[[dict], bool]) -> dict:
    """The VMI of a fault's fixed victim, which must be in the state the fault starts from."""
    vmi = cl.get(R.VMIS, name, NS)
    if vmi is None or not fits(vmi):
        raise RuntimeError(f"VirtualMachineInstance {NS}/{name} is not {why}; is the cluster healthy?")
    return vmi


def _rwo_vmi(cl: Cluster) -> dict:
    vm = cl.get(R.VMS, RWO_VM, NS) or {}
    rwo = (vm.get("metadata", {}).get("labels") or {}).get(ACCESS_LABEL) == "rwo"
    return _seeded_vmi(
        cl,
        RWO_VM,
        "a running VMI with a ReadWriteOnce PVC",
        lambda vmi: rwo and _vmi_condition(vmi, "LiveMigratable").get("status") == "False",
    )


def _mig02(cl: Cluster) -> None:
    # virt-handler on the VMI's node stuck: its status keeps a LiveMigratable True from before.
    vmi = _rwo_vmi(cl)
    name = vmi["metadata"]["name"]
    _annotate(cl, R.VMIS, name, NS, "stale-virt-handler")
    conds = [c for c in vmi["status"]["conditions"] if c.get("type") != "LiveMigratable"]
    conds.append(
        {"type": "LiveMigratable", "status": "True", "lastProbeTime": None, "lastTransitionTime": clock.stamp()}
    )
    cl.patch(R.VMIS, name, {"status": {"conditions": conds}}, NS)


def _mig02_revert(cl: Cluster) -> None:
    stale = [v for v in cl.list(R.VMIS, NS) if fault_of(v) == "stale-virt-handler"]
    for vmi in stale:
        _annotate(cl, R.VMIS, vmi["metadata"]["name"], NS, None)
    for vmi in stale:
        name = vmi["metadata"]["name"]
        wait_for(
            "cluster-seeded",
            lambda n=name: _vmi_condition(cl.get(R.VMIS, n, NS) or {}, "LiveMigratable").get("status") == "False",
        )


MIG08_NAME = "emulator-stuck-migration"


def _migratable_vmi(cl: Cluster) -> dict:
    busy = {
        (x.get("spec") or {}).get("vmiName")
        for x in cl.list(R.VMIMS, NS)
        if (x.get("status") or {}).get("phase") not in m.FINAL_PHASES
    }
    for vm in _seeded_vms(cl):
        vmi = cl.get(R.VMIS, vm["metadata"]["name"], NS)
        if (
            vmi
            and vmi["metadata"]["name"] not in busy
            and not fault_of(vmi)
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
                "annotations": {FAULT_ANNOTATION: "stuck-migration"},
            },
            "spec": {"vmiName": vmi["metadata"]["name"]},
        },
        NS,
    )

    def running() -> dict | None:
        """The VMIM once Running and its state copied to the VMI (the controller's next write: the
        backdated state must land after it, or the copy would undo it)."""
        x = cl.get(R.VMIMS, MIG08_NAME, NS) or {}
        if (x.get("status") or {}).get("phase") != "Running":
            return None
        on_vmi = ((cl.get(R.VMIS, vmi["metadata"]["name"], NS) or {}).get("status") or {}).get("migrationState") or {}
        return x if on_vmi.get("startTimestamp") == x["status"]["migrationState"].get("startTimestamp") else None

    mig = wait_for("cluster-seeded", running)
    state = mig["status"]["migrationState"]
    per_gib = int(state["migrationConfiguration"]["completionTimeoutPerGiB"])
    started = clock.now() - dt.timedelta(seconds=per_gib * m.data_size_units(vmi["spec"]) + 3600)
    state = {**state, "startTimestamp": clock.stamp(started)}
    stamps = [
        {**p, "phaseTransitionTimestamp": clock.stamp(started)} if p.get("phase") == "Running" else p
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
        running = any((p.get("status") or {}).get("phase") == "Running" for p in pods)
        return vm_status.get("ready") is True and running and _volumes_moved(cl, vmi)

    wait_for("cluster-seeded", restarted)


def _volumes_moved(cl: Cluster, vmi: dict) -> bool:
    """The VMI's volumes attached on its node and nowhere else (a user judges a restart once its
    disks followed it)."""
    pvs = set()
    for vol in vmi["spec"].get("volumes") or []:
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        pvc = cl.get(R.PVCS, claim, NS) if claim else None
        if pvc and (pvc.get("spec") or {}).get("volumeName"):
            pvs.add(pvc["spec"]["volumeName"])
    return volume_attachments.attach_settled(cl, pvs, (vmi.get("status") or {}).get("nodeName") or "")


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
    name = FIRST_VM
    vm = cl.get(R.VMS, name, NS)
    assert vm is not None, f"VirtualMachine {NS}/{name} does not exist; is the cluster seeded?"
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
            # Harvester recomputes requests on an update only when the limits, the reservedMemory
            # annotation, dedicated CPU or host devices change (facts §17.2): the user sets the
            # reserved memory explicitly and then removes it again, which recomputes twice and
            # leaves the VM as the mutator first wrote it.
            for value in ("100Mi", None):
                cl.patch(R.VMS, n, {"metadata": {"annotations": {m.RESERVED_MEMORY_ANNOTATION: value}}}, NS)
            return not _requests_equal_limits(cl.get(R.VMS, n, NS) or {})

        wait_for("cluster-seeded", mutated)
        _restart_vm(cl, name)


def _set_tools_disk(cl: Cluster, attached: bool) -> None:
    """A user mounts (or removes) the VMDP driver CD-ROM, as Harvester's Windows template does, and
    restarts the VM: Harvester's upgrade gate counts it as not live-migratable (CD-ROM and
    containerDisk), while KubeVirt still migrates it (a CD-ROM is read-only)."""
    name = FIRST_VM
    vm = cl.get(R.VMS, name, NS)
    assert vm is not None, f"VirtualMachine {NS}/{name} does not exist; is the cluster seeded?"
    spec = vm["spec"]["template"]["spec"]
    disks = [d for d in spec["domain"]["devices"]["disks"] if d["name"] != TOOLS_NAME]
    volumes = [v for v in spec["volumes"] if v["name"] != TOOLS_NAME]
    if attached:
        harvester = m.version_tuple(_server_version(cl))
        disks, volumes = [*disks, TOOLS_DISK], [*volumes, tools_volume(harvester)]
    patch = {"spec": {"template": {"spec": {"domain": {"devices": {"disks": disks}}, "volumes": volumes}}}}
    cl.patch(R.VMS, name, patch, NS)
    _restart_vm(cl, name)


CDROM_BLOCKS_UNTIL = (1, 8, 0)  # HV ef1bcad99: CD-ROM/containerDisk no longer block the upgrade gate


def _upg03(attached: bool):
    """Up to v1.7.x the VMDP CD-ROM (a containerDisk) makes the VMI non-migratable for Harvester's
    upgrade gate; from v1.8.0 it no longer does (facts-releases R3.1), so there the user pins the VM
    to its host with a nodeSelector instead (any nodeSelector still blocks, `validator.go` @v1.8.2)."""

    def apply(cl: Cluster) -> None:
        if m.version_tuple(_server_version(cl)) < CDROM_BLOCKS_UNTIL:
            _set_tools_disk(cl, attached)
            return
        vmi = cl.get(R.VMIS, FIRST_VM, NS) or {}
        node = (vmi.get("status") or {}).get("nodeName") or ""
        selector = {"kubernetes.io/hostname": node} if attached and node else None
        cl.patch(R.VMS, FIRST_VM, {"spec": {"template": {"spec": {"nodeSelector": selector}}}}, NS)
        _restart_vm(cl, FIRST_VM)

    return apply


def _server_version(cl: Cluster) -> str:
    setting = cl.get(R.HARVESTER_SETTINGS, "server-version") or {}
    return setting.get("value") or setting.get("default") or ""


def _two_nic_vm(cl: Cluster) -> dict:
    vm = cl.get(R.VMS, RWO_VM, NS)
    if vm is None or len(vm["spec"]["template"]["spec"]["domain"]["devices"].get("interfaces") or []) < 2:
        raise RuntimeError(f"VirtualMachine {NS}/{RWO_VM} has not two NICs; is the cluster seeded?")
    return vm


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
    name = FIRST_VM
    _seeded_vmi(cl, name, "running", lambda vmi: (vmi.get("status") or {}).get("phase") == "Running")
    _annotate(cl, R.VMIS, name, NS, "io-error")
    wait_for("cluster-seeded", lambda: _vmi_condition(cl.get(R.VMIS, name, NS) or {}, "Paused").get("status") == "True")


def _trm02_revert(cl: Cluster) -> None:
    for vmi in cl.list(R.VMIS, NS):
        if fault_of(vmi) == "io-error":
            name = vmi["metadata"]["name"]
            _annotate(cl, R.VMIS, name, NS, None)
            wait_for("cluster-seeded", lambda n=name: not _vmi_condition(cl.get(R.VMIS, n, NS) or {}, "Paused"))


# -- migrations -----------------------------------------------------------------------------------
def _block_migration_vmi(cl: Cluster) -> dict:
    def fits(vmi: dict) -> bool:
        st = vmi.get("status") or {}
        return st.get("phase") == "Running" and st.get("migrationMethod") == "BlockMigration"

    return _seeded_vmi(cl, RWO_VM, "running and reporting BlockMigration", fits)


def _mig03(cl: Cluster) -> None:
    # virt-handler stuck with a method from before the writable cloud-init disk counted as local.
    vmi = _block_migration_vmi(cl)
    _annotate(cl, R.VMIS, vmi["metadata"]["name"], NS, "stale-virt-handler")
    cl.patch(R.VMIS, vmi["metadata"]["name"], {"status": {"migrationMethod": "LiveMigration"}}, NS)


def _mig03_revert(cl: Cluster) -> None:
    # virt-handler writes the method only when it first adds the LiveMigratable condition (facts
    # §17.1): a recovered virt-handler keeps the stale method; restarting the VM recomputes it.
    for vmi in cl.list(R.VMIS, NS):
        if fault_of(vmi) == "stale-virt-handler" and (vmi.get("status") or {}).get("migrationMethod"):
            _restart_vm(cl, vmi["metadata"]["name"])


MIG07 = "emulator-mig07"
MIG07_LABEL = "emulator.harvester-conformance.io/migration-policy"
MIG07_POLICY = {"bandwidthPerMigration": "128Mi", "completionTimeoutPerGiB": 400, "allowAutoConverge": True}


def _mig07(cl: Cluster) -> None:
    # A virt-controller build that ignores MigrationPolicies: a policy-matched VMI migrates with the
    # KubeVirt CR's values and no migrationPolicyName.
    _kubevirt_fault("ignore-migration-policies")(cl)
    cl.create(
        R.MIGRATION_POLICIES,
        {
            "apiVersion": R.MIGRATION_POLICIES.api_version,
            "kind": R.MIGRATION_POLICIES.kind,
            "metadata": {"name": MIG07},
            "spec": {"selectors": {"virtualMachineInstanceSelector": {MIG07_LABEL: MIG07}}, **MIG07_POLICY},
        },
    )
    vmi = _migratable_vmi(cl)
    name = vmi["metadata"]["name"]
    cl.patch(R.VMIS, name, {"metadata": {"labels": {MIG07_LABEL: MIG07}}}, NS)
    cl.create(
        R.VMIMS,
        {
            "apiVersion": R.VMIMS.api_version,
            "kind": R.VMIMS.kind,
            "metadata": {"name": MIG07, "namespace": NS},
            "spec": {"vmiName": name},
        },
        NS,
    )
    wait_for(
        "cluster-seeded",
        lambda: ((cl.get(R.VMIMS, MIG07, NS) or {}).get("status") or {}).get("phase") in m.FINAL_PHASES,
    )


def _mig07_revert(cl: Cluster) -> None:
    _kubevirt_fault(None)(cl)
    cl.delete(R.VMIMS, MIG07, NS)
    for vmi in cl.list(R.VMIS, NS, label_selector=MIG07_LABEL):
        cl.patch(R.VMIS, vmi["metadata"]["name"], {"metadata": {"labels": {MIG07_LABEL: None}}}, NS)
    cl.delete(R.MIGRATION_POLICIES, MIG07)
    wait_for("object-deleted", lambda: cl.get(R.VMIMS, MIG07, NS) is None)


# -- VM placement and state --------------------------------------------------------------------
SCH04_PREFIX = "emulator-pinned-"
SCH04_COUNT = 6
SCH04_NODE = "harvester-node-0"


def _pinned_vm(i: int) -> dict:
    name = f"{SCH04_PREFIX}{i}"
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "pinned"}},
        "spec": {
            "running": True,
            "template": {
                "metadata": {"labels": {"harvesterhci.io/vmName": name}},
                "spec": {
                    # No disk (a network-booted guest): nothing of it blocks live migration, so the
                    # fault breaks spread (SCH-04) and nothing the upgrade gate reads (UPG-03).
                    "domain": {
                        "cpu": {"cores": 1},
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                        "devices": {},
                    },
                },
            },
        },
    }


def _sch04(cl: Cluster) -> None:
    # VMs without an anti-affinity rule, all started while the other hosts were cordoned (as
    # during a maintenance window): the scheduler had one choice, and they stay there. A
    # nodeSelector would pile them up as well, but would also make them non-migratable.
    cordoned = [
        n["metadata"]["name"]
        for n in cl.list(R.NODES)
        if n["metadata"]["name"] != SCH04_NODE and not (n.get("spec") or {}).get("unschedulable")
    ]
    try:
        for name in cordoned:
            cl.patch(R.NODES, name, {"spec": {"unschedulable": True}})
        for i in range(SCH04_COUNT):
            cl.create(R.VMS, _pinned_vm(i), NS)

        def all_running() -> bool:
            vmis = [cl.get(R.VMIS, f"{SCH04_PREFIX}{i}", NS) or {} for i in range(SCH04_COUNT)]
            return all((v.get("status") or {}).get("nodeName") == SCH04_NODE for v in vmis)

        wait_for("cluster-seeded", all_running)
    finally:
        for name in cordoned:
            cl.patch(R.NODES, name, {"spec": {"unschedulable": None}})


def _sch04_revert(cl: Cluster) -> None:
    for i in range(SCH04_COUNT):
        cl.delete(R.VMS, f"{SCH04_PREFIX}{i}", NS)
    # A VM outlives its VMI (KubeVirt's finalizer is removed once the VMI is gone): the revert is
    # done when neither is listed, or the next reader still sees a disk-less VM being deleted.
    wait_for(
        "object-deleted",
        lambda: (
            not any(o["metadata"]["name"].startswith(SCH04_PREFIX) for r in (R.VMS, R.VMIS) for o in cl.list(r, NS))
        ),
    )


def _upg08(cl: Cluster) -> None:
    # The VM did not come back after the upgrade's node reboots: stopped, where it was running.
    name = LAST_VM
    cl.patch(R.VMS, name, {"spec": {"running": False}}, NS)
    wait_for("object-deleted", lambda: cl.get(R.VMIS, name, NS) is None)
    # Done once virt-controller has also recorded it in the VM's status, which readers go by.
    wait_for("vmi-stopped", lambda: ((cl.get(R.VMS, name, NS) or {}).get("status") or {}).get("ready") is not True)


def _upg08_revert(cl: Cluster) -> None:
    name = LAST_VM
    cl.patch(R.VMS, name, {"spec": {"running": True}}, NS)
    wait_for("cluster-seeded", lambda: ((cl.get(R.VMS, name, NS) or {}).get("status") or {}).get("ready") is True)


CSI03_VM = "emulator-vendor-boot"


def _csi03(cl: Cluster) -> None:
    # A VM created through the API with its root disk on the Trident class (the UI would not offer it).
    claim = f"{CSI03_VM}-disk-0"
    cl.create(
        R.PVCS,
        {
            "metadata": {"name": claim, "namespace": NS},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "volumeMode": "Block",
                "storageClassName": TRIDENT_CLASS,
                "resources": {"requests": {"storage": "20Gi"}},
            },
        },
        NS,
    )
    cl.create(
        R.VMS,
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine",
            "metadata": {"name": CSI03_VM, "namespace": NS},
            "spec": {
                "running": False,
                "template": {
                    "spec": {
                        "domain": {
                            "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
                            "devices": {"disks": [{"name": "disk-0", "bootOrder": 1, "disk": {"bus": "virtio"}}]},
                        },
                        "volumes": [{"name": "disk-0", "persistentVolumeClaim": {"claimName": claim}}],
                    }
                },
            },
        },
        NS,
    )


def _csi03_revert(cl: Cluster) -> None:
    cl.delete(R.VMS, CSI03_VM, NS)
    cl.delete(R.PVCS, f"{CSI03_VM}-disk-0", NS)
    wait_for(
        "object-deleted",
        lambda: cl.get(R.VMS, CSI03_VM, NS) is None and cl.get(R.PVCS, f"{CSI03_VM}-disk-0", NS) is None,
    )


# kube-scheduler's configuration lives on every server node (RKE2's static pod manifest); a host
# file counts as its Node, and every node of the release profiles is a server.
SCHEDULER_HOSTS = tuple(f"Node harvester-node-{i}" for i in range(3))


def _scheduler(bin_packing: bool) -> Callable[[Cluster], None]:
    """kube-scheduler restarted with (or without) the bin-packing configuration."""

    def apply(cl: Cluster) -> None:
        st = lifecycle.State.serving(cl.host)
        argv = lifecycle.component_argv(st, versions.bin_dir())["kube-scheduler"]
        if bin_packing:
            argv.append(f"--config={controlplane.bin_packing_scheduler_config(st.dir)}")
        lifecycle.restart_component(st, "kube-scheduler", argv)

    return apply


FAULTS = [
    Fault(
        "MIG-02",
        "virt-handler stuck on a VMI with a ReadWriteOnce PVC: its LiveMigratable condition stays True",
        _mig02,
        _mig02_revert,
        objects=(f"VirtualMachineInstance {NS}/{RWO_VM}",),
    ),
    Fault(
        "MIG-06",
        "the migration controller misbehaves and ignores parallelOutboundMigrationsPerNode",
        _kubevirt_fault("ignore-migration-limits"),
        _kubevirt_fault(None),
        objects=(f"KubeVirt {KV_NS}/kubevirt",),
    ),
    Fault(
        "MIG-08",
        "a migration whose monitor hangs in Running, started longer ago than its completion timeout",
        _mig08,
        _mig08_revert,
        objects=(f"VirtualMachineInstanceMigration {NS}/{MIG08_NAME}",),
        creates=(f"VirtualMachineInstanceMigration {NS}/{MIG08_NAME}",),
    ),
    Fault(
        "SCH-02",
        "a VM edited and restarted while Harvester's mutating webhook was not registered: requests = limits",
        _sch02,
        _sch02_revert,
        objects=(f"VirtualMachine {NS}/{FIRST_VM}",),
    ),
    Fault(
        "MNC-01",
        "a two-NIC VM whose cloud-init configures DHCP on both NICs",
        _mnc01,
        _mnc01_revert,
        objects=(f"VirtualMachine {NS}/{RWO_VM}",),
    ),
    Fault(
        "UPG-03",
        "a running VM with the VMDP driver CD-ROM (a containerDisk) mounted (from v1.8.0, where that no longer "
        "blocks: pinned to its host by a nodeSelector): not live-migratable for the upgrade",
        _upg03(True),
        _upg03(False),
        objects=(f"VirtualMachineInstance {NS}/{FIRST_VM}",),
    ),
    Fault(
        "TRM-02",
        "a VMI paused by its disk's IO errors",
        _trm02,
        _trm02_revert,
        objects=(f"VirtualMachineInstance {NS}/{FIRST_VM}",),
    ),
    Fault(
        "MIG-03",
        "virt-handler stuck reporting LiveMigration for a VMI whose writable cloud-init disk must be copied",
        _mig03,
        _mig03_revert,
        objects=(f"VirtualMachineInstance {NS}/{RWO_VM}",),
    ),
    Fault(
        "MIG-04",
        "KubeVirt's migration-create validating webhook not registered (virt-api broken)",
        lambda cl: set_webhook_registered(cl, kubevirt_webhooks.VMIM_VALIDATOR_NAME, False),
        lambda cl: set_webhook_registered(cl, kubevirt_webhooks.VMIM_VALIDATOR_NAME, True),
        objects=("ValidatingWebhookConfiguration virt-api-validator",),
    ),
    Fault(
        "MIG-05",
        "the migration network is down: sources cannot reach targets, every migration fails",
        _kubevirt_fault("migration-network-down"),
        _kubevirt_fault(None),
        objects=(f"KubeVirt {KV_NS}/kubevirt",),
    ),
    Fault(
        "MIG-07",
        "virt-controller ignoring MigrationPolicies: a policy-matched VMI migrated with the KubeVirt CR's values",
        _mig07,
        _mig07_revert,
        objects=(f"VirtualMachineInstanceMigration {NS}/{MIG07}",),
        creates=(f"VirtualMachineInstanceMigration {NS}/{MIG07}",),
    ),
    Fault(
        "SCH-04",
        f"{SCH04_COUNT} VMs started on {SCH04_NODE} while the other hosts were cordoned, with no anti-affinity rule",
        _sch04,
        _sch04_revert,
        objects=(f"Node {SCH04_NODE}",),
    ),
    Fault(
        "UPG-08",
        "a VM that was running before the upgrade left stopped after it",
        _upg08,
        _upg08_revert,
        objects=(f"VirtualMachine {NS}/{LAST_VM}",),
    ),
    Fault(
        "CSI-03",
        "a VM whose boot volume is on the Trident StorageClass",
        _csi03,
        _csi03_revert,
        objects=(f"VirtualMachine {NS}/{CSI03_VM}",),
        creates=(f"VirtualMachine {NS}/{CSI03_VM}",),
        touches=(f"StorageClass {TRIDENT_CLASS}",),
    ),
    Fault(
        "SCH-05",
        "kube-scheduler reconfigured for bin packing (MostAllocated) with the InterPodAffinity plugin disabled",
        _scheduler(True),
        _scheduler(False),
        objects=SCHEDULER_HOSTS,
    ),
]
