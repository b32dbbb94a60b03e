"""Sections "Workflow: How K8s and Longhorn VolumeAttachments Work Together" and "Example 2: VM
Migration": an attached Kubernetes VolumeAttachment rests on a satisfied csi-attacher ticket for its
node, and a volume holds satisfied csi-attacher tickets on two nodes only while it migrates."""

from __future__ import annotations

from harvester_conformance.checks import volume_attachments as vat
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("VAT-01")
def test_attached_volumes_have_satisfied_tickets(hc: RunContext) -> None:
    snap = hc.snapshot
    require(
        vat.check_k8s_attachments(
            snap.list(R.VOLUME_ATTACHMENTS),
            snap.list(R.LONGHORN_VOLUME_ATTACHMENTS, vat.LONGHORN_NS),
            snap.list(R.LONGHORN_VOLUMES, vat.LONGHORN_NS),
            snap.list(R.PERSISTENT_VOLUMES),
        ),
        "Kubernetes VolumeAttachments without a matching Longhorn csi-attacher ticket",
    )


@invariant("VAT-02")
def test_two_node_tickets_only_while_migrating(hc: RunContext) -> None:
    snap = hc.snapshot
    require(
        vat.check_two_node_tickets(
            snap.list(R.LONGHORN_VOLUME_ATTACHMENTS, vat.LONGHORN_NS),
            snap.list(R.LONGHORN_VOLUMES, vat.LONGHORN_NS),
            snap.list(R.VOLUME_ATTACHMENTS),
        ),
        "volumes with satisfied csi-attacher tickets on two nodes while not migrating",
    )
