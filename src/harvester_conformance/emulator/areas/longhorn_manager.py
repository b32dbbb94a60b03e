"""The simulated longhorn-manager (facts.md §6, §8, §9, §16).

What it keeps true, tick after tick, from the objects in the API only:
- a Longhorn Node per Kubernetes node, with disk status derived from the Replicas placed on it
  (storageScheduled = sum of scheduledReplica, storageAvailable = maximum - usage);
- the CSI provisioner's part: a PersistentVolume pre-bound to every PVC of a Longhorn
  StorageClass (kube-controller-manager's PV binder completes the binding), and a Volume named
  like the PV with `numberOfReplicas` Replicas on distinct nodes;
- attachment from running pods that use the claim; robustness from the replicas' health;
- an Engine per volume (`<volume>-e-0`, labelled `longhornvolume`) whose replica modes show
  what the volume's robustness says;
- eviction of disks with evictionRequested and scheduling disabled, a few replicas per tick;
- the priority-class setting applied to system-managed components: at once up to Longhorn 1.5
  (the validator only lets it change with every volume detached), deferred while volumes are
  attached from 1.6; `Setting.status.applied` written from 1.7 only (facts §17.3);
- the storage network's whereabouts pool, with an allocation per instance-manager pod.

A Longhorn Node, Volume or component annotated with the fault annotation models a stuck manager
for that object (see longhorn_faults).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.utils import parse_quantity

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.areas import csi_provisioner as csi
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.areas.longhorn_settings import engine_value
from harvester_conformance.emulator.faults import fault_of
from harvester_conformance.emulator.simulator.workers import each

log = logging.getLogger("longhorn-manager")
EVICTIONS_PER_TICK = 5


@dataclass
class Disk:
    node: str
    name: str
    uuid: str
    path: str
    maximum: int
    reserved: int
    allow: bool
    evicting: bool
    node_ok: bool
    stuck: bool
    replicas: dict[str, int] = field(default_factory=dict)
    usage: int = 0

    @property
    def scheduled(self) -> int:
        return sum(self.replicas.values())

    def fits(self, size: int, over_pct: int) -> bool:
        room = (self.maximum - self.reserved) * over_pct // 100
        return self.node_ok and self.allow and not self.evicting and self.scheduled + size <= room


def _value(settings: dict[str, dict], name: str, default: str = "") -> str:
    obj = settings.get(name)
    return str(obj.get("value", default)) if obj else default


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def _node_ready(node: dict) -> bool:
    conds = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _deleting(obj: dict) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def _stored(obj: dict) -> bool:
    """Created already (a replica placed this tick is a body until its volume's worker creates it)."""
    return bool((obj.get("metadata") or {}).get("resourceVersion"))


def _instance_manager_pods(pods: list[dict]) -> list[dict]:
    """The instance-manager pods not already on their way out."""
    return [
        p
        for p in pods
        if p["metadata"]["namespace"] == M.NS
        and (p["metadata"].get("labels") or {}).get("longhorn.io/component") == "instance-manager"
        and not _deleting(p)
    ]


class LonghornManager:
    def __init__(self, cluster: Cluster, state_dir: Path | None = None) -> None:
        self.cl = cluster
        self.longhorn = ""
        self.harvester = ""

    # -- entry point ------------------------------------------------------------------------
    def reconcile(self) -> None:
        cl = self.cl
        settings = {s["metadata"]["name"]: s for s in cl.list(R.LONGHORN_SETTINGS, M.NS)}
        if "current-longhorn-version" not in settings:  # not seeded yet: the version decides the layout
            return
        self.longhorn = _value(settings, "current-longhorn-version")
        self.harvester = str((cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value") or "")
        k8s_nodes = {n["metadata"]["name"]: n for n in cl.list(R.NODES)}
        lh_nodes = {n["metadata"]["name"]: n for n in cl.list(R.LONGHORN_NODES, M.NS)}
        self._register_nodes(k8s_nodes, lh_nodes, settings)
        pods = cl.list(R.PODS)
        replicas = cl.list(R.LONGHORN_REPLICAS, M.NS)
        disks = self._disks(lh_nodes, k8s_nodes, replicas)
        volumes = self._provision(settings, disks, replicas)
        self._volumes(volumes, replicas, pods, disks, settings)
        self._node_status(lh_nodes, k8s_nodes, disks, settings)
        self._instance_managers(lh_nodes, k8s_nodes, pods, replicas, settings)
        self._priority_class(settings, volumes, pods)
        self._settings_applied(settings)
        self._storage_network_pool(pods)

    # -- nodes ------------------------------------------------------------------------------
    def _register_nodes(self, k8s_nodes: dict, lh_nodes: dict, settings: dict) -> None:
        """longhorn-manager's pod on a new node registers it with a default disk (facts §6)."""
        pct = M.reserved_percentage({k: _value(settings, k) for k in settings})
        for index, name in enumerate(sorted(k8s_nodes)):
            if name in lh_nodes:
                continue
            try:
                lh_nodes[name] = self.cl.create(
                    R.LONGHORN_NODES, M.longhorn_node(name, index, pct, self.longhorn), M.NS
                )
                log.info("registered Longhorn node %s", name)
            except ApiError as exc:
                if exc.status != 409:
                    raise

    def _disks(self, lh_nodes: dict, k8s_nodes: dict, replicas: list[dict]) -> dict[tuple[str, str], Disk]:
        """Every disk keyed by (node, disk UUID), with the replicas placed on it."""
        disks: dict[tuple[str, str], Disk] = {}
        for index, (name, node) in enumerate(sorted(lh_nodes.items())):
            spec = node.get("spec") or {}
            status_disks = (node.get("status") or {}).get("diskStatus") or {}
            k8s = k8s_nodes.get(name)
            node_ok = bool(spec.get("allowScheduling", True)) and k8s is not None and _node_ready(k8s)
            node_evicting = bool(spec.get("evictionRequested")) and not spec.get("allowScheduling", True)
            for dname, d in (spec.get("disks") or {}).items():
                duuid = (status_disks.get(dname) or {}).get("diskUUID") or M.disk_uuid(name, dname)
                maximum = (status_disks.get(dname) or {}).get("storageMaximum") or M.disk_maximum(name, dname, index)
                disks[(name, duuid)] = Disk(
                    node=name,
                    name=dname,
                    uuid=duuid,
                    path=d.get("path", ""),
                    maximum=int(maximum),
                    reserved=int(d.get("storageReserved") or 0),
                    allow=bool(d.get("allowScheduling", True)),
                    evicting=node_evicting or (bool(d.get("evictionRequested")) and not d.get("allowScheduling")),
                    node_ok=node_ok,
                    stuck=fault_of(node) == M.EVICTION_STUCK,
                    usage=M.disk_base_usage(dname),
                )
        for r in replicas:
            spec = r.get("spec") or {}
            disk = disks.get((spec.get("nodeID", ""), spec.get("diskID", "")))
            if disk is not None:
                size = _int(spec.get("volumeSize"), 0)
                disk.replicas[r["metadata"]["name"]] = size
                disk.usage += size // 8
        return disks

    def _node_status(self, lh_nodes: dict, k8s_nodes: dict, disks: dict, settings: dict) -> None:
        minimal = _int(_value(settings, "storage-minimal-available-percentage", "25"), 25)
        for name, node in lh_nodes.items():
            old = node.get("status") or {}
            old_disks = old.get("diskStatus") or {}
            disk_status = {}
            for disk in (d for d in disks.values() if d.node == name):
                prev = (old_disks.get(disk.name) or {}).get("conditions")
                available = max(disk.maximum - disk.usage, 0)
                pressure = disk.reserved >= disk.maximum or available <= disk.maximum * minimal // 100
                entry: dict[str, Any] = {
                    "conditions": [
                        M.condition(prev, "Ready", "True"),
                        M.condition(
                            prev,
                            "Schedulable",
                            "False" if pressure else "True",
                            "DiskPressure" if pressure else "",
                            "the disk has no room left above its reservation" if pressure else "",
                        ),
                    ],
                    "storageAvailable": available,
                    "storageScheduled": disk.scheduled,
                    "storageMaximum": disk.maximum,
                    "scheduledReplica": dict(sorted(disk.replicas.items())),
                    "diskUUID": disk.uuid,
                    **M.disk_status_fields(self.longhorn, disk.name, disk.path, self._im_name(name, "replica")),
                }
                collected = (old_disks.get(disk.name) or {}).get("healthDataLastCollectedAt")
                if collected and "healthDataLastCollectedAt" in entry:  # collected once, not every tick
                    entry["healthDataLastCollectedAt"] = collected
                disk_status[disk.name] = entry
            k8s = k8s_nodes.get(name)
            conds = old.get("conditions")
            if k8s is None:
                ready = M.condition(conds, "Ready", "False", "KubernetesNodeGone", f"Kubernetes node {name} is gone")
            elif not _node_ready(k8s):
                ready = M.condition(conds, "Ready", "False", "KubernetesNodeNotReady", f"node {name} is not ready")
            else:
                ready = M.condition(conds, "Ready", "True")
            sched = "True" if k8s is not None and (node.get("spec") or {}).get("allowScheduling", True) else "False"
            status = {
                **{k: v for k, v in old.items() if k != "autoEvicting"},
                "conditions": [
                    ready,
                    M.condition(conds, "Schedulable", sched),
                    M.condition(conds, "MountPropagation", "True"),
                ],
                "diskStatus": disk_status,
                "region": old.get("region", ""),
                "zone": old.get("zone", ""),
                **M.node_status_fields(self.longhorn),
            }
            if status != old:
                self._write_status(R.LONGHORN_NODES, node, status)

    # -- CSI provisioning ---------------------------------------------------------------------
    def _provision(self, settings: dict, disks: dict, replicas: list[dict]) -> list[dict]:
        cl = self.cl
        pvs = csi.driver_pvs(cl, M.DRIVER)
        pvcs = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in cl.list(R.PVCS)}
        for pvc, sc in csi.unprovisioned(list(pvcs.values()), csi.classes_of(cl, M.DRIVER), pvs):
            attrs = dict(sc.get("parameters") or {})
            created = csi.create_pv(cl, csi.pre_bound_pv(pvc, sc, M.DRIVER, attrs, attrs.get("fsType", "ext4")))
            if created is not None:
                pvs[created["metadata"]["name"]] = created
        csi.delete_released(cl, pvs)
        volumes = {v["metadata"]["name"]: v for v in cl.list(R.LONGHORN_VOLUMES, M.NS)}
        for name, vol in list(volumes.items()):
            pv_name = ((vol.get("status") or {}).get("kubernetesStatus") or {}).get("pvName")
            if pv_name and pv_name not in pvs and not _deleting(vol):
                for r in [r for r in replicas if (r.get("spec") or {}).get("volumeName") == name]:
                    cl.delete(R.LONGHORN_REPLICAS, r["metadata"]["name"], M.NS)
                    replicas.remove(r)
                    for disk in disks.values():
                        disk.replicas.pop(r["metadata"]["name"], None)
                cl.delete(R.LONGHORN_VOLUMES, name, M.NS)
                del volumes[name]
        for name, pv in pvs.items():
            if name in volumes or (pv.get("status") or {}).get("phase") == "Released":
                continue
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            pvc = pvcs.get((ref.get("namespace", ""), ref.get("name", "")))
            try:
                volumes[name] = self._create_volume(name, pv, pvc, settings)
            except ApiError as exc:
                if exc.status != 409:
                    raise
        return list(volumes.values())

    def _create_volume(self, name: str, pv: dict, pvc: dict | None, settings: dict) -> dict:
        spec = pv.get("spec") or {}
        attrs = (spec.get("csi") or {}).get("volumeAttributes") or {}
        size = int(parse_quantity((spec.get("capacity") or {}).get("storage", "1Gi")))
        default_count = engine_value(_value(settings, "default-replica-count", "3"))  # the v1 engine's (1.10+ JSON)
        replicas = _int(attrs.get("numberOfReplicas"), _int(default_count, 3))
        image = M.engine_image(self.longhorn)
        rwx = "ReadWriteMany" in (spec.get("accessModes") or [])
        vspec: dict[str, Any] = {
            "size": str(size),
            "numberOfReplicas": replicas,
            "dataLocality": attrs.get("dataLocality") or _value(settings, "default-data-locality", "disabled"),
            "accessMode": "rwx" if rwx else "rwo",
            "frontend": "blockdev",
            # LM csi/util.go: a migratable class gives an RWO volume a non-migratable one.
            "migratable": attrs.get("migratable") == "true" and rwx,
            "staleReplicaTimeout": _int(attrs.get("staleReplicaTimeout"), 30),
            "fromBackup": "",
            "nodeID": "",
            "encrypted": False,
        }
        vspec["image" if M.version(self.longhorn) >= (1, 5, 0) else "engineImage"] = image
        if M.version(self.longhorn) >= (1, 6, 0):
            vspec["dataEngine"] = "v1"
        if M.version(self.longhorn) >= (1, 8, 0):  # the volume mutator's default target (LM v1.8.1)
            vspec["backupTargetName"] = "default"
        body = {
            "apiVersion": "longhorn.io/v1beta2",
            "kind": "Volume",
            "metadata": {"name": name, "namespace": M.NS, "labels": {"longhornvolume": name}},
            "spec": vspec,
        }
        vol = self.cl.create(R.LONGHORN_VOLUMES, body, M.NS)
        ks = {"pvName": name, "pvStatus": "Bound", "namespace": "", "pvcName": "", "workloadsStatus": []}
        if pvc is not None:
            ks.update({"namespace": pvc["metadata"]["namespace"], "pvcName": pvc["metadata"]["name"]})
        vol["status"] = {
            "state": "creating",
            "robustness": "unknown",
            "kubernetesStatus": ks,
            "actualSize": 0,
            "currentImage": image,
        }
        return vol  # the status above is written once, merged into the one _volume_status writes this tick

    # -- volumes and replicas -----------------------------------------------------------------
    def _volumes(
        self, volumes: list[dict], replicas: list[dict], pods: list[dict], disks: dict, settings: dict
    ) -> None:
        over = _int(_value(settings, "storage-over-provisioning-percentage", "100"), 100)
        by_volume: dict[str, list[dict]] = {}
        for r in replicas:
            by_volume.setdefault((r.get("spec") or {}).get("volumeName", ""), []).append(r)
        users = self._users(pods)
        budget = [EVICTIONS_PER_TICK]
        engines = {e["metadata"]["name"]: e for e in self.cl.list(R.LONGHORN_ENGINES, M.NS)}
        placed: list[tuple[dict, list[dict], dict | None, int]] = []
        for vol in volumes:  # one at a time: placing a replica takes from a disk the next one sees
            if _deleting(vol) or fault_of(vol) == M.MANAGER_STUCK:
                continue
            name = vol["metadata"]["name"]
            reps = by_volume.get(name, [])
            ks = (vol.get("status") or {}).get("kubernetesStatus") or {}
            pod = users.get((ks.get("namespace", ""), ks.get("pvcName", "")))
            size = _int((vol.get("spec") or {}).get("size"), 0)
            reps = self._replica_set(vol, reps, disks, size, over)
            self._evict(reps, disks, size, over, budget)
            placed.append((vol, reps, pod, size))

        def report(item: tuple[dict, list[dict], dict | None, int]) -> None:
            vol, reps, pod, size = item  # this volume's own objects only: on the workers
            reps = self._created(reps)
            self._volume_status(vol, reps, pod, size)
            self._engine(vol, reps, pod, engines.get(M.engine_name(vol["metadata"]["name"])))

        each(self.cl, report, placed)

    def _engine(self, vol: dict, reps: list[dict], pod: dict | None, engine: dict | None) -> None:
        """The volume's engine: created with the volume, running where it is attached, one mode per
        replica (ERR for a failed one)."""
        name = vol["metadata"]["name"]
        node = (pod or {}).get("spec", {}).get("nodeName", "") if pod is not None else ""
        spec = M.engine_spec(vol, self.longhorn, node, reps)
        if engine is None:
            owner = {"apiVersion": "longhorn.io/v1beta2", "kind": "Volume", "name": name, "uid": vol["metadata"]["uid"]}
            body = {
                "apiVersion": "longhorn.io/v1beta2",
                "kind": "Engine",
                "metadata": {
                    "name": M.engine_name(name),
                    "namespace": M.NS,
                    "labels": {"longhornvolume": name},
                    "ownerReferences": [owner],
                },
                "spec": spec,
            }
            try:
                engine = self.cl.create(R.LONGHORN_ENGINES, body, M.NS)
            except ApiError as exc:
                if exc.status != 409:
                    raise
                return
        elif engine.get("spec") != {**(engine.get("spec") or {}), **spec}:
            engine = self._replace(R.LONGHORN_ENGINES, {**engine, "spec": {**(engine.get("spec") or {}), **spec}})
            if engine is None:
                return
        old = engine.get("status") or {}
        status = M.engine_status(old, name, self.longhorn, node, self._im_name(node, "engine") if node else "", reps)
        if status != old:
            self._write_status(R.LONGHORN_ENGINES, engine, status)

    def _users(self, pods: list[dict]) -> dict[tuple[str, str], dict]:
        """(namespace, claim) -> the running pod that uses it: the volume is attached to its node.

        A running VMI counts as its launcher pod (which mounts the VMI's claims upstream), so
        that attachment holds even where a launcher pod does not list the claim itself."""
        users: dict[tuple[str, str], dict] = {}
        running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running" and not _deleting(p)]
        for pod in running:
            for v in (pod.get("spec") or {}).get("volumes") or []:
                claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
                if claim:
                    users.setdefault((pod["metadata"]["namespace"], claim), pod)
        try:
            vmis = self.cl.list(R.VMIS)
        except ApiError:
            return users
        launchers = {(p["metadata"].get("labels") or {}).get("kubevirt.io/created-by"): p for p in running}
        for vmi in vmis:
            st = vmi.get("status") or {}
            if st.get("phase") != "Running" or not st.get("nodeName"):
                continue
            meta = vmi["metadata"]
            launcher = launchers.get(meta.get("uid"))
            stand_in = {
                "metadata": {
                    "name": launcher["metadata"]["name"] if launcher else "",
                    "ownerReferences": [{"kind": "VirtualMachineInstance", "name": meta["name"]}],
                },
                "spec": {"nodeName": launcher["spec"].get("nodeName") if launcher else st["nodeName"]},
            }
            for v in (vmi.get("spec") or {}).get("volumes") or []:
                claim = (v.get("persistentVolumeClaim") or {}).get("claimName") or (v.get("dataVolume") or {}).get(
                    "name"
                )
                if claim:
                    users.setdefault((meta["namespace"], claim), stand_in)
        return users

    def _replica_set(self, vol: dict, reps: list[dict], disks: dict, size: int, over: int) -> list[dict]:
        """Rebuild failed replicas and schedule missing ones on nodes without one of this volume."""
        want = _int((vol.get("spec") or {}).get("numberOfReplicas"), 3)
        for i, r in enumerate(reps):
            if (r.get("spec") or {}).get("failedAt"):
                rebuilt = {**r, "spec": {**r["spec"], "failedAt": "", "healthyAt": clock.stamp()}}
                reps[i] = self._replace(R.LONGHORN_REPLICAS, rebuilt) or rebuilt
        while len(reps) > want:
            extra = reps.pop()
            self.cl.delete(R.LONGHORN_REPLICAS, extra["metadata"]["name"], M.NS)
            for disk in disks.values():
                disk.replicas.pop(extra["metadata"]["name"], None)
        while len(reps) < want:
            used = {(r.get("spec") or {}).get("nodeID") for r in reps}
            target = self._pick_disk(disks, used, size, over)
            if target is None:
                break
            reps.append(self._place_replica(vol, target, size))
        return reps

    @staticmethod
    def _pick_disk(disks: dict, avoid_nodes: set, size: int, over: int) -> Disk | None:
        candidates = [d for d in disks.values() if d.node not in avoid_nodes and d.fits(size, over)]
        if not candidates:
            return None
        per_node: dict[str, int] = {}
        for d in disks.values():
            per_node[d.node] = per_node.get(d.node, 0) + d.scheduled
        return min(candidates, key=lambda d: (per_node[d.node], d.scheduled, d.node, d.name))

    def _place_replica(self, vol: dict, disk: Disk, size: int) -> dict:
        """A new replica of `vol` on `disk`, counted against the disk at once (the next volume's
        placement sees it); its body is created by the volume's worker (`_created`)."""
        vname = vol["metadata"]["name"]
        rname = f"{vname}-r-{M.hexdigest(vname, disk.node, disk.uuid, clock.stamp())}"
        image = M.engine_image(self.longhorn)
        spec: dict[str, Any] = {
            "volumeName": vname,
            "volumeSize": str(size),
            "nodeID": disk.node,
            "diskID": disk.uuid,
            "diskPath": disk.path,
            "dataDirectoryName": f"{vname}-{M.hexdigest(rname)}",
            "engineName": f"{vname}-e-0",
            "active": True,
            "desireState": "stopped",
            "failedAt": "",
            "healthyAt": clock.stamp(),
            "hardNodeAffinity": "",
            "rebuildRetryCount": 0,
        }
        spec["image" if M.version(self.longhorn) >= (1, 5, 0) else "engineImage"] = image
        body = {
            "apiVersion": "longhorn.io/v1beta2",
            "kind": "Replica",
            "metadata": {
                "name": rname,
                "namespace": M.NS,
                "labels": {"longhornvolume": vname, "longhornnode": disk.node, "longhorndiskuuid": disk.uuid},
                "ownerReferences": [
                    {
                        "apiVersion": "longhorn.io/v1beta2",
                        "kind": "Volume",
                        "name": vname,
                        "uid": vol["metadata"]["uid"],
                    }
                ],
            },
            "spec": spec,
        }
        disk.replicas[rname] = size
        disk.usage += size // 8
        return body

    def _created(self, reps: list[dict]) -> list[dict]:
        """The volume's replicas with those placed this tick created; a new one's status is written
        once, by `_volume_status` right after."""
        return [r if _stored(r) else self.cl.create(R.LONGHORN_REPLICAS, r, M.NS) for r in reps]

    def _evict(self, reps: list[dict], disks: dict, size: int, over: int, budget: list[int]) -> None:
        """Move replicas off disks that request eviction and no longer allow scheduling (facts §9)."""
        for i, r in enumerate(reps):
            if budget[0] <= 0:
                return
            spec = r.get("spec") or {}
            source = disks.get((spec.get("nodeID", ""), spec.get("diskID", "")))
            if source is None or not source.evicting or source.stuck or not _stored(r):
                continue
            others = {(o.get("spec") or {}).get("nodeID") for j, o in enumerate(reps) if j != i}
            target = self._pick_disk(disks, others, size, over)
            if target is None:
                continue
            rname = r["metadata"]["name"]
            labels = {
                **(r["metadata"].get("labels") or {}),
                "longhornnode": target.node,
                "longhorndiskuuid": target.uuid,
            }
            moved = {
                **r,
                "metadata": {**r["metadata"], "labels": labels},
                "spec": {**spec, "nodeID": target.node, "diskID": target.uuid, "diskPath": target.path},
            }
            updated = self._replace(R.LONGHORN_REPLICAS, moved)
            if updated is None:
                continue
            reps[i] = updated  # what the volume's status and engine are written from, later this tick
            source.replicas.pop(rname, None)
            source.usage -= size // 8
            target.replicas[rname] = size
            target.usage += size // 8
            budget[0] -= 1
            log.info(
                "evicted replica %s from %s/%s to %s/%s", rname, source.node, source.name, target.node, target.name
            )

    def _volume_status(self, vol: dict, reps: list[dict], pod: dict | None, size: int) -> None:
        want = _int((vol.get("spec") or {}).get("numberOfReplicas"), 3)
        attached = pod is not None
        node = (pod or {}).get("spec", {}).get("nodeName", "") if attached else ""
        healthy = 0
        for r in reps:
            rs = r.get("status") or {}
            failed = bool((r.get("spec") or {}).get("failedAt"))  # the manager's record, not the status
            state = "error" if failed else ("running" if attached else "stopped")
            healthy += 0 if failed else 1
            im = ""
            if state == "running":
                im = self._im_name((r.get("spec") or {}).get("nodeID", ""), "replica")
            new = {
                **rs,
                "currentState": state,
                "ownerID": (r.get("spec") or {}).get("nodeID", ""),
                "instanceManagerName": im,
                "currentImage": M.engine_image(self.longhorn),
                "started": state == "running",
            }
            if new != rs:
                self._write_status(R.LONGHORN_REPLICAS, r, new)
        old = vol.get("status") or {}
        if not attached:
            robustness = "unknown"
        elif healthy == 0:
            robustness = "faulted"
        elif healthy < want:
            robustness = "degraded"
        else:
            robustness = "healthy"
        ks = dict(old.get("kubernetesStatus") or {})
        ks["pvStatus"] = "Bound"
        if attached:
            owner = next(iter((pod.get("metadata") or {}).get("ownerReferences") or []), {})
            ks["workloadsStatus"] = [
                {
                    "podName": pod["metadata"]["name"],
                    "podStatus": "Running",
                    "workloadName": owner.get("name", ""),
                    "workloadType": owner.get("kind", ""),
                }
            ]
            ks["lastPodRefAt"] = ""
        else:
            ks["workloadsStatus"] = ks.get("workloadsStatus") or []
        conds = old.get("conditions")
        scheduled = len(reps) >= want
        status = {
            **old,
            "state": "attached" if attached else "detached",
            "robustness": robustness,
            "currentNodeID": node,
            "ownerID": node or (reps[0]["spec"]["nodeID"] if reps else ""),
            "currentImage": M.engine_image(self.longhorn),
            "actualSize": size // 8,
            "frontendDisabled": False,
            "kubernetesStatus": ks,
            "conditions": [
                M.condition(
                    conds,
                    "Scheduled",
                    "True" if scheduled else "False",
                    "" if scheduled else "ReplicaSchedulingFailure",
                    "" if scheduled else "not enough schedulable disks for the replicas",
                ),
                M.condition(conds, "Restore", "False"),
                M.condition(conds, "TooManySnapshots", "False"),
            ],
        }
        if robustness == "degraded" and old.get("robustness") != "degraded":
            status["lastDegradedAt"] = clock.stamp()
        if status != old:
            self._write_status(R.LONGHORN_VOLUMES, vol, status)

    def _im_name(self, node: str, kind: str) -> str:
        for name, im_type in M.instance_manager_pods(node, self.longhorn):
            if im_type in (kind, "aio"):
                return name
        return ""

    # -- instance managers and priority class (facts §8) ---------------------------------------
    def _instance_managers(
        self, lh_nodes: dict, k8s_nodes: dict, pods: list[dict], replicas: list[dict], settings: dict
    ) -> None:
        present = {p["metadata"]["name"] for p in pods if p["metadata"]["namespace"] == M.NS}
        # The instance manager controller creates its pods with the setting's value (LM
        # instance_manager_controller.go), applied or not.
        if "priority-class" not in settings:
            # A real install writes the chart's settings before longhorn-manager starts; creating
            # instance managers earlier would bake in no class, kept from 1.6 while volumes attach.
            return
        priority = _value(settings, "priority-class")
        wanted: set[str] = set()
        for node in lh_nodes:
            if node not in k8s_nodes:
                continue
            for name, im_type in M.instance_manager_pods(node, self.longhorn):
                wanted.add(name)
                if name not in present:
                    create_instance_manager(self.cl, name, im_type, node, self.longhorn, priority)
        self._retire_instance_managers(wanted, pods, replicas)

    def _retire_instance_managers(self, wanted: set[str], pods: list[dict], replicas: list[dict]) -> None:
        """Longhorn removes instance managers of another version once no instance runs on them, so a
        version that came and went (an upgrade rolled forward) leaves no engine/replica managers behind.
        Replicas are the only instances modelled; their status as listed this tick (a replica moved
        over by this tick's `_volumes` frees its old manager on the next one)."""
        in_use = {(r.get("status") or {}).get("instanceManagerName", "") for r in replicas}
        for p in _instance_manager_pods(pods):
            name = p["metadata"]["name"]
            if name not in wanted and name not in in_use:
                self.cl.delete(R.LONGHORN_INSTANCE_MANAGERS, name, M.NS)
                self.cl.delete(R.PODS, name, M.NS)
                log.info("retired instance manager %s (not of Longhorn %s)", name, self.longhorn)

    def _priority_class(self, settings: dict, volumes: list[dict], pods: list[dict]) -> None:
        """LM setting_controller.go updatePriorityClass: bring the system-managed workloads and the
        instance-manager pods to the setting's class. Up to 1.5 at once (v1.4.3 checks nothing: the
        validator already refused a change with volumes attached); from 1.6 deferred while any
        volume is not detached, the setting then not applied (status.applied false from 1.7)."""
        setting = settings.get("priority-class")
        if setting is None:
            return
        want = str(setting.get("value", ""))
        workloads = [
            (R.DEPLOYMENTS, d) for d in self.cl.list(R.DEPLOYMENTS, M.NS, "longhorn.io/managed-by=longhorn-manager")
        ]
        workloads += [
            (R.DAEMONSETS, d) for d in self.cl.list(R.DAEMONSETS, M.NS, "longhorn.io/managed-by=longhorn-manager")
        ]
        drift = [
            (res, w)
            for res, w in workloads
            if fault_of(w) != M.PRIORITY_STUCK
            and (w["spec"]["template"].get("spec") or {}).get("priorityClassName", "") != want
        ]
        ims = [p for p in _instance_manager_pods(pods) if (p.get("spec") or {}).get("priorityClassName", "") != want]
        if not drift and not ims:
            self._set_applied(setting, True)
            return
        if not M.priority_refused_while_attached(self.longhorn) and fault_of(setting) != M.PRIORITY_NOT_DEFERRED:
            busy = [v["metadata"]["name"] for v in volumes if (v.get("status") or {}).get("state") != "detached"]
            if busy:
                if (setting.get("status") or {}).get("applied") is not False:
                    log.warning("%s. It will be eventually applied (%d not detached)", M.PRIORITY_REFUSED, len(busy))
                self._set_applied(setting, False)
                return
        for res, w in drift:
            self.cl.patch(
                res, w["metadata"]["name"], {"spec": {"template": {"spec": {"priorityClassName": want or None}}}}, M.NS
            )
        for p in ims:  # pods cannot change priority: recreated on the next tick
            self.cl.delete(R.PODS, p["metadata"]["name"], M.NS)
        log.info("applied priority class %r to %d workloads and %d instance managers", want, len(drift), len(ims))
        self._set_applied(setting, True)

    def _set_applied(self, setting: dict, applied: bool) -> None:
        """`status.applied` as the 1.7+ setting controller writes it after each sync; never before 1.7."""
        if not M.setting_status_applied(self.longhorn):
            return
        if (setting.get("status") or {}).get("applied") is not applied:
            self._write_status(R.LONGHORN_SETTINGS, setting, {"applied": applied})

    def _settings_applied(self, settings: dict) -> None:
        """From 1.7 every setting the controller synced reads applied (priority-class is handled above)."""
        for name, setting in settings.items():
            if name != "priority-class":
                self._set_applied(setting, True)

    def _storage_network_pool(self, pods: list[dict]) -> None:
        """whereabouts' pool of the storage network: an address per instance-manager pod that carries
        the storage network (Longhorn's `lhnet1`), released when the pod goes."""
        users = [
            f"{p['metadata']['namespace']}/{p['metadata']['name']}"
            for p in _instance_manager_pods(pods)
            if M.STORAGE_IFNAME in (p["metadata"].get("annotations") or {}).get("k8s.v1.cni.cncf.io/networks", "")
        ]
        name = M.whereabouts_pool_name(str(M.STORAGE_NETWORK["range"]))
        try:
            pool = self.cl.get(M.WHEREABOUTS_POOLS, name, M.WHEREABOUTS_NS)
        except ApiError:
            return  # the CRD is not installed
        existing = ((pool or {}).get("spec") or {}).get("allocations") or {}
        allocations = M.pool_allocations(existing, users, M.whereabouts_has_ifname(self.harvester))
        if pool is None:
            try:
                self.cl.create(M.WHEREABOUTS_POOLS, M.whereabouts_pool(allocations), M.WHEREABOUTS_NS)
            except ApiError as exc:
                if exc.status != 409:
                    raise
        elif allocations != existing:
            pool["spec"]["allocations"] = allocations
            self._replace(M.WHEREABOUTS_POOLS, pool)

    # -- writes with optimistic concurrency ------------------------------------------------------
    def _write_status(self, res: Any, obj: dict, status: dict) -> dict | None:
        body = {**obj, "status": status}
        try:
            return self.cl.replace(res, body, sub="status")
        except ApiError as exc:
            if exc.status in (404, 409):  # changed or gone since listed: the next tick sees it
                return None
            raise

    def _replace(self, res: Any, obj: dict) -> dict | None:
        try:
            return self.cl.replace(res, obj)
        except ApiError as exc:
            if exc.status in (404, 409):
                return None
            raise


def create_instance_manager(cl: Cluster, name: str, im_type: str, node: str, longhorn: str, priority: str) -> None:
    """An instance-manager pod pinned to its node plus its InstanceManager object (facts §8)."""
    try:
        cl.create(R.PODS, M.instance_manager_pod(name, im_type, node, longhorn, priority), M.NS)
    except ApiError as exc:
        if exc.status != 409:
            raise
    im = {
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "InstanceManager",
        "metadata": {"name": name, "namespace": M.NS, "labels": {**M.IM_COMPONENT, "longhorn.io/node": node}},
        "spec": {"nodeID": node, "type": im_type, "image": f"longhornio/longhorn-instance-manager:{longhorn}"},
    }
    try:
        created = cl.create(R.LONGHORN_INSTANCE_MANAGERS, im, M.NS)
    except ApiError as exc:
        if exc.status != 409:
            raise
        return
    created["status"] = {"currentState": "running", "ownerID": node, "apiVersion": 4, "apiMinVersion": 1}
    try:
        cl.replace(R.LONGHORN_INSTANCE_MANAGERS, created, sub="status")
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise


def factory(cluster: Cluster, state_dir: Path) -> Any:
    return LonghornManager(cluster, state_dir).reconcile
