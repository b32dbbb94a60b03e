"""Area module (see areas/__init__.py): Longhorn as Harvester installs it (facts.md §6-§9, §16).

Seeds the Longhorn settings, nodes and disks, storage and snapshot classes, the system-managed
components (real Deployments/DaemonSets and instance-manager pods, so that the control plane
creates, schedules and prioritises their pods) and the release's recurring backup; the simulated
longhorn-manager (longhorn_manager) provisions volumes for PVCs, tracks attachment, disk
accounting, eviction and the priority-class setting; longhorn_webhook validates settings and nodes;
longhorn_conversion converts Node, Volume, EngineImage and BackingImage between v1beta1 and v1beta2
(the CRDs' conversion webhook); longhorn_faults breaks it the way real clusters break.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import longhorn_conversion, longhorn_settings, longhorn_webhook
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.areas.harvester_hosts_rancher import TRIDENT_CLASS
from harvester_conformance.emulator.areas.longhorn_faults import FAULTS
from harvester_conformance.emulator.areas.longhorn_manager import create_instance_manager, factory
from harvester_conformance.emulator.seed import concurrently, grant_simulator, node_names
from harvester_conformance.emulator.simulator.informers import ON_CHANGE

CONTROLLERS: list[Any] = [("longhorn-manager", factory, 2.0, ON_CHANGE)]
WEBHOOKS: list[dict] = [
    longhorn_webhook.REGISTRATION,
    longhorn_webhook.NODE_REGISTRATION,
    longhorn_webhook.MUTATOR_REGISTRATION,
]
# The CRDs name this path in their conversion webhook (seed.to_simulator points them here).
CONVERSION_PATH = longhorn_conversion.PATH
# longhorn-manager keeps the storage network's whereabouts pool (the simulator's base rules lack the group).
WHEREABOUTS_RULES = [{"apiGroups": ["whereabouts.cni.cncf.io"], "resources": ["*"], "verbs": ["*"]}]
API_GROUPS: list = []
__all__ = ["CONTROLLERS", "FAULTS", "WEBHOOKS", "ready", "seed"]


def seed(cl: Cluster, spec: Any, state_dir: Path, progress: Any) -> None:
    grant_simulator(cl, "harvester-simulator-whereabouts", WHEREABOUTS_RULES)
    values = M.settings(spec.longhorn, spec.harvester)
    for name, value in longhorn_settings.stored_settings(spec.longhorn, spec.harvester).items():
        body = {"metadata": {"name": name, "namespace": M.NS}, "value": value}
        if name in M.SEEDED_ONCE:  # created when absent, never rewritten (see M.SEEDED_ONCE)
            try:
                cl.create(R.LONGHORN_SETTINGS, {"apiVersion": "longhorn.io/v1beta2", "kind": "Setting", **body}, M.NS)
            except ApiError as exc:
                if exc.status != 409:
                    raise
            continue
        cl.apply(R.LONGHORN_SETTINGS, body, manager=M.MANAGER)
    cl.apply(
        R.SERVICE_ACCOUNTS, {"metadata": {"name": "longhorn-service-account", "namespace": M.NS}}, manager=M.MANAGER
    )
    for sc in M.storage_classes():
        try:
            cl.apply(R.STORAGE_CLASSES, sc, manager=M.MANAGER)
        except ApiError as exc:  # parameters are immutable: another writer's differing copy wins
            progress(f"StorageClass {sc['metadata']['name']} kept as found: {exc.message}")
    for vsc in M.snapshot_classes():
        cl.apply(R.VOLUME_SNAPSHOT_CLASSES, vsc, manager=M.MANAGER)
    cl.apply(R.CSI_DRIVERS, M.csi_driver(), manager=M.MANAGER)
    ei = M.engine_image_name(spec.longhorn)
    cl.apply(
        R.LONGHORN_ENGINE_IMAGES,
        {"metadata": {"name": ei, "namespace": M.NS}, "spec": {"image": M.engine_image(spec.longhorn)}},
        manager=M.MANAGER,
    )
    nodes = node_names(spec)
    # The engine image controller's Ready condition once deployed (LM controller/engine_image_controller.go).
    old = ((cl.get(R.LONGHORN_ENGINE_IMAGES, ei, M.NS) or {}).get("status") or {}).get("conditions")
    deployed = f"Engine image {ei} ({M.engine_image(spec.longhorn)}) is fully deployed on all ready nodes"
    cl.apply(
        R.LONGHORN_ENGINE_IMAGES,
        {
            "metadata": {"name": ei, "namespace": M.NS},
            "status": {
                "conditions": [M.condition(old, "ready", "True", "", deployed)],
                "state": "deployed",
                "refCount": 0,
                "ownerID": nodes[0],
                "version": spec.longhorn,
                "nodeDeploymentMap": {n: True for n in nodes},
                "cliAPIVersion": 8,
                "cliAPIMinVersion": 3,
                "controllerAPIVersion": 4,
                "controllerAPIMinVersion": 3,
                "dataFormatVersion": 1,
                "dataFormatMinVersion": 1,
            },
        },
        manager=M.MANAGER,
        sub="status",
    )
    priority = values["priority-class"]
    deployments, daemonsets = M.components(spec.longhorn, priority, spec.harvester)
    for d in deployments:
        cl.apply(R.DEPLOYMENTS, d, manager=M.MANAGER)
    for d in daemonsets:
        cl.apply(R.DAEMONSETS, d, manager=M.MANAGER)
    pct = M.reserved_percentage(values)

    def register(item: tuple[int, str]) -> None:
        index, node = item
        try:
            cl.create(R.LONGHORN_NODES, M.longhorn_node(node, index, pct, spec.longhorn), M.NS)
        except ApiError as exc:
            if exc.status != 409:  # longhorn-manager registered it first
                raise
        for name, im_type in M.instance_manager_pods(node, spec.longhorn):
            create_instance_manager(cl, name, im_type, node, spec.longhorn, priority)

    concurrently(register, list(enumerate(nodes)))
    _seed_recurring_backup(cl, spec)
    _seed_image(cl, spec, nodes, progress)
    progress(f"Longhorn {spec.longhorn}: settings, {len(nodes)} nodes, components and classes seeded")


def _seed_recurring_backup(cl: Cluster, spec: Any) -> None:
    """Recurring backups as each release supports them (LHP-05): a Longhorn backup RecurringJob in
    group default before Harvester v1.4.0, a ScheduleVMBackup from v1.4.0 (Longhorn's recurring
    backup jobs are unsupported there, so none is kept)."""
    job = M.recurring_job()
    if M.version(spec.harvester) < M.SCHEDULES_FROM:
        cl.apply(R.LONGHORN_RECURRING_JOBS, job, manager=M.MANAGER)
        return
    cl.delete(R.LONGHORN_RECURRING_JOBS, job["metadata"]["name"], M.NS)
    vms = sorted(v["metadata"]["name"] for v in cl.list(R.VMS, M.IMAGE_NS))
    cl.apply(R.SCHEDULE_VM_BACKUPS, M.backup_schedule(vms[0] if vms else "vm-000"), manager=M.MANAGER)


def _seed_image(cl: Cluster, spec: Any, nodes: list[str], progress: Any) -> None:
    """The VM image, its StorageClass naming the backing image as Harvester derives the name, the
    BackingImage with a ready copy on each node's default disk, and those disks' managers."""
    image = cl.apply(R.VM_IMAGES, M.vm_image(), manager=M.MANAGER)
    backing = M.backing_image_name(spec.harvester, M.IMAGE_NS, M.IMAGE, image["metadata"]["uid"])
    try:
        cl.apply(R.STORAGE_CLASSES, M.image_storage_class(M.IMAGE, backing), manager=M.MANAGER)
    except ApiError as exc:  # parameters are immutable: a re-seed keeps the first one
        progress(f"StorageClass longhorn-{M.IMAGE} kept as found: {exc.message}")
        sc = cl.get(R.STORAGE_CLASSES, f"longhorn-{M.IMAGE}") or {}
        backing = (sc.get("parameters") or {}).get("backingImage", backing)
    disks = [(n, M.default_disk_name(n), M.disk_uuid(n, M.default_disk_name(n))) for n in nodes]
    body, status = M.backing_image(backing, spec.longhorn, [u for _, _, u in disks])
    _apply_with_status(cl, R.LONGHORN_BACKING_IMAGES, body, status)

    def manager(disk: tuple[str, str, str]) -> None:
        node, _, disk_uuid = disk
        bim, bim_status = M.backing_image_manager(
            spec.longhorn, node, disk_uuid, M.DEFAULT_DISK_PATH, {backing: status}
        )
        _apply_with_status(cl, M.BACKING_IMAGE_MANAGERS, bim, bim_status)

    concurrently(manager, disks)
    if M.version(spec.harvester) >= M.CDI_IMAGE_FROM:
        _seed_cdi_image(cl)


def _seed_cdi_image(cl: Cluster) -> None:
    """From v1.5.0 a second image, imported through CDI onto the vendor (Trident) class, so that the
    healthy profiles exercise the CDI image backend: the image, its DataVolume as CDI leaves it, and
    the DataVolume's claim (the Trident controller binds it once the class is seeded)."""
    image = cl.apply(R.VM_IMAGES, M.cdi_vm_image(TRIDENT_CLASS), manager=M.MANAGER)  # no status subresource
    body, status = M.cdi_data_volume(image["metadata"]["uid"], TRIDENT_CLASS)
    _apply_with_status(cl, R.DATA_VOLUMES, body, status)
    dv = cl.get(R.DATA_VOLUMES, M.CDI_IMAGE, M.IMAGE_NS) or {}
    cl.apply(R.PVCS, M.cdi_claim(dv["metadata"]["uid"], TRIDENT_CLASS), manager=M.MANAGER)


def _apply_with_status(cl: Cluster, res: Any, body: dict, status: dict) -> None:
    cl.apply(res, body, manager=M.MANAGER)
    cl.apply(res, {"metadata": body["metadata"], "status": status}, manager=M.MANAGER, sub="status")


def _claim_users(cl: Cluster) -> dict[tuple[str, str], str]:
    """(namespace, claim) -> node of every running pod's and running VMI's claims: where each volume
    must be attached (the same users longhorn-manager attaches for, pods first)."""
    out: dict[tuple[str, str], str] = {}
    for pod in cl.list(R.PODS):
        if (pod.get("status") or {}).get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
            continue
        for v in (pod.get("spec") or {}).get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                out.setdefault((pod["metadata"]["namespace"], claim), pod["spec"].get("nodeName", ""))
    for vmi in cl.list(R.VMIS):
        st = vmi.get("status") or {}
        if st.get("phase") != "Running" or not st.get("nodeName"):
            continue
        for v in (vmi.get("spec") or {}).get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName") or (v.get("dataVolume") or {}).get("name")
            if claim:
                out.setdefault((vmi["metadata"]["namespace"], claim), st["nodeName"])
    return out


def volumes_settled(pvcs: list[dict], classes: set[str], volumes: dict, engines: set[str], users: dict) -> bool:
    """Every claim of a Longhorn class has its volume and engine, attached (healthy, on the VMI's
    node) where a running VMI uses it, detached elsewhere: what `up` waits for before saying ready."""
    for pvc in pvcs:
        if (pvc.get("spec") or {}).get("storageClassName") not in classes:
            continue
        name = (pvc.get("spec") or {}).get("volumeName")
        vol = volumes.get(name or "")
        if vol is None or M.engine_name(name) not in engines:
            return False
        st = vol.get("status") or {}
        node = users.get((pvc["metadata"]["namespace"], pvc["metadata"]["name"]))
        if node is not None and (st.get("state"), st.get("robustness"), st.get("currentNodeID")) != (
            "attached",
            "healthy",
            node,
        ):
            return False
        if node is None and st.get("state") != "detached":
            return False
    return True


def ready(cl: Cluster, spec: Any) -> bool:
    """Longhorn nodes with disk status, managed components available, instance managers running,
    every seeded volume created with its engine, attached and healthy where its VM runs."""
    nodes = node_names(spec)
    lh_nodes = {n["metadata"]["name"]: n for n in cl.list(R.LONGHORN_NODES, M.NS)}
    if any(not (lh_nodes.get(n) or {}).get("status", {}).get("diskStatus") for n in nodes):
        return False
    for dep in cl.list(R.DEPLOYMENTS, M.NS, "longhorn.io/managed-by=longhorn-manager"):
        if (dep.get("status") or {}).get("availableReplicas") != dep["spec"].get("replicas", 1):
            return False
    running = {
        p["metadata"]["name"]
        for p in cl.list(R.PODS, M.NS, "longhorn.io/component=instance-manager")
        if (p.get("status") or {}).get("phase") == "Running"
    }
    if not all(name in running for n in nodes for name, _ in M.instance_manager_pods(n, spec.longhorn)):
        return False
    classes = {c["metadata"]["name"] for c in cl.list(R.STORAGE_CLASSES) if c.get("provisioner") == M.DRIVER}
    volumes = {v["metadata"]["name"]: v for v in cl.list(R.LONGHORN_VOLUMES, M.NS)}
    engines = {e["metadata"]["name"] for e in cl.list(R.LONGHORN_ENGINES, M.NS)}
    return volumes_settled(cl.list(R.PVCS), classes, volumes, engines, _claim_users(cl))
