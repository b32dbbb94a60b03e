"""Area module (see areas/__init__.py): Longhorn as Harvester installs it (facts.md §6-§9, §16).

Seeds the Longhorn settings, nodes and disks, storage and snapshot classes, the system-managed
components (real Deployments/DaemonSets and instance-manager pods, so that the control plane
creates, schedules and prioritises their pods) and a recurring backup job; the simulated
longhorn-manager (longhorn_manager) provisions volumes for PVCs, tracks attachment, disk
accounting, eviction and the priority-class setting; longhorn_webhook validates settings;
longhorn_faults breaks it the way real clusters break.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.areas import longhorn_webhook
from harvester_conformance.emulator.areas.longhorn_faults import FAULTS
from harvester_conformance.emulator.areas.longhorn_manager import create_instance_manager, factory
from harvester_conformance.emulator.seed import node_names

CONTROLLERS: list[Any] = [("longhorn-manager", factory, 2.0)]
WEBHOOKS: list[dict] = [longhorn_webhook.REGISTRATION]
API_GROUPS: list = []
__all__ = ["CONTROLLERS", "FAULTS", "WEBHOOKS", "ready", "seed"]


def seed(cl: Cluster, spec: Any, state_dir: Path, progress: Any) -> None:
    values = M.settings(spec.longhorn, spec.harvester)
    for name, value in values.items():
        cl.apply(
            R.LONGHORN_SETTINGS, {"metadata": {"name": name, "namespace": M.NS}, "value": value}, manager=M.MANAGER
        )
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
    cl.apply(
        R.LONGHORN_ENGINE_IMAGES,
        {
            "metadata": {"name": ei, "namespace": M.NS},
            "status": {
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
    deployments, daemonsets = M.components(spec.longhorn, priority)
    for d in deployments:
        cl.apply(R.DEPLOYMENTS, d, manager=M.MANAGER)
    for d in daemonsets:
        cl.apply(R.DAEMONSETS, d, manager=M.MANAGER)
    pct = M.reserved_percentage(values)
    for index, node in enumerate(nodes):
        try:
            cl.create(R.LONGHORN_NODES, M.longhorn_node(node, index, pct, spec.longhorn), M.NS)
        except ApiError as exc:
            if exc.status != 409:  # longhorn-manager registered it first
                raise
        for name, im_type in M.instance_manager_pods(node, spec.longhorn):
            create_instance_manager(cl, name, im_type, node, spec.longhorn, priority)
    cl.apply(R.LONGHORN_RECURRING_JOBS, M.recurring_job(), manager=M.MANAGER)
    image_sc, image = M.image_objects()
    cl.apply(R.STORAGE_CLASSES, image_sc, manager=M.MANAGER)
    cl.apply(R.VM_IMAGES, image, manager=M.MANAGER)
    progress(f"Longhorn {spec.longhorn}: settings, {len(nodes)} nodes, components and classes seeded")


def ready(cl: Cluster, spec: Any) -> bool:
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
    return all(name in running for n in nodes for name, _ in M.instance_manager_pods(n, spec.longhorn))
