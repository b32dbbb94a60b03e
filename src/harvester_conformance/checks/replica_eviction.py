"""Replica eviction (article evicting-replicas-from-a-disk-the-cli-way; facts.md §9, §17.3, R4.2).

Pure functions over plain data: Longhorn nodes against Kubernetes nodes (EVI-01), disks whose
eviction was requested (EVI-02), and for EVI-03 the disk to evict and the volumes' health meanwhile.

Upstream sources: longhorn/longhorn-manager `k8s/pkg/apis/longhorn/v1beta2/node.go`
(`spec.disks.<disk>.{allowScheduling, evictionRequested}`, `status.diskStatus.<disk>.scheduledReplica`,
@v1.4.3 … v1.11.2; the Longhorn Node is named after its Kubernetes node, `controller/node_controller.go`)
and `webhook/resources/node/validator.go` (v1.4.3, v1.6.2, unchanged to v1.11.2): evictionRequested
true together with allowScheduling true is refused, for a node and for each disk. Such a state can
still exist when it was written while the webhook was unavailable.

EVI-03 picks a disk whose replicas fit on the other schedulable disks of its node: with as many
replicas as nodes, an evicted replica can only move within its node, which Longhorn allows for a
replica being evicted (longhorn/longhorn#3076, `scheduler/replica_scheduler.go` getDiskCandidates
"unusedNodesAfterEviction" @v1.6.2). Room per disk as the scheduler counts it:
(storageMaximum - storageReserved) x `storage-over-provisioning-percentage` / 100 - storageScheduled
(`IsSchedulableToDisk`). Volume robustness: healthy, degraded, faulted, unknown when detached
(`k8s/pkg/apis/longhorn/v1beta2/volume.go`).
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


# -- EVI-03: an eviction on one disk ------------------------------------------------------------------
OVER_PROVISIONING = "storage-over-provisioning-percentage"


def _disk_usable(node: dict, disk: str) -> bool:
    """Takes replicas: node and disk allow scheduling, no eviction requested, not reported unschedulable."""
    spec, d = node.get("spec") or {}, _disks(node).get(disk) or {}
    if spec.get("allowScheduling") is False or spec.get("evictionRequested") is True:
        return False
    if d.get("allowScheduling") is not True or d.get("evictionRequested") is True:
        return False
    status = ((node.get("status") or {}).get("diskStatus") or {}).get(disk) or {}
    conds = status.get("conditions") if isinstance(status, dict) else None
    conds = list(conds.values()) if isinstance(conds, dict) else conds or []
    return not any(isinstance(c, dict) and c.get("type") == "Schedulable" and c.get("status") == "False" for c in conds)


def disk_room(node: dict, disk: str, over_pct: int) -> int:
    """Bytes the scheduler may still place on the disk."""
    status = ((node.get("status") or {}).get("diskStatus") or {}).get(disk) or {}
    reserved = int((_disks(node).get(disk) or {}).get("storageReserved") or 0)
    maximum = int(status.get("storageMaximum") or 0)
    scheduled = int(status.get("storageScheduled") or sum(int(v) for v in scheduled_replicas(node, disk).values()))
    return (maximum - reserved) * over_pct // 100 - scheduled


def pick_disk(nodes: list[dict], over_pct: int) -> tuple[str, str] | None:
    """The disk EVI-03 evicts: on the first Longhorn node (by name) that has one, the schedulable
    disk holding the fewest replicas (at least one) whose replicas fit on the node's other
    schedulable disks. None when no disk qualifies."""
    for node in sorted(nodes, key=_name):
        usable = [d for d in sorted(_disks(node)) if _disk_usable(node, d)]
        options = []
        for disk in usable:
            replicas = {k: int(v) for k, v in scheduled_replicas(node, disk).items()}
            rooms = [disk_room(node, o, over_pct) for o in usable if o != disk]
            if replicas and rooms and sum(replicas.values()) <= sum(rooms) and max(replicas.values()) <= max(rooms):
                options.append((len(replicas), sum(replicas.values()), disk))
        if options:
            return _name(node), min(options)[2]
    return None


def unhealthy(before: dict[str, str], volumes: list[dict]) -> dict[str, str]:
    """Volumes healthy in `before` (name -> robustness) that are now degraded or faulted, and any
    volume now faulted: name -> robustness."""
    out = {}
    for vol in volumes:
        name = _name(vol)
        robustness = str((vol.get("status") or {}).get("robustness") or "")
        if robustness == "faulted" or (before.get(name) == "healthy" and robustness == "degraded"):
            out[name] = robustness
    return out


def check_health(node: str, disk: str, seen: dict[str, str]) -> list[Finding]:
    """EVI-03: the volumes that lost health while the disk was evicted."""
    return [
        Finding(f"Volume {NS}/{name}", f"{robustness} while disk {disk} of node {node} was evicted; expected healthy")
        for name, robustness in sorted(seen.items())
    ]
