"""UPG-03 without a cluster: the VMIs Harvester's upgrade gate refuses as non-live-migratable
(harvester/harvester pkg/util/virtualmachineinstance GetAllNonLiveMigratableVMINames and
pkg/webhook/resources/upgrade/validator.go checkNonLiveMigratableVMs, v1.2.1 … v1.8.2)."""

from __future__ import annotations

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
