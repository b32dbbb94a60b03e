"""UPG-03 without a cluster: the VMIs Harvester's upgrade gate refuses as non-live-migratable
(harvester/harvester pkg/util/virtualmachineinstance GetAllNonLiveMigratableVMINames and
pkg/webhook/resources/upgrade/validator.go checkNonLiveMigratableVMs, v1.2.1 … v1.8.2)."""

from __future__ import annotations

import datetime as dt

from harvester_conformance.checks import upgrade_readiness as ur

V131, V160, V180 = ur.Gate((1, 3, 1)), ur.Gate((1, 6, 0)), ur.Gate((1, 8, 0))


def _node(name: str, unschedulable: bool = False, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "spec": {"unschedulable": unschedulable}}


NODES = [_node("n0", zone="a"), _node("n1", zone="b"), _node("n2", zone="b")]


def _vmi(spec: dict | None = None, node: str = "n0") -> dict:
    meta = {"name": "vm-000", "namespace": "default"}
    return {
        "metadata": meta,
        "spec": {"domain": {"devices": {}}, **(spec or {})},
        "status": {"phase": "Running", "nodeName": node},
    }


def test_plain_vmi_passes() -> None:
    assert ur.check_vmi(_vmi(), NODES, V131) is None


def test_node_selector_and_host_devices_block() -> None:
    found = ur.check_vmi(_vmi({"nodeSelector": {}}), NODES, V131)
    assert (
        found is not None
        and found.object == "VirtualMachineInstance default/vm-000"
        and "nodeSelector" in found.message
    )
    hd = _vmi({"domain": {"devices": {"hostDevices": [{"name": "h", "deviceName": "x"}]}}})
    assert "host device" in ur.check_vmi(hd, NODES, V131).message  # type: ignore[union-attr]


def test_node_affinity_pinning_to_the_current_node_blocks() -> None:
    """migratableByNodeAffinity: other schedulable nodes must match the required terms."""

    def pinned(zone: str) -> dict:
        expr = {"key": "zone", "operator": "In", "values": [zone]}
        req = {"nodeSelectorTerms": [{"matchExpressions": [expr]}]}
        return _vmi({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": req}}})

    assert ur.check_vmi(pinned("a"), NODES, V131) is not None
    assert ur.check_vmi(pinned("b"), NODES, V131) is None
    cordoned = [NODES[0], _node("n1", True, zone="b"), _node("n2", True, zone="b")]
    assert ur.check_vmi(_vmi(), cordoned, V131) is not None


def test_cdrom_and_container_disk_block_until_v1_8() -> None:
    """VMContainsCDRomOrContainerDisk @v1.7.3, removed @v1.8.0 (HV commit ef1bcad99)."""
    spec = {
        "domain": {"devices": {"disks": [{"name": "tools", "cdrom": {"bus": "sata"}}]}},
        "volumes": [{"name": "tools", "containerDisk": {"image": "vmdp"}}],
    }
    found = ur.check_vmi(_vmi(spec), NODES, V131)
    assert found is not None and "CD-ROM" in found.message and "containerDisk" in found.message
    assert ur.check_vmi(_vmi(spec), NODES, V180) is None


def test_single_node_witness_and_restore_vm_skip_the_gate() -> None:
    assert ur.skip_reason([_node("n0")], None, V131) is not None
    witness = [_node("n0"), _node("w", **{ur.WITNESS_LABEL: "true"})]
    assert ur.skip_reason(witness, None, V131) is None  # witness nodes count before v1.6.0
    assert ur.skip_reason(witness, None, V160) is not None
    restore = {"value": '{"restoreVM": true}'}
    assert ur.skip_reason(NODES, restore, V131) is None and ur.skip_reason(NODES, restore, V160) is not None
    assert ur.skip_reason(NODES, None, V131) is None


def test_stale_hotplug_from_v1_8_2() -> None:
    vm = {"metadata": {"name": "vm-000", "namespace": "default"}, "spec": {"template": {"spec": {"volumes": []}}}}
    hot = _vmi({"volumes": [{"name": "hp", "persistentVolumeClaim": {"claimName": "c", "hotpluggable": True}}]})
    assert ur.check_stale_hotplug(vm, hot) is not None
    assert ur.check_stale_hotplug({**vm, "status": {"volumeRequests": [{}]}}, None) is not None
    assert ur.check_stale_hotplug(vm, _vmi()) is None


# -- UPG-01, 02, 04, 05, 06, 07 (HV pkg/webhook/resources/upgrade/validator.go, v1.2.1 … v1.8.2) -----


def _volume(replicas: int = 3, robustness: str = "healthy") -> dict:
    return {
        "metadata": {"name": "pvc-1", "namespace": "longhorn-system"},
        "spec": {"numberOfReplicas": replicas},
        "status": {
            "robustness": robustness,
            "state": "detached",
            "kubernetesStatus": {"namespace": "d", "pvcName": "p"},
        },
    }


def test_degraded_from_three_nodes_single_replica_from_two() -> None:
    """hasDegradedVolume skips under 3 nodes; checkSingleReplicaVolumes skips a single node."""
    assert ur.check_volume(_volume(robustness="degraded"), 2) is None
    found = ur.check_volume(_volume(robustness="degraded"), 3)
    assert found is not None and found.object == "Volume longhorn-system/pvc-1"
    assert ur.check_volume(_volume(1), 1) is None
    assert "single replica (PVC d/p" in ur.check_volume(_volume(1), 2).message  # type: ignore[union-attr]


def test_node_ready_schedulable_and_disk_room() -> None:
    node = {"metadata": {"name": "n0"}, "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert ur.check_node_state(node) is None
    assert "cordoned" in ur.check_node_state({**node, "spec": {"unschedulable": True}}).message  # type: ignore[union-attr]
    gib = 1024**3
    summary = {"node": {"fs": {"usedBytes": 40 * gib, "capacityBytes": 100 * gib, "availableBytes": 60 * gib}}}
    fs = ur.node_fs(summary)
    assert fs is not None and ur.check_disk_room("n0", fs, 85.0) is None  # 53%
    full = ur.NodeFs(75 * gib, 100 * gib)  # 88% after the 13 GiB
    found = ur.check_disk_room("n0", full, 85.0)
    assert found is not None and found.object == "Node n0" and "88.00%" in found.message
    assert ur.node_fs({"node": {"fs": {"usedBytes": 1}}}) is None  # unknown, never a pass


def test_endpoint_certificate_needs_more_than_seven_days() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert ur.check_endpoint_cert("Service default/kubernetes", now + dt.timedelta(days=8), now) is None
    assert ur.check_endpoint_cert("Service default/kubernetes", now + dt.timedelta(days=5), now) is not None


def test_backups_in_progress_and_active_schedules() -> None:
    """IsBackupProgressing (no error, not readyToUse); scheduleVMBackupBySuspended (status.suspended)."""
    meta = {"name": "b", "namespace": "default"}
    assert ur.check_vm_backup({"metadata": meta, "status": {"readyToUse": False, "progress": 35}}) is not None
    assert ur.check_vm_backup({"metadata": meta}) is not None
    assert ur.check_vm_backup({"metadata": meta, "status": {"readyToUse": True}}) is None
    assert ur.check_vm_backup({"metadata": meta, "status": {"error": {"message": "x"}}}) is None
    assert ur.check_schedule({"metadata": meta, "status": {"suspended": True}}) is None
    assert ur.check_schedule({"metadata": meta, "spec": {"cron": "0 * * * *"}}) is not None


def test_charts_bundles_capi_and_machines() -> None:
    meta = {"name": "harvester", "namespace": "fleet-local"}
    ready = {"conditions": [{"type": "Ready", "status": "True"}], "summary": {"desiredReady": 1, "ready": 1}}
    assert ur.check_managed_chart({"metadata": meta, "status": ready}) is None
    assert ur.check_managed_chart({"metadata": meta}) is None  # no Ready condition: upstream passes
    modified = {"conditions": [{"type": "Ready", "status": "False", "message": "Modified(1)"}]}
    assert ur.check_managed_chart({"metadata": meta, "status": modified}) is not None
    bundle = {"metadata": {"name": "fleet-agent-local", "namespace": "fleet-local"}}
    assert ur.check_bundle({**bundle, "status": {"summary": {"desiredReady": 1, "ready": 0}}}) is not None
    owned = {"metadata": {**bundle["metadata"], "ownerReferences": [{"kind": "ManagedChart", "name": "harvester"}]}}
    assert ur.check_bundle({**owned, "status": {"summary": {"desiredReady": 1, "ready": 0}}}) is None
    assert ur.check_capi_cluster({"spec": {"paused": False}, "status": {"phase": "Provisioned"}}) is None
    assert "paused" in ur.check_capi_cluster({"spec": {"paused": True}, "status": {"phase": "Provisioned"}}).message  # type: ignore[union-attr]
    assert ur.check_capi_cluster(None) is not None
    machine = {"metadata": {"name": "m0", "namespace": "fleet-local"}, "status": {"phase": "Provisioning"}}
    assert ur.check_machine(machine) is not None


def test_node_machine_matching_from_v1_5_1() -> None:
    nodes = [
        {
            "metadata": {
                "name": "n0",
                "labels": {ur.MANAGED_LABEL: "true"},
                "annotations": {ur.MACHINE_ANNOTATION: "m0"},
            }
        }
    ]
    machines = [{"metadata": {"name": "m0", "namespace": "fleet-local"}, "status": {"nodeRef": {"name": "n0"}}}]
    assert ur.check_node_machine_matching(nodes, machines) == []
    assert ur.check_node_machine_matching(nodes, []) != []
    assert not ur.Gate((1, 5, 0)).node_machine_matching and ur.Gate((1, 5, 1)).node_machine_matching


def test_other_upgrade_in_progress_and_cleanup_pending() -> None:
    def upgrade(**labels: str) -> dict:
        return {"metadata": {"name": "u", "namespace": "harvester-system", "labels": labels}, "spec": {"version": "v"}}

    assert ur.check_upgrade(upgrade(**{ur.UPGRADE_STATE: "Succeeded"}), V131) is None
    assert ur.check_upgrade(upgrade(**{ur.UPGRADE_STATE: "UpgradingSystemService"}), V131) is not None
    assert ur.check_upgrade(upgrade(), V131) is not None  # notin also matches a missing label
    pending = upgrade(**{ur.UPGRADE_STATE: "Succeeded", ur.UPGRADE_CLEANUP: "pending"})
    assert ur.check_upgrade(pending, V131) is None and ur.check_upgrade(pending, ur.Gate((1, 7, 0))) is not None
