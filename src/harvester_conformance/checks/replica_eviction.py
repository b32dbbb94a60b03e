"""Replica eviction (article evicting-replicas-from-a-disk-the-cli-way; facts.md §9, §17.3, R4.2).

Pure functions over plain data: Longhorn nodes against Kubernetes nodes (EVI-01), and disks whose
eviction was requested (EVI-02).

Upstream sources: longhorn/longhorn-manager `k8s/pkg/apis/longhorn/v1beta2/node.go`
(`spec.disks.<disk>.{allowScheduling, evictionRequested}`, `status.diskStatus.<disk>.scheduledReplica`,
@v1.4.3 … v1.11.2; the Longhorn Node is named after its Kubernetes node, `controller/node_controller.go`)
and `webhook/resources/node/validator.go` (v1.4.3, v1.6.2, unchanged to v1.11.2): evictionRequested
true together with allowScheduling true is refused, for a node and for each disk. Such a state can
still exist when it was written while the webhook was unavailable.
"""

from __future__ import annotations

import datetime as dt

from harvester_conformance.checks.findings import Finding

NS = "longhorn-system"
# Witness nodes (Harvester v1.3+) run etcd only: longhorn-manager does not run there.
WITNESS_LABEL = "node-role.harvesterhci.io/witness"


def _name(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def check_node_mapping(longhorn_nodes: list[dict], nodes: list[dict]) -> list[Finding]:
    """EVI-01: one Longhorn Node per Kubernetes node (witness nodes need none), by name, and none
    left over."""
    lh, k8s = {_name(n) for n in longhorn_nodes}, {_name(n) for n in nodes}
    witness = {_name(n) for n in nodes if WITNESS_LABEL in ((n.get("metadata") or {}).get("labels") or {})}
    found = [
        Finding(f"Node {NS}/{name}", "Longhorn node without a Kubernetes node of that name (a removed host?)")
        for name in sorted(lh - k8s)
    ]
    found += [
        Finding(f"Node {name}", f"Kubernetes node without a Longhorn node {NS}/{name} (is longhorn-manager running?)")
        for name in sorted(k8s - lh - witness)
    ]
    return found


def _disks(node: dict) -> dict[str, dict]:
    disks = (node.get("spec") or {}).get("disks") or {}
    return {k: v for k, v in disks.items() if isinstance(v, dict)} if isinstance(disks, dict) else {}


def scheduled_replicas(node: dict, disk: str) -> dict:
    status = ((node.get("status") or {}).get("diskStatus") or {}).get(disk) or {}
    replicas = status.get("scheduledReplica") if isinstance(status, dict) else None
    return replicas if isinstance(replicas, dict) else {}


def check_eviction_flags(node: dict) -> list[Finding]:
    """EVI-02, first half: eviction requested only where scheduling is off (node and disks)."""
    ref, spec = f"Node {NS}/{_name(node)}", node.get("spec") or {}
    found = []
    if spec.get("evictionRequested") is True and spec.get("allowScheduling") is not False:
        found.append(
            Finding(ref, "node evictionRequested true with allowScheduling true; expected allowScheduling false")
        )
    for disk, d in sorted(_disks(node).items()):
        if d.get("evictionRequested") is True and d.get("allowScheduling") is not False:
            found.append(Finding(ref, f"disk {disk}: evictionRequested true with allowScheduling true; expected false"))
    return found


def evicting_disks(node: dict) -> dict[str, dict]:
    """Disks asked to evict (the disk's own request, or the whole node's) that still hold replicas:
    disk name -> its scheduledReplica map."""
    whole = (node.get("spec") or {}).get("evictionRequested") is True
    out = {}
    for disk, d in sorted(_disks(node).items()):
        replicas = scheduled_replicas(node, disk)
        if (whole or d.get("evictionRequested") is True) and replicas:
            out[disk] = replicas
    return out


def _has_eviction_field(fields: object, disk: str) -> bool:
    spec = (fields or {}).get("f:spec") if isinstance(fields, dict) else None
    if not isinstance(spec, dict):
        return False
    if "f:evictionRequested" in spec:
        return True
    entry = (spec.get("f:disks") or {}).get(f"f:{disk}") if isinstance(spec.get("f:disks"), dict) else None
    return isinstance(entry, dict) and "f:evictionRequested" in entry


def requested_at(node: dict, disk: str) -> dt.datetime | None:
    """The latest write by a manager that owns the disk's (or node's) evictionRequested field: the
    request is at least this old. None when managedFields do not say."""
    stamps = []
    for entry in (node.get("metadata") or {}).get("managedFields") or []:
        if isinstance(entry, dict) and entry.get("time") and _has_eviction_field(entry.get("fieldsV1"), disk):
            try:
                stamps.append(dt.datetime.fromisoformat(str(entry["time"]).replace("Z", "+00:00")))
            except ValueError:
                continue
    return max(stamps) if stamps else None


def check_stuck(node: dict, disk: str, replicas: dict, waited: dt.timedelta) -> Finding:
    """EVI-02, second half: the finding for a disk that kept its replicas for `waited`."""
    names = sorted(replicas)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return Finding(
        f"Node {NS}/{_name(node)}",
        f"disk {disk}: eviction requested but {len(names)} replica(s) still scheduled after at least "
        f"{int(waited.total_seconds())} s ({shown}); expected scheduledReplica to become empty",
    )
