"""Kubernetes VolumeAttachments against Longhorn VolumeAttachments (article 2025-11-04): VAT-01, VAT-02.

The flow the article draws (Longhorn 1.5.0 and later, longhorn.io/v1beta2; longhorn-manager
csi/controller_server.go and controller/volume_attachment_controller.go): the attach/detach
controller creates a storage.k8s.io VolumeAttachment per (PV, node) for `driver.longhorn.io`; the
external-attacher calls ControllerPublishVolume, which adds a `csi-attacher` ticket for that node to
the Longhorn VolumeAttachment named after the volume; Longhorn's controller sets the volume's
`spec.nodeID` to the ticket's node (`spec.migrationNodeID` for the target of a migration), attaches
it and marks the ticket satisfied; only then does the external-attacher set `status.attached`.
So an attached Kubernetes VolumeAttachment without a satisfied ticket for its node, or with the
volume on another node, is an inconsistency to troubleshoot (VAT-01).

A volume is attached to one node, except while a `migratable` (RWX block) volume migrates: then a
second csi-attacher ticket is satisfied on the target node until the source's is removed (VAT-02;
the article's "Example 2: VM Migration"). Tickets of other types (backup, snapshot, clone, ...)
do not count. Regular RWX filesystem volumes are left out of both: the share manager serves them
and Longhorn ignores their csi-attacher tickets.
"""

from __future__ import annotations

from collections.abc import Iterable

from harvester_conformance.checks.findings import Finding

DRIVER = "driver.longhorn.io"
CSI_ATTACHER = "csi-attacher"
LONGHORN_NS = "longhorn-system"


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _by_name(objs: Iterable[dict]) -> dict[str, dict]:
    return {_meta(o).get("name", ""): o for o in objs}


def lhva_ref(name: str) -> str:
    return f"VolumeAttachment {LONGHORN_NS}/{name}"


def is_rwx_filesystem(volume: dict) -> bool:
    """A regular RWX volume (share manager), as opposed to a migratable RWX block volume."""
    spec = volume.get("spec") or {}
    return spec.get("accessMode") == "rwx" and not spec.get("migratable")


def volume_names(pvs: Iterable[dict]) -> dict[str, str]:
    """PV name -> Longhorn volume name (the CSI volume handle) for Longhorn's PVs."""
    out = {}
    for pv in pvs:
        csi = (pv.get("spec") or {}).get("csi") or {}
        if csi.get("driver") == DRIVER and csi.get("volumeHandle"):
            out[_meta(pv).get("name", "")] = csi["volumeHandle"]
    return out


def satisfied_csi_nodes(lhva: dict) -> dict[str, str]:
    """node -> ticket ID of every satisfied csi-attacher ticket."""
    tickets = (lhva.get("spec") or {}).get("attachmentTickets") or {}
    statuses = (lhva.get("status") or {}).get("attachmentTicketStatuses") or {}
    out = {}
    for tid, t in sorted(tickets.items()):
        if t.get("type") == CSI_ATTACHER and (statuses.get(tid) or {}).get("satisfied") is True:
            out.setdefault(t.get("nodeID") or "", tid)
    return out


def check_k8s_attachments(
    attachments: Iterable[dict], longhorn_attachments: Iterable[dict], volumes: Iterable[dict], pvs: Iterable[dict]
) -> list[Finding]:
    """VAT-01: every attached Longhorn CSI VolumeAttachment has a satisfied csi-attacher ticket for its
    node, and the volume is (or migrates) there."""
    lhvas, vols, names = _by_name(longhorn_attachments), _by_name(volumes), volume_names(pvs)
    found = []
    for va in attachments:
        spec = va.get("spec") or {}
        if spec.get("attacher") != DRIVER or not (va.get("status") or {}).get("attached"):
            continue
        ref = f"VolumeAttachment {_meta(va).get('name')}"
        pv = (spec.get("source") or {}).get("persistentVolumeName") or ""
        node = spec.get("nodeName") or ""
        name = names.get(pv, pv)
        vol = vols.get(name)
        if vol is None:
            found.append(Finding(ref, f"attached on {node} for PV {pv}, but Longhorn has no volume {name}"))
            continue
        if is_rwx_filesystem(vol):
            continue
        lhva = lhvas.get(name)
        if lhva is None:
            found.append(
                Finding(ref, f"attached on {node}, but {lhva_ref(name)} does not exist: Longhorn holds no ticket")
            )
            continue
        if node not in satisfied_csi_nodes(lhva):
            found.append(
                Finding(
                    ref, f"attached on {node}, but {lhva_ref(name)} has no satisfied {CSI_ATTACHER} ticket for {node}"
                )
            )
            found.append(
                Finding(lhva_ref(name), f"no satisfied {CSI_ATTACHER} ticket for {node}, where {ref} is attached")
            )
        vspec = vol.get("spec") or {}
        if node not in (vspec.get("nodeID"), vspec.get("migrationNodeID")):
            found.append(
                Finding(
                    ref,
                    f"attached on {node}, but Longhorn volume {name} has spec.nodeID {vspec.get('nodeID')!r}"
                    + (f" (migrationNodeID {vspec['migrationNodeID']!r})" if vspec.get("migrationNodeID") else ""),
                )
            )
    return found


def _migrating(vol: dict) -> bool:
    spec, status = vol.get("spec") or {}, vol.get("status") or {}
    return bool(spec.get("migratable")) and bool(spec.get("migrationNodeID") or status.get("currentMigrationNodeID"))


def check_two_node_tickets(
    longhorn_attachments: Iterable[dict], volumes: Iterable[dict], attachments: Iterable[dict]
) -> list[Finding]:
    """VAT-02: satisfied csi-attacher tickets on two nodes only while the volume migrates (or, for a
    migratable volume, while the Kubernetes VolumeAttachment of the other node is being detached)."""
    vols = _by_name(volumes)
    detaching = {
        ((a.get("spec") or {}).get("source") or {}).get("persistentVolumeName", "")
        + "@"
        + (a.get("spec") or {}).get("nodeName", "")
        for a in attachments
        if _meta(a).get("deletionTimestamp")
    }
    found = []
    for lhva in longhorn_attachments:
        name = (lhva.get("spec") or {}).get("volume") or _meta(lhva).get("name", "")
        nodes = satisfied_csi_nodes(lhva)
        if len(nodes) < 2:
            continue
        vol = vols.get(name) or {}
        if vol and is_rwx_filesystem(vol):
            continue
        if _migrating(vol):
            continue
        current = (vol.get("spec") or {}).get("nodeID")
        others = [n for n in nodes if n != current]
        if (vol.get("spec") or {}).get("migratable") and all(f"{name}@{n}" in detaching for n in others):
            continue  # the clean-up right after a migration
        held = ", ".join(f"{n}: {t}" for n, t in sorted(nodes.items()))
        why = "it is not migratable" if not (vol.get("spec") or {}).get("migratable") else "it is not migrating"
        found.append(
            Finding(
                lhva_ref(_meta(lhva).get("name", name)),
                f"satisfied {CSI_ATTACHER} tickets on {len(nodes)} nodes ({held}) "
                f"while the volume is attached to {current or 'no node'} and {why}: a ticket left by a failed detach",
            )
        )
    return found
