"""Area module (see areas/__init__.py): the state a Harvester cluster is left in after a shutdown
and restart (article 2024-07-22, checks/cluster_restart.py).

Seed: the embedded Rancher, `cattle-system/rancher`, as Rancher's chart renders it with the values
Harvester's rancherd passes (`replicas: -3`, `antiAffinity: required`; harvester/rancherd
`pkg/rancher/run.go`): the annotation `management.cattle.io/scale-available: "3"` and no
`spec.replicas` (rancher/rancher `chart/templates/deployment.yaml`), with its ServiceAccount.
Controller: Rancher's scale-available handler (rancher/rancher
`pkg/controllers/dashboard/scaleavailable`), which runs inside Rancher, so only while a rancher
replica is available: every Deployment whose annotation `strconv.Atoi` reads is kept at
min(value, nodes matching its nodeSelector), at least 1; "" or a non-number is left alone.

Fault RST-03: the article's shutdown steps never undone: the annotation blanked and `rancher` scaled
to 0. The revert is the article's section 5.4: the recorded "3" put back and `kubectl scale
--replicas=3`.

Fault RST-01: a pod in `harvester-system` left Failed. `kubectl debug node/<node> -n
harvester-system` (what an admin runs to inspect a node that came back badly) creates a bare pod
`node-debugger-<node>-<suffix>`: no owner, `restartPolicy: Never`, host namespaces, the host's
root mounted at /host, every taint tolerated (kubectl `pkg/cmd/debug` generateNodeDebugPod and its
"legacy" profile, kubectl v1.25 … v1.35). When its shell exits non-zero the kubelet records the
pod Failed, and nothing ever removes it: the pod garbage collector only starts on terminated pods
above 12,500 (`--terminated-pod-gc-threshold`). The emulated node's kubelet (kwok) runs the pod;
the fault then writes the status the kubelet writes for a container that exited with code 1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.faults import Fault
from harvester_conformance.waits import wait_for

NS = "harvester-system"
DEBUG_NODE = "harvester-node-1"
DEBUG_POD = f"node-debugger-{DEBUG_NODE}-x7k2p"
DEBUG_IMAGE = "docker.io/opensuse/leap:15.4"  # the toolbox article's base image

MANAGER = "harvester-emulator"
RANCHER_NS, RANCHER = "cattle-system", "rancher"
SCALE_AVAILABLE = "management.cattle.io/scale-available"
RANCHER_SCALE = "3"  # rancherd's replicas: -3
_ATOI = re.compile(r"[+-]?[0-9]+")


def rancher_deployment(tag: str) -> dict:
    """The chart's Deployment with Harvester's values (antiAffinity required, no ingress, hostPort 0)."""
    labels = {"app": RANCHER}
    return {
        "metadata": {
            "name": RANCHER,
            "namespace": RANCHER_NS,
            "labels": {**labels, "chart": f"rancher-{tag.lstrip('v')}", "heritage": "Helm", "release": RANCHER},
            "annotations": {SCALE_AVAILABLE: RANCHER_SCALE},
        },
        "spec": {
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {**labels, "release": RANCHER}},
                "spec": {
                    "serviceAccountName": RANCHER,
                    "affinity": {
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "labelSelector": {
                                        "matchExpressions": [{"key": "app", "operator": "In", "values": [RANCHER]}]
                                    },
                                    "topologyKey": "kubernetes.io/hostname",
                                }
                            ]
                        }
                    },
                    "containers": [
                        {
                            "name": RANCHER,
                            "image": f"rancher/rancher:{tag}",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "args": [
                                "--no-cacerts",
                                "--http-listen-port=80",
                                "--https-listen-port=443",
                                "--add-local=true",
                            ],
                            "env": [
                                {"name": "CATTLE_NAMESPACE", "value": RANCHER_NS},
                                {"name": "CATTLE_PEER_SERVICE", "value": RANCHER},
                                {"name": "CATTLE_SYSTEM_CATALOG", "value": "bundled"},
                            ],
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": 80},
                                "initialDelaySeconds": 5,
                                "periodSeconds": 30,
                            },
                        }
                    ],
                },
            },
        },
    }


def seed(cl: Cluster, spec: Any, state_dir: Path, progress: Any) -> None:
    cl.apply(R.NAMESPACES, {"metadata": {"name": RANCHER_NS}}, manager=MANAGER)
    cl.apply(R.SERVICE_ACCOUNTS, {"metadata": {"name": RANCHER, "namespace": RANCHER_NS}}, manager=MANAGER)
    cl.apply(R.DEPLOYMENTS, rancher_deployment(spec.rancher), manager=MANAGER)
    progress("embedded Rancher (cattle-system/rancher) seeded")


def scale_target(deployment: dict, nodes: list[dict]) -> int | None:
    """The replicas Rancher's scale-available handler sets, or None where it leaves the Deployment alone."""
    value = ((deployment.get("metadata") or {}).get("annotations") or {}).get(SCALE_AVAILABLE) or ""
    if not _ATOI.fullmatch(value):
        return None
    selector = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("nodeSelector") or {}
    matching = [n for n in nodes if all((n["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())]
    return min(int(value), len(matching)) or 1


def _rancher_available(cl: Cluster) -> bool:
    dep = cl.get(R.DEPLOYMENTS, RANCHER, RANCHER_NS)
    return bool(((dep or {}).get("status") or {}).get("availableReplicas"))


def scale_available_factory(cl: Cluster, state_dir: object) -> Any:
    def reconcile() -> None:
        if not _rancher_available(cl):
            return  # the handler runs in Rancher itself
        nodes = cl.list(R.NODES)
        for dep in cl.list(R.DEPLOYMENTS):
            want = scale_target(dep, nodes)
            if want is None or (dep.get("spec") or {}).get("replicas") == want:
                continue
            meta = dep["metadata"]
            try:
                cl.patch(R.DEPLOYMENTS, meta["name"], {"spec": {"replicas": want}}, meta["namespace"])
            except ApiError as exc:
                if exc.status not in (404, 409, 422):
                    raise

    return reconcile


CONTROLLERS = [("rancher-scale-available", scale_available_factory, 2.0)]
WEBHOOKS: list[dict] = []
API_GROUPS: list = []


def _rancher_settled(cl: Cluster) -> bool:
    dep = cl.get(R.DEPLOYMENTS, RANCHER, RANCHER_NS)
    if dep is None:
        return False
    want = scale_target(dep, cl.list(R.NODES))
    status = dep.get("status") or {}
    return want is not None and dep["spec"].get("replicas") == want == status.get("readyReplicas")


def ready(cl: Cluster, spec: Any) -> bool:
    """The embedded Rancher scaled itself to min(3, nodes) replicas, all ready."""
    return _rancher_settled(cl)


# -- RST-01 -----------------------------------------------------------------------------------------
def debug_pod(node: str, name: str) -> dict:
    """The pod `kubectl debug node/<node>` creates (legacy profile)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app.kubernetes.io/managed-by": "kubectl-debug"}},
        "spec": {
            "nodeName": node,
            "hostNetwork": True,
            "hostPID": True,
            "hostIPC": True,
            "restartPolicy": "Never",
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "debugger",
                    "image": DEBUG_IMAGE,
                    "stdin": True,
                    "tty": True,
                    "terminationMessagePolicy": "File",
                    "volumeMounts": [{"name": "host-root", "mountPath": "/host"}],
                }
            ],
            "volumes": [{"name": "host-root", "hostPath": {"path": "/", "type": ""}}],
        },
    }


def failed_status(pod: dict) -> dict:
    """The status the kubelet writes once the debugger's shell exited with code 1."""
    now = clock.stamp()
    status = pod.get("status") or {}
    started = ((status.get("containerStatuses") or [{}])[0].get("state") or {}).get("running", {}).get("startedAt")
    return {
        "phase": "Failed",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": status.get("startTime") or now},
            {"type": "Ready", "status": "False", "reason": "PodFailed", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "False", "reason": "PodFailed", "lastTransitionTime": now},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": status.get("startTime") or now},
        ],
        "containerStatuses": [
            {
                "name": "debugger",
                "image": DEBUG_IMAGE,
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {
                    "terminated": {"exitCode": 1, "reason": "Error", "startedAt": started or now, "finishedAt": now}
                },
            }
        ],
    }


def _phase(cl: Cluster) -> str | None:
    pod = cl.get(R.PODS, DEBUG_POD, NS)
    return None if pod is None else (pod.get("status") or {}).get("phase")


def _leave_debug_pod_failed(cl: Cluster) -> None:
    if cl.get(R.PODS, DEBUG_POD, NS) is None:
        cl.create(R.PODS, debug_pod(DEBUG_NODE, DEBUG_POD), NS)
    # The kubelet (kwok) starts it first; only then does its exit make it Failed.
    wait_for("cluster-seeded", lambda: _phase(cl) in ("Running", "Failed"))
    if _phase(cl) == "Running":
        pod = cl.get(R.PODS, DEBUG_POD, NS) or {}
        cl.patch(R.PODS, DEBUG_POD, {"status": failed_status(pod)}, NS, sub="status")
    wait_for("cluster-seeded", lambda: _phase(cl) == "Failed")


def _remove_debug_pod(cl: Cluster) -> None:
    try:
        cl.request("DELETE", R.PODS.path(NS, DEBUG_POD), body={"gracePeriodSeconds": 0})
    except ApiError as exc:
        if not exc.not_found:
            raise
    wait_for("object-deleted", lambda: cl.get(R.PODS, DEBUG_POD, NS) is None)


# -- RST-03 -----------------------------------------------------------------------------------------
def _rancher_scaled_down(cl: Cluster) -> None:
    patch = {"metadata": {"annotations": {SCALE_AVAILABLE: ""}}, "spec": {"replicas": 0}}
    cl.patch(R.DEPLOYMENTS, RANCHER, patch, RANCHER_NS)

    def down() -> bool:
        status = (cl.get(R.DEPLOYMENTS, RANCHER, RANCHER_NS) or {}).get("status") or {}
        return not status.get("readyReplicas") and not cl.list(R.PODS, RANCHER_NS, label_selector=f"app={RANCHER}")

    wait_for("object-deleted", down)


def _rancher_restored(cl: Cluster) -> None:
    patch = {"metadata": {"annotations": {SCALE_AVAILABLE: RANCHER_SCALE}}, "spec": {"replicas": int(RANCHER_SCALE)}}
    cl.patch(R.DEPLOYMENTS, RANCHER, patch, RANCHER_NS)
    wait_for("cluster-seeded", lambda: _rancher_settled(cl))


FAULTS: list[Fault] = [
    Fault(
        "RST-01",
        f"a `kubectl debug node/{DEBUG_NODE}` pod left Failed in {NS} (its shell exited with code 1; "
        "nothing removes a bare failed pod)",
        _leave_debug_pod_failed,
        _remove_debug_pod,
        objects=(f"Pod {NS}/{DEBUG_POD}",),
        creates=(f"Pod {NS}/{DEBUG_POD}",),
    ),
    Fault(
        "RST-03",
        f"the embedded Rancher left as the shutdown procedure leaves it: {SCALE_AVAILABLE} blanked and "
        f"{RANCHER_NS}/{RANCHER} scaled to 0, never restored after the restart",
        _rancher_scaled_down,
        _rancher_restored,
        objects=(f"Deployment {RANCHER_NS}/{RANCHER}",),
    ),
]

__all__ = ["API_GROUPS", "CONTROLLERS", "FAULTS", "WEBHOOKS", "ready", "seed"]
