"""Longhorn faults: states real clusters reach (a stuck longhorn-manager, a wrong value written to
a disk, a stale object, a never-configured setting), each with its undo (facts.md §6-§9, §16)."""

from __future__ import annotations

from collections.abc import Callable

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.areas import csi_provisioner as csi
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.areas import longhorn_webhook
from harvester_conformance.emulator.areas.harvester_hosts_rancher import TRIDENT_CLASS
from harvester_conformance.emulator.areas.harvester_settings import harvester_version
from harvester_conformance.emulator.faults import (
    FAULT_ANNOTATION,
    Fault,
    admitted,
    fault_of,
    set_webhook_registered,
    webhook_down,
)
from harvester_conformance.waits import wait_for

FAULT_LABEL = {"emulator.harvester-conformance.io/fault-object": "longhorn"}
FAULT_NS = "default"
FAULT_PVC = "hc-longhorn-fault-data"
FAULT_POD = "hc-longhorn-fault-writer"
FAULT_CLASS = "harvester-longhorn"
# The faults' own volume, provisioned statically (PV and Longhorn Volume of this name) so that its
# name is known before it exists: a dynamically provisioned one is named after its PVC's UID.
FAULT_VOLUME = "hc-longhorn-fault-data"
# Each fault's Longhorn node, fixed so that the objects it breaks can be declared.
FIRST_NODE = "harvester-node-0"  # MET-03, MET-04: its default disk; EVI-02: the disk of its replica
EVI01_NODE = "harvester-node-3"  # a fourth node, removed from Kubernetes: one past the profiles' three


# -- building blocks ------------------------------------------------------------------------------
def _annotate(cl: Cluster, res: object, name: str, value: str | None, ns: str = M.NS) -> None:
    cl.patch(res, name, {"metadata": {"annotations": {FAULT_ANNOTATION: value}}}, ns)


def _fault_volume(cl: Cluster) -> dict | None:
    return cl.get(R.LONGHORN_VOLUMES, FAULT_VOLUME, M.NS)


def _fault_claim(cl: Cluster) -> dict:
    """The faults' PVC of harvester-longhorn, pre-bound to FAULT_VOLUME's PV (created after it,
    so that no dynamic provisioning races the static one)."""
    pvc = cl.get(R.PVCS, FAULT_PVC, FAULT_NS)
    if pvc is not None:
        return pvc
    return cl.create(
        R.PVCS,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": FAULT_PVC, "namespace": FAULT_NS, "labels": FAULT_LABEL},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "volumeMode": "Block",
                "storageClassName": FAULT_CLASS,
                "resources": {"requests": {"storage": "10Gi"}},
                "volumeName": FAULT_VOLUME,
            },
        },
        FAULT_NS,
    )


def ensure_volume(cl: Cluster, attached: bool) -> dict:
    """The Longhorn volume the faults break, FAULT_VOLUME: a PV of that name bound to a PVC of
    harvester-longhorn, as an admin provisions an existing Longhorn volume statically (and a pod
    using it when it must be attached). longhorn-manager creates the volume and its replicas."""
    pvc = _fault_claim(cl)
    if cl.get(R.PERSISTENT_VOLUMES, FAULT_VOLUME) is None:
        sc = cl.get(R.STORAGE_CLASSES, FAULT_CLASS)
        assert sc is not None, f"StorageClass {FAULT_CLASS} does not exist; is the cluster seeded?"
        attrs = dict(sc.get("parameters") or {})
        pv = csi.pre_bound_pv(pvc, sc, M.DRIVER, attrs, attrs.get("fsType", "ext4"))
        pv["metadata"]["name"] = pv["spec"]["csi"]["volumeHandle"] = FAULT_VOLUME
        csi.create_pv(cl, pv)
    if attached and cl.get(R.PODS, FAULT_POD, FAULT_NS) is None:
        # Bound first: a pod the scheduler found with an unbound claim can wait minutes in its
        # unschedulable queue (seen on a loaded v1.8.2 cluster).
        wait_for(
            "volume-attached",
            lambda: ((cl.get(R.PVCS, FAULT_PVC, FAULT_NS) or {}).get("status") or {}).get("phase") == "Bound",
        )
        cl.create(
            R.PODS,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": FAULT_POD, "namespace": FAULT_NS, "labels": FAULT_LABEL},
                "spec": {
                    "containers": [{"name": "writer", "image": "registry.suse.com/bci/bci-busybox:15.6"}],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": FAULT_PVC}}],
                },
            },
            FAULT_NS,
        )
    want = "attached" if attached else "detached"

    def ready() -> dict | None:
        vol = _fault_volume(cl)
        if vol is None or (vol.get("status") or {}).get("state") != want:
            return None
        return vol if len(_replicas(cl, vol["metadata"]["name"])) >= vol["spec"]["numberOfReplicas"] else None

    return wait_for("cluster-seeded", ready)


def drop_fault_objects(cl: Cluster) -> None:
    """Remove the pod and PVC the faults made; longhorn-manager then deletes the released PV,
    and with it the volume (waited for, so that a revert leaves nothing behind)."""
    cl.delete(R.PODS, FAULT_POD, FAULT_NS)
    cl.delete(R.PVCS, FAULT_PVC, FAULT_NS)

    def gone() -> bool:
        pv = cl.get(R.PERSISTENT_VOLUMES, FAULT_VOLUME)
        return pv is None and _fault_volume(cl) is None

    wait_for("object-deleted", gone)


def _replicas(cl: Cluster, volume: str) -> list[dict]:
    return cl.list(R.LONGHORN_REPLICAS, M.NS, f"longhornvolume={volume}")


def _first_node(cl: Cluster) -> dict:
    node = cl.get(R.LONGHORN_NODES, FIRST_NODE, M.NS)
    assert node is not None, f"Node {M.NS}/{FIRST_NODE} does not exist; is the cluster seeded?"
    return node


def _default_disk(node: dict) -> tuple[str, int]:
    name = next(d for d in node["spec"]["disks"] if d.startswith("default-disk-"))
    maximum = node["status"]["diskStatus"][name]["storageMaximum"]
    return name, int(maximum)


def _percentage(cl: Cluster) -> int:
    setting = cl.get(R.LONGHORN_SETTINGS, "storage-reserved-percentage-for-default-disk", M.NS)
    return M.reserved_percentage({"storage-reserved-percentage-for-default-disk": (setting or {}).get("value", "30")})


def _set_default_reserved(value: Callable[[int, int], int]) -> Callable[[Cluster], None]:
    def act(cl: Cluster) -> None:
        node = _first_node(cl)
        disk, maximum = _default_disk(node)
        reserved = value(maximum, _percentage(cl))
        cl.patch(
            R.LONGHORN_NODES, node["metadata"]["name"], {"spec": {"disks": {disk: {"storageReserved": reserved}}}}, M.NS
        )

    return act


def request_eviction(cl: Cluster, node: str, disks: list[str]) -> None:
    """The eviction procedure (KB "Evicting Replicas From a Disk"): scheduling off first, then the
    request; Longhorn's node validator refuses evictionRequested on a disk that still allows
    scheduling (LM webhook/resources/node/validator.go)."""
    for flags in ({"allowScheduling": False}, {"evictionRequested": True}):
        cl.patch(R.LONGHORN_NODES, node, {"spec": {"disks": {d: flags for d in disks}}}, M.NS)


def cancel_eviction(cl: Cluster, node: str, disks: list[str]) -> None:
    """The procedure backwards: the request cancelled first, then scheduling allowed again."""
    for flags in ({"evictionRequested": False}, {"allowScheduling": True}):
        cl.patch(R.LONGHORN_NODES, node, {"spec": {"disks": {d: flags for d in disks}}}, M.NS)


def _restore_reserved(cl: Cluster) -> None:
    _set_default_reserved(lambda maximum, pct: maximum * pct // 100)(cl)


# -- eviction (EVI-02, EVI-03) ------------------------------------------------------------------------
def _stuck_eviction(cl: Cluster) -> None:
    """A disk asked to evict while its node's manager is stuck: its replicas stay."""
    vol = ensure_volume(cl, attached=False)
    rep = next((r for r in _replicas(cl, vol["metadata"]["name"]) if r["spec"]["nodeID"] == FIRST_NODE), None)
    assert rep is not None, f"Volume {M.NS}/{vol['metadata']['name']} has no replica on {FIRST_NODE}"
    node_name, disk_uuid = rep["spec"]["nodeID"], rep["spec"]["diskID"]
    node = cl.get(R.LONGHORN_NODES, node_name, M.NS)
    assert node is not None
    disk = next(n for n, d in node["status"]["diskStatus"].items() if d.get("diskUUID") == disk_uuid)
    _annotate(cl, R.LONGHORN_NODES, node_name, M.EVICTION_STUCK)
    request_eviction(cl, node_name, [disk])


def _stuck_eviction_revert(cl: Cluster) -> None:
    for node in cl.list(R.LONGHORN_NODES, M.NS):
        name = node["metadata"]["name"]
        if fault_of(node) != M.EVICTION_STUCK:
            continue
        disks = [d for d, spec in node["spec"]["disks"].items() if spec.get("evictionRequested")]
        if disks:
            cancel_eviction(cl, name, disks)
        _annotate(cl, R.LONGHORN_NODES, name, None)
    drop_fault_objects(cl)


def _manager_stuck_everywhere(cl: Cluster) -> None:
    ensure_volume(cl, attached=False)  # something to evict, so that a stuck eviction shows
    for node in cl.list(R.LONGHORN_NODES, M.NS):
        _annotate(cl, R.LONGHORN_NODES, node["metadata"]["name"], M.EVICTION_STUCK)


# -- nodes (EVI-01) --------------------------------------------------------------------------------
def _stale_node(cl: Cluster) -> None:
    """The Longhorn Node of a removed Kubernetes node, left behind."""
    name = EVI01_NODE
    version = (cl.get(R.LONGHORN_SETTINGS, "current-longhorn-version", M.NS) or {}).get("value", "v1.6.2")
    # Its disks as the node had them when it was live: sized, and so reserved, by its place among
    # the Longhorn nodes (as the manager sizes every node's disks).
    names = sorted({n["metadata"]["name"] for n in cl.list(R.LONGHORN_NODES, M.NS)} | {name})
    node = cl.create(R.LONGHORN_NODES, M.longhorn_node(name, names.index(name), _percentage(cl), version), M.NS)

    def reported() -> bool:
        """The node as its manager last reported it, each disk with its figures (a create carries no
        status: longhorn-manager writes it on its next pass)."""
        status = (cl.get(R.LONGHORN_NODES, name, M.NS) or {}).get("status") or {}
        disks = status.get("diskStatus") or {}
        return all("storageMaximum" in (disks.get(d) or {}) for d in node["spec"].get("disks") or {})

    wait_for("cluster-seeded", reported)


def _stale_node_revert(cl: Cluster) -> None:
    k8s = {n["metadata"]["name"] for n in cl.list(R.NODES)}
    for node in cl.list(R.LONGHORN_NODES, M.NS):
        if node["metadata"]["name"] not in k8s:
            cl.delete(R.LONGHORN_NODES, node["metadata"]["name"], M.NS)


# -- priority class (LPC-01, LPC-03) ------------------------------------------------------------------
def _recreate_priority_setting(value: str) -> Callable[[Cluster], None]:
    """The setting object as an upgraded cluster keeps it: written while Longhorn's validator was
    not running (as during an upgrade), since with volumes attached Longhorn <= 1.5 refuses any
    write of it, a create included (LM webhook/resources/setting/validator.go)."""

    def act(cl: Cluster) -> None:
        body = {
            "apiVersion": "longhorn.io/v1beta2",
            "kind": "Setting",
            "metadata": {"name": "priority-class", "namespace": M.NS},
            "value": value,
        }
        with webhook_down(cl, longhorn_webhook.REGISTRATION["name"]):
            cl.delete(R.LONGHORN_SETTINGS, "priority-class", M.NS)
            wait_for("object-deleted", lambda: cl.get(R.LONGHORN_SETTINGS, "priority-class", M.NS) is None)
            admitted(lambda: cl.create(R.LONGHORN_SETTINGS, body, M.NS))

    return act


def _stalled_upgrade(stalled: bool) -> Callable[[Cluster], None]:
    """LPC-04: a Longhorn upgrade stalled half-way. Longhorn's admission webhook is not registered
    (its pods not ready), so nothing refuses a priority-class change (up to 1.5 the validator is the
    only guard), and the priority-class setting is served by a longhorn-manager of 1.5, which applies
    the class at once (from 1.6 the setting controller is the guard). The Setting is annotated while
    the webhook is away (up to 1.5 any write of it is refused while volumes are attached)."""
    webhook = longhorn_webhook.REGISTRATION["name"]

    def apply(cl: Cluster) -> None:
        if stalled:
            set_webhook_registered(cl, webhook, False)
        _annotate(cl, R.LONGHORN_SETTINGS, "priority-class", M.PRIORITY_NOT_DEFERRED if stalled else None)
        if not stalled:
            set_webhook_registered(cl, webhook, True)

    return apply


def _rolled_out(cl: Cluster, name: str, priority: str) -> bool:
    dep = cl.get(R.DEPLOYMENTS, name, M.NS) or {}
    st = dep.get("status") or {}
    want = (dep.get("spec") or {}).get("replicas", 1)
    if st.get("observedGeneration", 0) < dep["metadata"].get("generation", 0):
        return False
    if st.get("updatedReplicas") != want or st.get("availableReplicas") != want or st.get("replicas") != want:
        return False
    # Settled means the old pods are gone too: a terminating one would still churn the node's
    # pod totals under the next fault (MET-01 omits a node's oldest pod).
    pods = cl.list(R.PODS, M.NS, f"app={name}")
    return len(pods) == want and all(p["spec"].get("priorityClassName", "") == priority for p in pods)


def _user_edited_component(cl: Cluster) -> None:
    """A user removed csi-resizer's priority class by hand while the manager was stuck."""
    cl.patch(
        R.DEPLOYMENTS,
        "csi-resizer",
        {
            "metadata": {"annotations": {FAULT_ANNOTATION: M.PRIORITY_STUCK}},
            "spec": {"template": {"spec": {"priorityClassName": None}}},
        },
        M.NS,
    )
    wait_for("cluster-seeded", lambda: _rolled_out(cl, "csi-resizer", ""))


def _user_edit_undone(cl: Cluster) -> None:
    value = (cl.get(R.LONGHORN_SETTINGS, "priority-class", M.NS) or {}).get("value", M.CRITICAL)
    cl.patch(
        R.DEPLOYMENTS,
        "csi-resizer",
        {
            "metadata": {"annotations": {FAULT_ANNOTATION: None}},
            "spec": {"template": {"spec": {"priorityClassName": value or None}}},
        },
        M.NS,
    )
    wait_for("cluster-seeded", lambda: _rolled_out(cl, "csi-resizer", value))


# -- volumes (UPG-01) -------------------------------------------------------------------------------
def _degraded_volume(cl: Cluster) -> None:
    """A replica of an attached volume failed and its manager is stuck, so it is never rebuilt."""
    vol = ensure_volume(cl, attached=True)
    name = vol["metadata"]["name"]
    _annotate(cl, R.LONGHORN_VOLUMES, name, M.MANAGER_STUCK)
    rep = _replicas(cl, name)[0]
    rep["spec"]["failedAt"] = clock.stamp()
    rep = cl.replace(R.LONGHORN_REPLICAS, rep)
    rep["status"] = {**(rep.get("status") or {}), "currentState": "error", "started": False, "instanceManagerName": ""}
    cl.replace(R.LONGHORN_REPLICAS, rep, sub="status")
    failed = rep["metadata"]["name"]

    def engine_sees_it() -> bool:
        """The engine marks the replica ERR: the degradation shows through the engine too."""
        engine = cl.get(R.LONGHORN_ENGINES, M.engine_name(name), M.NS)
        if engine is None:
            return False
        st = engine.get("status") or {}
        st["replicaModeMap"] = {**(st.get("replicaModeMap") or {}), failed: "ERR"}
        st["currentReplicaAddressMap"] = {
            k: v for k, v in (st.get("currentReplicaAddressMap") or {}).items() if k != failed
        }
        engine["status"] = st
        return _status_written(cl, R.LONGHORN_ENGINES, engine)

    wait_for("cluster-seeded", engine_sees_it)

    def degrade() -> bool:
        cur = cl.get(R.LONGHORN_VOLUMES, name, M.NS) or {}
        cur["status"] = {**(cur.get("status") or {}), "robustness": "degraded", "lastDegradedAt": clock.stamp()}
        return _status_written(cl, R.LONGHORN_VOLUMES, cur)

    wait_for("cluster-seeded", degrade)


def _status_written(cl: Cluster, res: R.Resource, obj: dict) -> bool:
    """Replace `obj`'s status; False on a conflict (the manager wrote meanwhile: read and try again)."""
    try:
        cl.replace(res, obj, sub="status")
    except ApiError as exc:
        if exc.status == 409:
            return False
        raise
    return True


def _degraded_volume_revert(cl: Cluster) -> None:
    names = [v["metadata"]["name"] for v in cl.list(R.LONGHORN_VOLUMES, M.NS) if fault_of(v) == M.MANAGER_STUCK]
    for name in names:
        _annotate(cl, R.LONGHORN_VOLUMES, name, None)
    for name in names:
        wait_for(
            "cluster-seeded",
            lambda n=name: (
                (cl.get(R.LONGHORN_VOLUMES, n, M.NS) or {}).get("status", {}).get("robustness")
                in ("healthy", "unknown")
            ),
        )
    drop_fault_objects(cl)


# -- settings (LHP-01) --------------------------------------------------------------------------------
def _replica_count_above_nodes(cl: Cluster) -> None:
    schedulable = [n for n in cl.list(R.LONGHORN_NODES, M.NS) if n["spec"].get("allowScheduling", True)]
    cl.patch(R.LONGHORN_SETTINGS, "default-replica-count", {"value": str(len(schedulable) + 1)}, M.NS)


def _replica_count_default(cl: Cluster) -> None:
    cl.patch(R.LONGHORN_SETTINGS, "default-replica-count", {"value": "3"}, M.NS)


# -- best practices (LHP-04, LHP-05) and images (CSI-02) ---------------------------------------------
LHP04_NODE = "harvester-node-2"


def _data_disk_retired(retired: bool) -> Callable[[Cluster], None]:
    """The node's dedicated data disk evicted and disabled (and never put back): its data moves to the
    root disk's default path."""

    def apply(cl: Cluster) -> None:
        disk = M.extra_disk_name(LHP04_NODE)
        (request_eviction if retired else cancel_eviction)(cl, LHP04_NODE, [disk])
        if retired:

            def emptied() -> bool:
                node = cl.get(R.LONGHORN_NODES, LHP04_NODE, M.NS) or {}
                return not (node.get("status", {}).get("diskStatus", {}).get(disk) or {}).get("scheduledReplica")

            wait_for("cluster-seeded", emptied)

    return apply


RECURRING_JOB = M.recurring_job()["metadata"]["name"]
UNJOINED_GROUP = "mission-critical"


def _backup_job_groups(groups: list[str]) -> Callable[[Cluster], None]:
    """LHP-05 before Harvester v1.4 (the RecurringJob era): an admin moves the daily backup job from
    group default to a group for mission-critical volumes, as the article suggests, but no volume
    is ever labelled recurring-job-group.longhorn.io/mission-critical, so the job backs up nothing."""

    def apply(cl: Cluster) -> None:
        cl.patch(R.LONGHORN_RECURRING_JOBS, RECURRING_JOB, {"spec": {"groups": groups}}, M.NS)

    return apply


def _lhp05(cl: Cluster) -> None:
    """LHP-05 by release: before v1.4 the backup job moved to a group no volume joined; from v1.4
    (ScheduleVMBackups) the article's own advice followed on a release it no longer fits: a Longhorn
    backup RecurringJob in group default, which Harvester does not support there."""
    if harvester_version(cl) < M.SCHEDULES_FROM:
        _backup_job_groups([UNJOINED_GROUP])(cl)
    else:
        cl.apply(R.LONGHORN_RECURRING_JOBS, M.recurring_job(), manager="kubectl")


def _lhp05_revert(cl: Cluster) -> None:
    if harvester_version(cl) < M.SCHEDULES_FROM:
        _backup_job_groups(["default"])(cl)
    else:
        cl.delete(R.LONGHORN_RECURRING_JOBS, RECURRING_JOB, M.NS)
        wait_for("object-deleted", lambda: cl.get(R.LONGHORN_RECURRING_JOBS, RECURRING_JOB, M.NS) is None)


VENDOR_IMAGE = "emulator-vendor-image"


def _vendor_image(cl: Cluster) -> None:
    # An image restored from a v1.5 cluster's backup, imported through CDI onto the Trident class.
    _, image = M.image_objects()
    image["metadata"]["name"] = VENDOR_IMAGE
    image["spec"].update({"backend": "cdi", "targetStorageClassName": TRIDENT_CLASS})
    image["spec"].pop("storageClassParameters")
    image["status"].update({"storageClassName": TRIDENT_CLASS, "targetStorageClassName": TRIDENT_CLASS})
    cl.create(R.VM_IMAGES, image, M.IMAGE_NS)


def _vendor_image_revert(cl: Cluster) -> None:
    cl.delete(R.VM_IMAGES, VENDOR_IMAGE, M.IMAGE_NS)


FAULTS = [
    Fault(
        "EVI-02",
        "a disk asked to evict (evictionRequested, scheduling off) while longhorn-manager is stuck: replicas stay",
        _stuck_eviction,
        _stuck_eviction_revert,
        objects=(f"Node {M.NS}/{FIRST_NODE}",),
    ),
    Fault(
        "EVI-03",
        "longhorn-manager stuck on every node: a requested eviction never completes",
        _manager_stuck_everywhere,
        _stuck_eviction_revert,
        # Stuck everywhere, so whichever disk is evicted stays full; EVI-03 evicts on the first
        # node (by name) with a disk whose replicas fit on its other disks: the first node here.
        objects=(f"Node {M.NS}/{FIRST_NODE}",),
    ),
    Fault(
        "MET-03",
        "a default disk's storageReserved written larger than the disk's storageMaximum",
        _set_default_reserved(lambda maximum, pct: maximum + 10 * 1024**3),
        _restore_reserved,
        objects=(f"Node {M.NS}/{FIRST_NODE}",),
    ),
    Fault(
        "MET-04",
        "a stale default disk reserving 20% while the setting says 30%",
        _set_default_reserved(lambda maximum, pct: maximum * (pct - 10 if pct > 10 else pct + 10) // 100),
        _restore_reserved,
        objects=(f"Node {M.NS}/{FIRST_NODE}",),
    ),
    Fault(
        "LPC-01",
        "priority-class setting empty, as an upgraded cluster that was never configured keeps it",
        _recreate_priority_setting(""),
        _recreate_priority_setting(M.CRITICAL),
        objects=(f"Setting {M.NS}/priority-class",),
    ),
    Fault(
        "LPC-03",
        "csi-resizer's priority class removed by hand while longhorn-manager was stuck",
        _user_edited_component,
        _user_edit_undone,
        objects=(f"Deployment {M.NS}/csi-resizer",),
    ),
    Fault(
        "LPC-04",
        "a stalled Longhorn upgrade: its admission webhook not registered and a 1.5 longhorn-manager applying "
        "priority-class at once, so a change with volumes attached reaches the system pods",
        _stalled_upgrade(True),
        _stalled_upgrade(False),
        objects=(f"Setting {M.NS}/priority-class",),
    ),
    Fault(
        "EVI-01",
        "a Longhorn Node left behind after its Kubernetes node was removed",
        _stale_node,
        _stale_node_revert,
        objects=(f"Node {M.NS}/{EVI01_NODE}",),
        creates=(f"Node {M.NS}/{EVI01_NODE}",),
    ),
    Fault(
        "UPG-01",
        "an attached volume degraded: a replica failed and longhorn-manager is stuck for that volume",
        _degraded_volume,
        _degraded_volume_revert,
        objects=(f"Volume {M.NS}/{FAULT_VOLUME}",),
        creates=(f"Volume {M.NS}/{FAULT_VOLUME}",),
    ),
    Fault(
        "LHP-01",
        "default-replica-count set above the number of schedulable Longhorn nodes",
        _replica_count_above_nodes,
        _replica_count_default,
        objects=(f"Setting {M.NS}/default-replica-count",),
    ),
    Fault(
        "LHP-04",
        f"{LHP04_NODE}'s dedicated data disk evicted and disabled: its data only on the root disk",
        _data_disk_retired(True),
        _data_disk_retired(False),
        objects=(f"Node {M.NS}/{LHP04_NODE}",),
    ),
    Fault(
        "LHP-05",
        f"before v1.4.0 the daily-backup RecurringJob moved to group {UNJOINED_GROUP}, which no volume joined "
        "(it backs up nothing); from v1.4.0 a Longhorn backup RecurringJob created as the article says, which "
        "Harvester no longer supports",
        _lhp05,
        _lhp05_revert,
        objects=(f"RecurringJob {M.NS}/{RECURRING_JOB}",),
    ),
    Fault(
        "CSI-02",
        "a VM image stored on the Trident class (CDI backend) instead of Longhorn",
        _vendor_image,
        _vendor_image_revert,
        objects=(f"VirtualMachineImage {M.IMAGE_NS}/{VENDOR_IMAGE}",),
        creates=(f"VirtualMachineImage {M.IMAGE_NS}/{VENDOR_IMAGE}",),
        releases=("", "v1.5.0"),
        why_not="from v1.5.0 a CDI-backed image on a third-party class is supported (facts.md §17.7, R6)",
    ),
]
