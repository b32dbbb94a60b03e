"""Area module (see areas/__init__.py): Kubernetes and Longhorn VolumeAttachments (article 2025-11-04,
checks/volume_attachments.py).

Nothing is seeded; a controller plays the attach flow the article draws, for every Longhorn volume
the emulated longhorn-manager reports attached (`status.currentNodeID`), on releases whose Longhorn
serves `volumeattachments.longhorn.io` (1.5.0 and later; emulator/seed.py ADDED_CRDS):

- the Kubernetes attach/detach controller and the CSI external-attacher: one storage.k8s.io
  VolumeAttachment per (PV, node), named as the AD controller names it, `csi-` + sha256(PV name +
  driver + node name) (kubernetes pkg/volume/csi/csi_attacher.go getAttachmentName), with
  `status.attached` true once published;
- Longhorn's CSI plugin and volume attachment controller (longhorn-manager csi/controller_server.go,
  controller/volume_attachment_controller.go @v1.6.2 … v1.11.2): a Longhorn VolumeAttachment named
  after the volume holding a `csi-attacher` ticket per publishing node, whose ID is that same
  name (the article's `csi-<64 hex>`), satisfied with a Satisfied condition once the volume is
  attached there, and the volume's `spec.nodeID` set to the ticket's node. Detached volumes lose
  their tickets and VolumeAttachments. Regular RWX filesystem volumes are left alone: the share
  manager serves them and Longhorn ignores their csi-attacher tickets (the checks leave them out).

Faults (on the Longhorn faults' statically provisioned volume, attached by a pod pinned to
FAULT_NODE so that every name is known in advance):
- VAT-01: the csi-attacher ticket lost while the Kubernetes VolumeAttachment stays attached (a
  ControllerUnpublish that removed the ticket and then timed out: the external-attacher keeps
  `attached: true` and retries), Longhorn's controller stuck for that volume;
- VAT-02: a stale ticket after a failed detach: the pod moved from STALE_NODE to FAULT_NODE, but the
  satisfied csi-attacher ticket of STALE_NODE stayed behind on a volume that is not migrating.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.areas import longhorn_faults as LF
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, Fault, fault_of
from harvester_conformance.emulator.profiles import ProfileSpec
from harvester_conformance.emulator.seed import grant_simulator
from harvester_conformance.emulator.simulator.informers import ON_CHANGE
from harvester_conformance.emulator.simulator.workers import each
from harvester_conformance.waits import wait_for

DRIVER = "driver.longhorn.io"
CSI_ATTACHER = "csi-attacher"
TICKET_LOST = "csi-ticket-lost"  # VAT-01: Longhorn's controller leaves this VolumeAttachment alone
STALE_TICKET = "stale-csi-ticket"  # VAT-02: the same, with the old node's ticket kept
FAULT_NODE = "harvester-node-0"
STALE_NODE = "harvester-node-1"
FAULT_POD = "hc-vat-fault-writer"
ATTACHER_RULES = [
    {
        "apiGroups": ["storage.k8s.io"],
        "resources": ["volumeattachments", "volumeattachments/status"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    }
]


def attachment_name(pv: str, node: str, driver: str = DRIVER) -> str:
    """The AD controller's VolumeAttachment name for a CSI volume on a node."""
    return "csi-" + hashlib.sha256(f"{pv}{driver}{node}".encode()).hexdigest()


def seed(cl: Cluster, spec: ProfileSpec, state_dir: Path, progress: Callable[[str], None]) -> None:
    """Only the simulator's right to play the external-attacher."""
    grant_simulator(cl, "harvester-simulator-external-attacher", ATTACHER_RULES)


def ready(cl: Cluster, spec: ProfileSpec) -> bool:
    return True


def _served(cl: Cluster) -> bool:
    try:
        cl.list(R.LONGHORN_VOLUME_ATTACHMENTS, M.NS)
    except ApiError as exc:
        if exc.not_found:
            return False
        raise
    return True


def _rwx_filesystem(vol: dict) -> bool:
    spec = vol.get("spec") or {}
    return spec.get("accessMode") == "rwx" and not spec.get("migratable")


def ticket(tid: str, node: str) -> dict:
    return {"id": tid, "type": CSI_ATTACHER, "nodeID": node, "parameters": {"disableFrontend": "false"}}


def ticket_status(tid: str, satisfied: bool, old: dict | None = None) -> dict:
    prev = next((c for c in (old or {}).get("conditions") or [] if c.get("type") == "Satisfied"), {})
    status = "True" if satisfied else "False"
    since = prev.get("lastTransitionTime") if prev.get("status") == status else clock.stamp()
    cond = {"type": "Satisfied", "status": status, "lastTransitionTime": since or clock.stamp()}
    if not satisfied:
        cond.update({"reason": "Waiting", "message": "the volume is not attached to the ticket's node yet"})
    return {"id": tid, "satisfied": satisfied, "conditions": [cond]}


class Attacher:
    """One pass of the attach flow over every Longhorn volume."""

    def __init__(self, cl: Cluster) -> None:
        self.cl = cl

    def reconcile(self) -> None:
        """Each volume in upstream's order, so that no reader sees an attached Kubernetes
        VolumeAttachment without its satisfied ticket: a detach deletes the old node's
        VolumeAttachment before ControllerUnpublish removes its ticket, and an attach marks the new
        one attached only after Longhorn satisfied the ticket and moved `spec.nodeID`."""
        if not _served(self.cl):
            return
        volumes = {v["metadata"]["name"]: v for v in self.cl.list(R.LONGHORN_VOLUMES, M.NS)}
        lhvas = {a["metadata"]["name"]: a for a in self.cl.list(R.LONGHORN_VOLUME_ATTACHMENTS, M.NS)}
        by_pv: dict[str, list[str]] = {}
        for va in self.cl.list(R.VOLUME_ATTACHMENTS):
            spec = va.get("spec") or {}
            if spec.get("attacher") == DRIVER:
                pv = (spec.get("source") or {}).get("persistentVolumeName") or ""
                by_pv.setdefault(pv, []).append(va["metadata"]["name"])

        def attach(item: tuple[str, dict]) -> None:  # one volume's objects, in upstream's order: on the workers
            name, vol = item
            if _rwx_filesystem(vol) or (vol.get("metadata") or {}).get("deletionTimestamp"):
                return
            st = vol.get("status") or {}
            node = st.get("currentNodeID") if st.get("state") == "attached" else ""
            wanted = attachment_name(name, node) if node else ""
            for stale in by_pv.pop(name, []):
                if stale != wanted:
                    self._delete(R.VOLUME_ATTACHMENTS, stale, None)
            if fault_of(lhvas.get(name) or {}) not in (TICKET_LOST, STALE_TICKET):
                self._longhorn_attachment(name, node, lhvas.get(name))
                if (vol.get("spec") or {}).get("nodeID", "") != (node or ""):
                    self._patch(R.LONGHORN_VOLUMES, name, {"spec": {"nodeID": node or ""}}, M.NS)
            if node:
                self._k8s_attachment(name, node)

        each(self.cl, attach, list(volumes.items()))
        for pv, names in by_pv.items():  # volumes gone or being deleted; RWX filesystem ones left alone
            if pv not in volumes or not _rwx_filesystem(volumes[pv]):
                for name in names:
                    self._delete(R.VOLUME_ATTACHMENTS, name, None)
        for name, lhva in lhvas.items():
            if name not in volumes and not fault_of(lhva):
                self._delete(R.LONGHORN_VOLUME_ATTACHMENTS, name, M.NS)

    def _k8s_attachment(self, pv: str, node: str) -> None:
        name = attachment_name(pv, node)
        va = self.cl.get(R.VOLUME_ATTACHMENTS, name)
        if va is None:
            body = {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "VolumeAttachment",
                "metadata": {"name": name},
                "spec": {"attacher": DRIVER, "nodeName": node, "source": {"persistentVolumeName": pv}},
            }
            try:
                va = self.cl.create(R.VOLUME_ATTACHMENTS, body)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                return
        if not (va.get("status") or {}).get("attached"):
            self._patch(R.VOLUME_ATTACHMENTS, name, {"status": {"attached": True}}, None, sub="status")

    def _longhorn_attachment(self, volume: str, node: str, lhva: dict | None) -> None:
        tid = attachment_name(volume, node) if node else ""
        tickets = {tid: ticket(tid, node)} if node else {}
        if lhva is None:
            body = {
                "apiVersion": "longhorn.io/v1beta2",
                "kind": "VolumeAttachment",
                "metadata": {"name": volume, "namespace": M.NS, "labels": {"longhornvolume": volume}},
                "spec": {"volume": volume, "attachmentTickets": tickets},
            }
            try:
                lhva = self.cl.create(R.LONGHORN_VOLUME_ATTACHMENTS, body, M.NS)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                return
        spec = lhva.get("spec") or {}
        others = {k: t for k, t in (spec.get("attachmentTickets") or {}).items() if t.get("type") != CSI_ATTACHER}
        if (spec.get("attachmentTickets") or {}) != {**others, **tickets}:
            want = {**spec, "attachmentTickets": {**others, **tickets}}
            try:
                lhva = self.cl.replace(R.LONGHORN_VOLUME_ATTACHMENTS, {**lhva, "spec": want})
            except ApiError as exc:
                if exc.status in (404, 409):
                    return
                raise
        old = (lhva.get("status") or {}).get("attachmentTicketStatuses") or {}
        statuses = {
            k: ticket_status(k, t.get("nodeID") == node, old.get(k))
            for k, t in ((lhva.get("spec") or {}).get("attachmentTickets") or {}).items()
        }
        if statuses != old:
            lhva["status"] = {"attachmentTicketStatuses": statuses}
            try:
                self.cl.replace(R.LONGHORN_VOLUME_ATTACHMENTS, lhva, sub="status")
            except ApiError as exc:
                if exc.status not in (404, 409):
                    raise

    def _patch(self, res: R.Resource, name: str, body: dict, ns: str | None, sub: str | None = None) -> None:
        try:
            self.cl.patch(res, name, body, ns, sub=sub)
        except ApiError as exc:
            if exc.status not in (404, 409, 422):
                raise

    def _delete(self, res: R.Resource, name: str, ns: str | None) -> None:
        try:
            self.cl.delete(res, name, ns)
        except ApiError as exc:
            if not exc.not_found:
                raise


def attach_settled(cl: Cluster, pvs: set[str], node: str) -> bool:
    """The attach flow done for these PVs on `node` (what a user waits for after moving a workload):
    each attached there through its own VolumeAttachment, with Longhorn's satisfied ticket and
    `spec.nodeID` on releases that have tickets, and none left on another node."""
    if not _served(cl):
        return True
    volumes = {v["metadata"]["name"]: v for v in cl.list(R.LONGHORN_VOLUMES, M.NS) if v["metadata"]["name"] in pvs}
    for va in cl.list(R.VOLUME_ATTACHMENTS):
        spec = va.get("spec") or {}
        if (spec.get("source") or {}).get("persistentVolumeName") in volumes and spec.get("nodeName") != node:
            return False
    for name, vol in volumes.items():
        if _rwx_filesystem(vol):
            continue
        tid = attachment_name(name, node)
        va = cl.get(R.VOLUME_ATTACHMENTS, tid) or {}
        lhva = cl.get(R.LONGHORN_VOLUME_ATTACHMENTS, name, M.NS) or {}
        ticket_ok = (((lhva.get("status") or {}).get("attachmentTicketStatuses") or {}).get(tid) or {}).get("satisfied")
        if not ((va.get("status") or {}).get("attached") and ticket_ok and vol["spec"].get("nodeID") == node):
            return False
    return True


def factory(cl: Cluster, state_dir: object) -> Any:
    return Attacher(cl).reconcile


CONTROLLERS = [("volume-attachments", factory, 2.0, ON_CHANGE)]
WEBHOOKS: list = []
API_GROUPS: list = []


# -- faults -----------------------------------------------------------------------------------------
VOLUME = LF.FAULT_VOLUME
K8S_ATTACHMENT = attachment_name(VOLUME, FAULT_NODE)
STALE_TICKET_ID = attachment_name(VOLUME, STALE_NODE)


def _pin_writer(cl: Cluster, node: str) -> None:
    """The faults' volume attached to `node` by a pod pinned there (as the scheduler placed it)."""
    LF.ensure_volume(cl, attached=False)
    wait_for(
        "volume-attached",
        lambda: ((cl.get(R.PVCS, LF.FAULT_PVC, LF.FAULT_NS) or {}).get("status") or {}).get("phase") == "Bound",
    )
    cl.create(
        R.PODS,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": FAULT_POD, "namespace": LF.FAULT_NS, "labels": LF.FAULT_LABEL},
            "spec": {
                "nodeName": node,
                "containers": [{"name": "writer", "image": "registry.suse.com/bci/bci-busybox:15.6"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": LF.FAULT_PVC}}],
            },
        },
        LF.FAULT_NS,
    )

    wait_for("volume-attached", lambda: attach_settled(cl, {VOLUME}, node))


def _ticket_lost(cl: Cluster) -> None:
    _pin_writer(cl, FAULT_NODE)
    lhva = cl.get(R.LONGHORN_VOLUME_ATTACHMENTS, VOLUME, M.NS)
    assert lhva is not None
    lhva["metadata"].setdefault("annotations", {})[FAULT_ANNOTATION] = TICKET_LOST
    lhva["spec"]["attachmentTickets"] = {
        k: t for k, t in (lhva["spec"].get("attachmentTickets") or {}).items() if t.get("type") != CSI_ATTACHER
    }
    lhva = cl.replace(R.LONGHORN_VOLUME_ATTACHMENTS, lhva)
    lhva["status"] = {"attachmentTicketStatuses": {}}
    cl.replace(R.LONGHORN_VOLUME_ATTACHMENTS, lhva, sub="status")


def _stale_ticket(cl: Cluster) -> None:
    _pin_writer(cl, FAULT_NODE)
    lhva = cl.get(R.LONGHORN_VOLUME_ATTACHMENTS, VOLUME, M.NS)
    assert lhva is not None
    lhva["metadata"].setdefault("annotations", {})[FAULT_ANNOTATION] = STALE_TICKET
    lhva["spec"]["attachmentTickets"][STALE_TICKET_ID] = ticket(STALE_TICKET_ID, STALE_NODE)
    lhva = cl.replace(R.LONGHORN_VOLUME_ATTACHMENTS, lhva)
    statuses = (lhva.get("status") or {}).get("attachmentTicketStatuses") or {}
    statuses[STALE_TICKET_ID] = ticket_status(STALE_TICKET_ID, True)
    lhva["status"] = {"attachmentTicketStatuses": statuses}
    cl.replace(R.LONGHORN_VOLUME_ATTACHMENTS, lhva, sub="status")


def _remove_writer(cl: Cluster) -> None:
    try:
        cl.request("DELETE", R.PODS.path(LF.FAULT_NS, FAULT_POD), body={"gracePeriodSeconds": 0})
    except ApiError as exc:
        if not exc.not_found:
            raise
    wait_for("object-deleted", lambda: cl.get(R.PODS, FAULT_POD, LF.FAULT_NS) is None)
    LF.drop_fault_objects(cl)
    try:
        cl.delete(R.LONGHORN_VOLUME_ATTACHMENTS, VOLUME, M.NS)
    except ApiError as exc:
        if not exc.not_found:
            raise
    wait_for(
        "object-deleted",
        lambda: (
            cl.get(R.VOLUME_ATTACHMENTS, K8S_ATTACHMENT) is None
            and cl.get(R.LONGHORN_VOLUME_ATTACHMENTS, VOLUME, M.NS) is None
        ),
    )


FAULTS: list[Fault] = [
    Fault(
        "VAT-01",
        f"volume {VOLUME} attached to {FAULT_NODE} with its csi-attacher ticket lost (a ControllerUnpublish that "
        "removed the ticket and timed out): the Kubernetes VolumeAttachment stays attached",
        _ticket_lost,
        _remove_writer,
        objects=(f"VolumeAttachment {K8S_ATTACHMENT}", f"VolumeAttachment {M.NS}/{VOLUME}"),
        creates=(f"VolumeAttachment {K8S_ATTACHMENT}", f"VolumeAttachment {M.NS}/{VOLUME}"),
        releases=("v1.2.2", ""),
        why_not="Longhorn VolumeAttachments (tickets) exist from Longhorn 1.5.0, shipped from Harvester v1.2.2",
    ),
    Fault(
        "VAT-02",
        f"volume {VOLUME} moved from {STALE_NODE} to {FAULT_NODE}, the detach from {STALE_NODE} failed and left its "
        "satisfied csi-attacher ticket behind (the volume is not migratable)",
        _stale_ticket,
        _remove_writer,
        objects=(f"VolumeAttachment {M.NS}/{VOLUME}",),
        creates=(f"VolumeAttachment {M.NS}/{VOLUME}",),
        releases=("v1.2.2", ""),
        why_not="Longhorn VolumeAttachments (tickets) exist from Longhorn 1.5.0, shipped from Harvester v1.2.2",
    ),
]

__all__ = ["API_GROUPS", "CONTROLLERS", "FAULTS", "WEBHOOKS", "ready", "seed"]
