"""UPG-01..07 without a cluster: Harvester's upgrade gate (harvester/harvester
pkg/webhook/resources/upgrade/validator.go and pkg/util/virtualmachineinstance
GetAllNonLiveMigratableVMINames, v1.2.1 … v1.8.2) and the v1.7.x pre-check's COS_STATE rule."""

from __future__ import annotations

import datetime as dt

from harvester_conformance.checks import upgrade_readiness as ur

V121, V131, V150, V151 = ur.Gate((1, 2, 1)), ur.Gate((1, 3, 1)), ur.Gate((1, 5, 0)), ur.Gate((1, 5, 1))
V160, V170, V171, V173 = ur.Gate((1, 6, 0)), ur.Gate((1, 7, 0)), ur.Gate((1, 7, 1)), ur.Gate((1, 7, 3))
V180, V182 = ur.Gate((1, 8, 0)), ur.Gate((1, 8, 2))


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


def test_live_migratable_false_is_not_read_by_the_gate() -> None:
    """Pinned decision: KubeVirt's LiveMigratable=False refuses Harvester's migrate action from
    v1.7.1 (ValidateVMMigratable, HV commit 4ac9c4153), but the gate's checkNonLiveMigratableVMs
    calls GetAllNonLiveMigratableVMINames, which never reads it (pkg/util/virtualmachineinstance/
    virtualmachineinstance.go @v1.7.1 and @v1.8.2): such a VMI does not block the upgrade."""
    vmi = _vmi()
    vmi["status"]["conditions"] = [{"type": "LiveMigratable", "status": "False", "reason": "DisksNotLiveMigratable"}]
    for gate in (V170, V171, V173, V180, V182):
        assert ur.check_vmi(vmi, NODES, gate) is None


def test_stale_hotplug_from_v1_8_2() -> None:
    vm = {"metadata": {"name": "vm-000", "namespace": "default"}, "spec": {"template": {"spec": {"volumes": []}}}}
    hot = _vmi({"volumes": [{"name": "hp", "persistentVolumeClaim": {"claimName": "c", "hotpluggable": True}}]})
    assert ur.check_stale_hotplug(vm, hot) is not None
    assert ur.check_stale_hotplug({**vm, "status": {"volumeRequests": [{}]}}, None) is not None
    assert ur.check_stale_hotplug(vm, _vmi()) is None


# -- UPG-01, 02, 04, 05, 06, 07 (HV pkg/webhook/resources/upgrade/validator.go, v1.2.1 … v1.8.2) -----


def _volume(replicas: int = 3, robustness: str = "healthy", state: str = "detached") -> dict:
    return {
        "metadata": {"name": "pvc-1", "namespace": "longhorn-system"},
        "spec": {"numberOfReplicas": replicas},
        "status": {
            "robustness": robustness,
            "state": state,
            "kubernetesStatus": {"namespace": "d", "pvcName": "p"},
        },
    }


def test_degraded_from_three_nodes_single_replica_from_two() -> None:
    """hasDegradedVolume skips under 3 nodes; checkSingleReplicaVolumes skips a single node."""
    assert ur.check_volume(_volume(robustness="degraded"), 2, V182) is None
    found = ur.check_volume(_volume(robustness="degraded"), 3, V121)
    assert found is not None and found.object == "Volume longhorn-system/pvc-1"
    assert ur.check_volume(_volume(1), 1, V182) is None
    assert "single replica (PVC d/p" in ur.check_volume(_volume(1), 2, V182).message  # type: ignore[union-attr]


def test_single_replica_rule_follows_the_release() -> None:
    """None @v1.2.1; checkSingleReplicaVolumes() active states only @v1.3.1/@v1.4.3; every state
    @v1.5.0+ unless the Upgrade carries skipSingleReplicaDetachedVol (the message says so)."""
    detached, attached = _volume(1), _volume(1, state="attached")
    assert ur.check_volume(attached, 3, V121) is None
    assert ur.check_volume(detached, 3, V131) is None and ur.check_volume(attached, 3, V131) is not None
    found = ur.check_volume(detached, 3, V150)
    assert found is not None and ur.SKIP_SINGLE_REPLICA_DETACHED in found.message
    assert ur.SKIP_SINGLE_REPLICA_DETACHED not in ur.check_volume(attached, 3, V182).message  # type: ignore[union-attr]


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


def _version(name: str, **annotations: str) -> dict:
    return {"metadata": {"name": name, "namespace": "harvester-system", "annotations": annotations}}


def test_skip_annotations_read_where_the_release_reads_them() -> None:
    """checkNodes/checkCerts read the Version @v1.5.0 and the Upgrade @v1.5.1 (HV commit 4dcc4030a);
    no skip annotation before v1.5.0."""
    skip = {ur.SKIP_GC: "true"}
    both = [_version("v1.5.1", **skip), _version("v1.5.2", **skip)]
    assert ur.disk_rule_waiver(V150, both).applies  # every Version the Upgrade may name skips it
    partial = ur.disk_rule_waiver(V150, [both[0], _version("v1.5.2")])
    assert not partial.applies and "only v1.5.1" in partial.note
    later = ur.disk_rule_waiver(V151, both)
    assert not later.applies and "Upgrade you create" in later.note and "no longer reads" in later.note
    assert ur.disk_rule_waiver(V131, both) == ur.Waiver(False, "")
    full = ur.NodeFs(75 * 1024**3, 100 * 1024**3)
    assert ur.check_disk_room("n0", full, 85.0, ur.disk_rule_waiver(V150, both)) is None
    assert ur.SKIP_GC in ur.check_disk_room("n0", full, 85.0, later).message  # type: ignore[union-attr]


def test_min_cert_days_from_the_version_on_v1_5_0_only() -> None:
    days = {ur.MIN_CERT_DAYS_ANNOTATION: "30"}
    assert ur.min_cert_days(V150, [_version("v1.5.1", **days)])[0] == 30
    assert ur.min_cert_days(V150, [_version("v1.5.1", **{ur.MIN_CERT_DAYS_ANNOTATION: "2"}), _version("x")])[0] == 7
    got, note = ur.min_cert_days(V182, [_version("v1.8.2", **days)])
    assert got == 7 and "Upgrade you create" in note and "no longer reads" in note
    assert "no certificate rule" in ur.min_cert_days(V131, [])[1]
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    found = ur.check_endpoint_cert("Service default/kubernetes", now + dt.timedelta(days=10), now, 30, "why")
    assert found is not None and "30 days" in found.message and "(why)" in found.message


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


def test_pause_map_validated_from_v1_7_0() -> None:
    """validatePauseMapAnnotation @v1.7.0 … v1.8.2: JSON map node -> pause|unpause, nodes existing."""

    def upgrade(value: str, **labels: str) -> dict:
        meta = {"name": "hvst-upgrade-1", "namespace": "harvester-system", "labels": labels}
        return {"metadata": {**meta, "annotations": {ur.PAUSE_MAP: value}}}

    names = {"n0", "n1"}
    assert ur.check_pause_map(upgrade('{"n0": "pause", "n1": "unpause"}'), names, V170) is None
    gone = ur.check_pause_map(upgrade('{"n0": "pause", "n9": "pause"}'), names, V173)
    assert gone is not None and gone.object == "Upgrade harvester-system/hvst-upgrade-1" and "n9" in gone.message
    assert "neither pause" in ur.check_pause_map(upgrade('{"n0": "stop"}'), names, V182).message  # type: ignore[union-attr]
    assert ur.check_pause_map(upgrade("{not json"), names, V182) is not None
    assert ur.check_pause_map(upgrade('{"n9": "pause"}'), names, V160) is None  # not validated before v1.7.0
    assert ur.still_updated(upgrade("{}")) and not ur.still_updated(upgrade("{}", **{ur.UPGRADE_STATE: "Succeeded"}))


def test_addons_being_processed_refuse_from_v1_7_0() -> None:
    """IsAddonOnProcessing (pkg/util/addon @v1.7.0, @v1.8.2)."""

    def addon(enabled: bool, state: str, **extra: object) -> dict:
        meta = {"name": "rancher-monitoring", "namespace": "cattle-monitoring-system"}
        return {"metadata": meta, "spec": {"enabled": enabled}, "status": {"status": state, **extra}}

    assert ur.check_addon(addon(True, "AddonDeploySuccessful")) is None
    assert ur.check_addon(addon(False, "AddonDisabled")) is None
    assert ur.check_addon(addon(False, "")) is None  # never enabled
    assert ur.check_addon({"metadata": {"name": "a", "namespace": "n"}, "spec": {}}) is None
    found = ur.check_addon(addon(False, "AddonDisabling"))
    assert found is not None and found.object == "Addon cattle-monitoring-system/rancher-monitoring"
    failed = [{"type": "OperationFailed", "status": "True", "message": "job failed"}]
    assert "job failed" in ur.check_addon(addon(True, "AddonEnabling", conditions=failed)).message  # type: ignore[union-attr]
    assert ur.check_addon(addon(True, "AddonUpdating")) is not None
    assert not V160.checks_addons and V170.checks_addons


def test_cos_state_size_on_v1_7_only() -> None:
    """check_cos_state_partition_size (harvester/upgrade-helpers pre-check/v1.x/check.sh): 1K
    blocks / 1,000,000 >= 15; found through the host's mount table and /proc/partitions."""
    mountinfo = b"26 22 8:4 / /run/initramfs/cos-state rw,relatime shared:6 - ext4 /dev/sda4 rw\n"
    table = b"major minor  #blocks  name\n\n   8       0  937692504 sda\n   8       4    8388608 sda4\n"
    kib, device = ur.cos_state_kib(mountinfo, table)
    assert (kib, device) == (8388608, "sda4")
    found = ur.check_cos_state("n0", kib, device)
    assert found is not None and found.object == "Node n0" and "8 GB" in found.message
    assert ur.check_cos_state("n0", 15_728_640, "sda4") is None  # the installer's 15360 MiB
    assert ur.check_cos_state("n0", 14_999_999, "sda4") is not None
    assert ur.cos_state_kib(mountinfo, None)[0] is None
    assert ur.cos_state_kib(b"", table) == (None, "nothing mounted at /run/initramfs/cos-state")
    assert not V160.cos_state_size and V170.cos_state_size and V173.cos_state_size and not V180.cos_state_size


def test_emulated_hosts_have_the_installers_cos_state() -> None:
    """The emulator's hosts (mount table, /proc/partitions) give the installer's 15360 MiB COS_STATE."""
    from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
    from harvester_conformance.emulator.areas import upgrade_hazards as uh

    kib, device = ur.cos_state_kib(hostfs.mountinfo("v1.7.3").encode(), uh.partitions_table().encode())
    assert (kib, device) == (15360 * 1024, "sda4") and ur.check_cos_state("n0", kib, device) is None
    small, _ = ur.cos_state_kib(hostfs.mountinfo("v1.7.3").encode(), uh.partitions_table(8 * 1024**2).encode())
    assert small is not None and ur.check_cos_state("n0", small, device) is not None
