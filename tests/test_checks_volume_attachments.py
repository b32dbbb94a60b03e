"""VAT-01/02 without a cluster: Kubernetes VolumeAttachments of driver.longhorn.io against the
Longhorn VolumeAttachments' csi-attacher tickets and the volumes' nodes (Longhorn 1.5+ shapes)."""

from __future__ import annotations

from harvester_conformance.checks import volume_attachments as vat


def va(name: str, pv: str, node: str, attached: bool = True, deleting: bool = False) -> dict:
    meta = {"name": name, **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})}
    spec = {"attacher": vat.DRIVER, "nodeName": node, "source": {"persistentVolumeName": pv}}
    return {"metadata": meta, "spec": spec, "status": {"attached": attached}}


def lhva(volume: str, tickets: dict[str, tuple[str, str, bool]]) -> dict:
    """tickets: id -> (type, node, satisfied)."""
    specs = {t: {"id": t, "type": k, "nodeID": n} for t, (k, n, _) in tickets.items()}
    return {
        "metadata": {"name": volume, "namespace": "longhorn-system"},
        "spec": {"volume": volume, "attachmentTickets": specs},
        "status": {"attachmentTicketStatuses": {t: {"id": t, "satisfied": s} for t, (_, _, s) in tickets.items()}},
    }


def vol(name: str, node: str, access: str = "rwo", migratable: bool = False, migration: str = "") -> dict:
    spec = {"nodeID": node, "accessMode": access, "migratable": migratable, "migrationNodeID": migration}
    return {"metadata": {"name": name, "namespace": "longhorn-system"}, "spec": spec, "status": {}}


def test_attached_volume_with_its_ticket_passes() -> None:
    found = vat.check_k8s_attachments(
        [va("csi-a", "pvc-1", "n1")], [lhva("pvc-1", {"csi-a": ("csi-attacher", "n1", True)})], [vol("pvc-1", "n1")], []
    )
    assert found == []


def test_attached_volume_without_ticket_names_both_attachments() -> None:
    found = vat.check_k8s_attachments(
        [va("csi-a", "pvc-1", "n1")],
        [lhva("pvc-1", {"snap": ("snapshot-controller", "n1", True), "csi-b": ("csi-attacher", "n1", False)})],
        [vol("pvc-1", "n1")],
        [],
    )
    assert [f.object for f in found] == ["VolumeAttachment csi-a", "VolumeAttachment longhorn-system/pvc-1"]


def test_volume_on_another_node_is_found_unless_migrating_there() -> None:
    tickets = {"csi-a": ("csi-attacher", "n2", True)}
    found = vat.check_k8s_attachments([va("csi-a", "pvc-1", "n2")], [lhva("pvc-1", tickets)], [vol("pvc-1", "n1")], [])
    assert [f.object for f in found] == ["VolumeAttachment csi-a"] and "'n1'" in found[0].message
    migrating = vol("pvc-1", "n1", "rwx", True, migration="n2")
    assert vat.check_k8s_attachments([va("csi-a", "pvc-1", "n2")], [lhva("pvc-1", tickets)], [migrating], []) == []


def test_unattached_other_drivers_and_rwx_filesystem_are_left_out() -> None:
    other = va("csi-o", "pvc-9", "n1")
    other["spec"]["attacher"] = "csi.trident.netapp.io"
    rwx = vol("pvc-2", "", "rwx")
    found = vat.check_k8s_attachments(
        [va("csi-x", "pvc-1", "n1", attached=False), other, va("csi-r", "pvc-2", "n1")], [], [vol("pvc-1", ""), rwx], []
    )
    assert found == []


def test_pv_maps_to_its_volume_handle() -> None:
    pv = {"metadata": {"name": "pvc-1"}, "spec": {"csi": {"driver": vat.DRIVER, "volumeHandle": "vol-1"}}}
    found = vat.check_k8s_attachments(
        [va("csi-a", "pvc-1", "n1")],
        [lhva("vol-1", {"csi-a": ("csi-attacher", "n1", True)})],
        [vol("vol-1", "n1")],
        [pv],
    )
    assert found == []
    assert "no volume" in vat.check_k8s_attachments([va("csi-a", "pvc-1", "n1")], [], [], [pv])[0].message


def test_two_nodes_only_while_migrating() -> None:
    two = {"csi-a": ("csi-attacher", "n1", True), "csi-b": ("csi-attacher", "n2", True)}
    stale = vat.check_two_node_tickets([lhva("pvc-1", two)], [vol("pvc-1", "n1")], [])
    assert [f.object for f in stale] == ["VolumeAttachment longhorn-system/pvc-1"] and "not migratable" in stale[
        0
    ].message
    migrating = vol("pvc-1", "n1", "rwx", True, migration="n2")
    assert vat.check_two_node_tickets([lhva("pvc-1", two)], [migrating], []) == []
    # right after the migration: the source's Kubernetes VolumeAttachment is being detached
    done = vol("pvc-1", "n2", "rwx", True)
    assert vat.check_two_node_tickets([lhva("pvc-1", two)], [done], [va("csi-a", "pvc-1", "n1", deleting=True)]) == []
    assert len(vat.check_two_node_tickets([lhva("pvc-1", two)], [done], [va("csi-a", "pvc-1", "n1")])) == 1


def test_other_ticket_types_unsatisfied_and_rwx_filesystem_do_not_count() -> None:
    mixed = {
        "csi-a": ("csi-attacher", "n1", True),
        "bk": ("backup-controller", "n2", True),
        "csi-b": ("csi-attacher", "n3", False),
    }  # noqa: E501
    assert vat.check_two_node_tickets([lhva("pvc-1", mixed)], [vol("pvc-1", "n1")], []) == []
    two = {"csi-a": ("csi-attacher", "n1", True), "csi-b": ("csi-attacher", "n2", True)}
    assert vat.check_two_node_tickets([lhva("pvc-2", two)], [vol("pvc-2", "", "rwx")], []) == []
