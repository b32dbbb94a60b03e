"""Disks without a WWN (DSK-01) on plain BlockDevice dicts."""

from __future__ import annotations

from harvester_conformance.checks import disks_without_wwn as dsk


def bd(
    name: str, node: str, wwn: str, provisioner: dict | None = None, legacy: bool = False, provision: bool = True
) -> dict:
    spec: dict = {"nodeName": node, "devPath": f"/dev/{name}", "fileSystem": {"mountPoint": ""}}
    if legacy:
        spec["fileSystem"] = {"mountPoint": "/var/lib/harvester/extra-disks/x", "provisioned": provision}
    else:
        spec |= {"provision": provision, **({"provisioner": provisioner} if provisioner else {})}
    phase = "Provisioned" if provision else "Unprovisioned"
    return {
        "metadata": {"name": name, "namespace": "longhorn-system"},
        "spec": spec,
        "status": {"provisionPhase": phase, "deviceStatus": {"details": {"wwn": wwn}}},
    }


LVM = {"lvm": {"vgName": "vg0"}}
V2 = {"longhorn": {"engineVersion": "LonghornV2"}}
V1 = {"longhorn": {"engineVersion": "LonghornV1"}}


def test_disks_with_a_wwn_or_not_provisioned_pass() -> None:
    devices = [bd("a", "n0", "0x5002538e00000001", LVM), bd("b", "n0", "unknown", LVM, provision=False)]
    assert dsk.check_disks_without_wwn(devices, (1, 8, 2)) == []


def test_wwn_less_disk_on_lvm_or_longhorn_v2_is_reported() -> None:
    devices = [bd("a", "n0", "unknown", LVM), bd("b", "n1", "", V2), bd("c", "n2", "unknown", V1)]
    found = dsk.check_disks_without_wwn(devices, (1, 8, 2))
    assert [f.object for f in found] == ["BlockDevice longhorn-system/a", "BlockDevice longhorn-system/b"]
    assert "LVM" in found[0].message and "Longhorn V2" in found[1].message


def test_more_than_one_wwn_less_disk_per_node_only_before_v1_6_0() -> None:
    devices = [bd("a", "n0", "unknown", legacy=True), bd("b", "n0", "unknown", legacy=True), bd("c", "n1", "unknown")]
    assert [f.object for f in dsk.check_disks_without_wwn(devices, (1, 5, 2))] == ["BlockDevice longhorn-system/b"]
    assert dsk.check_disks_without_wwn(devices, (1, 6, 0)) == []


def test_provisioner_defaults_to_longhorn_v1() -> None:
    assert dsk.provisioner(bd("a", "n0", "unknown", legacy=True)) == dsk.LONGHORN_V1
    assert dsk.wwn(bd("a", "n0", "UNKNOWN")) == ""
