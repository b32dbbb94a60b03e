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

RST-02 seed: the VIP as the installer leaves it: ConfigMap `harvester-system/vip` (keys of
harvester/harvester `pkg/controller/master/rancher/register.go` VIPConfig, decoded by mapstructure:
enabled, serviceType, ip, mode, hwAddress, loadBalancerIP; a static VIP here) and the Service
`kube-system/ingress-expose` that Harvester's rancher controller creates from it
(createIngressExposeService @v1.2.1 … v1.8.2: ports 443 "https-internal" and 80 "http" to the
rke2-ingress-nginx pods, LoadBalancer with `kube-vip.io/loadbalancerIPs` = the VIP, and
`kube-vip.io/ignore-service-security: "true"`); created only when absent. Controller: kube-vip's
part for that Service: its ingress is the address the annotation asks for.
Fault RST-02: the VIP changed in the ConfigMap (the first step of re-addressing the management
network) and the ingress-expose Service never updated: kube-vip still serves the old address.

RST-04 seed: the Addons of a default install in harvester-system (harvester-installer
`pkg/config/templates/rancherd-22-addons.yaml` @v1.2.1/v1.3.1: every addon disabled unless the
install config enables it; nvidia-driver-toolkit from v1.3.0; rancher-logging and
rancher-monitoring, which live in their own namespaces, are left out), with pcidevices-controller
enabled as this lab's install config does. Controller: Harvester's addon controller
(pkg/controller/master/addon @v1.3.1): an enabled addon goes "" -> AddonEnabling -> (its Helm
job done) AddonDeploySuccessful with a Completed condition; a failed job leaves it AddonEnabling
with OperationFailed "addon deployment job helm-install-<name> failed", until the user disables it.
Also Multus' part for the Longhorn pods on the storage network: the `k8s.v1.cni.cncf.io/
network-status` annotation, with the address whereabouts allocated to the pod on the NAD.
Fault RST-04: the enabled addon re-enabled after the restart and its deployment job failed.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.areas import longhorn_model as M
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, Fault, fault_of
from harvester_conformance.emulator.simulator.informers import ON_CHANGE
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


# -- RST-02: the VIP -------------------------------------------------------------------------------
VIP_NS, VIP_CM = "harvester-system", "vip"
EXPOSE_NS, EXPOSE = "kube-system", "ingress-expose"
VIP = "192.0.2.10"  # beside the nodes' 192.0.2.11+ on the management network
NEW_VIP = "192.0.2.9"  # RST-02's fault: the address the ConfigMap moved to
LB_IPS = "kube-vip.io/loadbalancerIPs"
REQUESTED_IP = "kube-vip.io/requestedIP"


def vip_configmap(ip: str) -> dict:
    return {
        "metadata": {"name": VIP_CM, "namespace": VIP_NS},
        "data": {
            "enabled": "true",
            "serviceType": "LoadBalancer",
            "ip": ip,
            "mode": "static",
            "hwAddress": "",
            "loadBalancerIP": ip,
        },
    }


def ingress_expose(ip: str) -> dict:
    """createIngressExposeService's Service for a static VIP."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": EXPOSE,
            "namespace": EXPOSE_NS,
            "annotations": {"kube-vip.io/ignore-service-security": "true", LB_IPS: ip},
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app.kubernetes.io/name": "rke2-ingress-nginx"},
            "ports": [
                {"name": "https-internal", "port": 443, "protocol": "TCP", "targetPort": 443},
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80},
            ],
        },
    }


def kube_vip_address(svc: dict) -> str:
    """The address kube-vip serves for a Service: loadbalancerIPs, or the requested DHCP lease."""
    ann = (svc.get("metadata") or {}).get("annotations") or {}
    ip = ann.get(LB_IPS) or ""
    return ann.get(REQUESTED_IP, "") if ip == "0.0.0.0" else ip  # noqa: S104 - kube-vip's DHCP marker


# -- RST-04: addons ---------------------------------------------------------------------------------
ADDON_NS = "harvester-system"
ENABLED_ADDON = "pcidevices-controller"
DEPLOYED, ENABLING = "AddonDeploySuccessful", "AddonEnabling"
JOB_FAILED = "addon-job-failed"
CHART_REPO = "http://harvester-cluster-repo.cattle-system.svc/charts"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"


def addons(harvester: str) -> list[dict]:
    """The harvester-system Addons of the installer's template (v1.3.1 chart versions)."""
    rows = [
        ("vm-import-controller", "harvester-vm-import-controller", "0.3.0"),
        ("pcidevices-controller", "harvester-pcidevices-controller", "0.3.2"),
        ("harvester-seeder", "harvester-seeder", "0.3.0"),
    ]
    if M.version(harvester) >= (1, 3, 0):
        rows.append(("nvidia-driver-toolkit", "nvidia-driver-runtime", "0.1.1"))
    return [
        {
            "metadata": {"name": name, "namespace": ADDON_NS},
            "spec": {
                "repo": CHART_REPO,
                "chart": chart,
                "version": version,
                "enabled": name == ENABLED_ADDON,
                "valuesContent": "",
            },
        }
        for name, chart, version in rows
    ]


def _addon_condition(kind: str, message: str = "") -> dict:
    now = clock.stamp()
    cond = {"type": kind, "status": "True", "lastUpdateTime": now, "lastTransitionTime": now}
    if message:
        cond["message"] = message
    return cond


def next_addon_status(addon: dict) -> dict | None:
    """The status Harvester's addon controller writes next, or None when it leaves the addon be."""
    status = addon.get("status") or {}
    state = status.get("status") or ""
    if not (addon.get("spec") or {}).get("enabled"):
        return None
    if state in ("", "AddonDisabled"):
        return {"status": ENABLING, "conditions": [_addon_condition("InProgress")]}
    if state == ENABLING:
        if fault_of(addon) == JOB_FAILED:
            failed = any(c.get("type") == "OperationFailed" for c in status.get("conditions") or [])
            message = f"addon deployment job helm-install-{addon['metadata']['name']} failed"
            return (
                None if failed else {"status": ENABLING, "conditions": [_addon_condition("OperationFailed", message)]}
            )
        return {"status": DEPLOYED, "conditions": [_addon_condition("Completed")]}
    return None


def network_status(pod: dict, storage_ip: str | None) -> list[dict]:
    """Multus' record of a pod's networks: the default one, and the storage network's when allocated."""
    entries = [
        {"name": "k8s-pod-network", "interface": "eth0", "ips": [pod["status"]["podIP"]], "default": True, "dns": {}}
    ]
    if storage_ip:
        nad = "/".join(M.STORAGE_NETWORK_NAD)
        entries.append({"name": nad, "interface": M.STORAGE_IFNAME, "ips": [storage_ip], "dns": {}})
    return entries


def seed(cl: Cluster, spec: Any, state_dir: Path, progress: Any) -> None:
    cl.apply(R.NAMESPACES, {"metadata": {"name": RANCHER_NS}}, manager=MANAGER)
    cl.apply(R.SERVICE_ACCOUNTS, {"metadata": {"name": RANCHER, "namespace": RANCHER_NS}}, manager=MANAGER)
    cl.apply(R.DEPLOYMENTS, rancher_deployment(spec.rancher), manager=MANAGER)
    progress("embedded Rancher (cattle-system/rancher) seeded")
    cl.apply(R.CONFIGMAPS, vip_configmap(VIP), manager=MANAGER)
    if cl.get(R.SERVICES, EXPOSE, EXPOSE_NS) is None:
        try:
            cl.create(R.SERVICES, ingress_expose(VIP), EXPOSE_NS)
        except ApiError as exc:
            if exc.status != 409:
                raise
    for addon in addons(spec.harvester):
        if cl.get(R.ADDONS, addon["metadata"]["name"], ADDON_NS) is None:
            cl.create(R.ADDONS, {"apiVersion": "harvesterhci.io/v1beta1", "kind": "Addon", **addon}, ADDON_NS)
    progress("VIP, ingress-expose and addons seeded")


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


def kube_vip_factory(cl: Cluster, state_dir: object) -> Any:
    """kube-vip's part for ingress-expose: the Service's ingress is the address it serves."""

    def reconcile() -> None:
        svc = cl.get(R.SERVICES, EXPOSE, EXPOSE_NS)
        if svc is None or (svc.get("spec") or {}).get("type") != "LoadBalancer":
            return
        ip = kube_vip_address(svc)
        want = {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}] if ip else []}}
        have = (svc.get("status") or {}).get("loadBalancer") or {}
        if [i.get("ip") for i in have.get("ingress") or []] != ([ip] if ip else []):
            try:
                cl.patch(R.SERVICES, EXPOSE, {"status": want}, EXPOSE_NS, sub="status")
            except ApiError as exc:
                if exc.status not in (404, 409, 422):
                    raise

    return reconcile


def addon_factory(cl: Cluster, state_dir: object) -> Any:
    """Harvester's addon controller (state only: the Helm job is taken as done at once)."""

    def reconcile() -> None:
        try:
            items = cl.list(R.ADDONS)
        except ApiError as exc:
            if exc.not_found:
                return
            raise
        for addon in items:
            status = next_addon_status(addon)
            if status is None:
                continue
            try:
                cl.replace(R.ADDONS, {**addon, "status": status}, sub="status")
            except ApiError as exc:
                if exc.status not in (404, 409):
                    raise

    return reconcile


def _storage_ips(cl: Cluster) -> dict[str, str]:
    """podref -> the storage-network address whereabouts allocated (offset into the range)."""
    cidr = str(M.STORAGE_NETWORK["range"])
    try:
        pool = cl.get(M.WHEREABOUTS_POOLS, M.whereabouts_pool_name(cidr), M.WHEREABOUTS_NS)
    except ApiError:
        return {}
    net = ipaddress.ip_network(cidr)
    allocations = ((pool or {}).get("spec") or {}).get("allocations") or {}
    return {a.get("podref", ""): str(net.network_address + int(k)) for k, a in allocations.items()}


def check_storage_network_status(pods: list[dict]) -> list[str]:
    """Running pods that ask for a network and have no address on it recorded yet (what Multus
    writes before a real pod's containers start)."""
    waiting = []
    for pod in pods:
        meta = pod["metadata"]
        ann = meta.get("annotations") or {}
        if NETWORKS not in ann or (pod.get("status") or {}).get("phase") != "Running" or meta.get("deletionTimestamp"):
            continue
        try:
            status = json.loads(ann.get(NETWORK_STATUS) or "[]")
        except ValueError:
            status = []
        if not any(isinstance(e, dict) and not e.get("default") and e.get("ips") for e in status):
            waiting.append(meta["name"])
    return waiting


def multus_factory(cl: Cluster, state_dir: object) -> Any:
    """Multus' part for the Longhorn pods that ask for the storage network: network-status."""

    def reconcile() -> None:
        ips = None
        for pod in cl.list(R.PODS, M.NS):
            meta = pod["metadata"]
            ann = meta.get("annotations") or {}
            if NETWORKS not in ann or not (pod.get("status") or {}).get("podIP") or meta.get("deletionTimestamp"):
                continue
            if ips is None:
                ips = _storage_ips(cl)
            ip = ips.get(f"{M.NS}/{meta['name']}")
            text = json.dumps(network_status(pod, ip), indent=1)
            if ann.get(NETWORK_STATUS) == text or (not ip and ann.get(NETWORK_STATUS)):
                continue
            try:
                cl.patch(R.PODS, meta["name"], {"metadata": {"annotations": {NETWORK_STATUS: text}}}, M.NS)
            except ApiError as exc:
                if exc.status not in (404, 409, 422):
                    raise

    return reconcile


CONTROLLERS = [
    ("rancher-scale-available", scale_available_factory, 2.0, ON_CHANGE),
    ("ingress-expose-kube-vip", kube_vip_factory, 2.0, ON_CHANGE),
    ("harvester-addons", addon_factory, 2.0, ON_CHANGE),
    ("multus-network-status", multus_factory, 3.0, ON_CHANGE),
]
WEBHOOKS: list[dict] = []
API_GROUPS: list = []


def _rancher_settled(cl: Cluster) -> bool:
    dep = cl.get(R.DEPLOYMENTS, RANCHER, RANCHER_NS)
    if dep is None:
        return False
    want = scale_target(dep, cl.list(R.NODES))
    status = dep.get("status") or {}
    return want is not None and dep["spec"].get("replicas") == want == status.get("readyReplicas")


def _vip_served(cl: Cluster) -> bool:
    svc = cl.get(R.SERVICES, EXPOSE, EXPOSE_NS) or {}
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return bool(ingress) and ingress[0].get("ip") == kube_vip_address(svc)


def _addons_settled(cl: Cluster) -> bool:
    return all(
        ((a.get("status") or {}).get("status") == DEPLOYED) == bool((a.get("spec") or {}).get("enabled"))
        for a in cl.list(R.ADDONS, ADDON_NS)
    )


def ready(cl: Cluster, spec: Any) -> bool:
    """The embedded Rancher scaled itself to min(3, nodes) replicas, all ready; the VIP served and
    the enabled addon deployed."""
    return _rancher_settled(cl) and _vip_served(cl) and _addons_settled(cl)


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


# -- RST-02 -----------------------------------------------------------------------------------------
def _vip_moved(cl: Cluster) -> None:
    cl.patch(R.CONFIGMAPS, VIP_CM, {"data": {"ip": NEW_VIP, "loadBalancerIP": NEW_VIP}}, VIP_NS)


def _vip_restored(cl: Cluster) -> None:
    cl.patch(R.CONFIGMAPS, VIP_CM, {"data": {"ip": VIP, "loadBalancerIP": VIP}}, VIP_NS)


# -- RST-04 -----------------------------------------------------------------------------------------
def _addon_job_failed(cl: Cluster) -> None:
    """The addon disabled for the shutdown and enabled again (section 5.3), and its job failing."""
    cl.patch(R.ADDONS, ENABLED_ADDON, {"metadata": {"annotations": {FAULT_ANNOTATION: JOB_FAILED}}}, ADDON_NS)
    addon = cl.get(R.ADDONS, ENABLED_ADDON, ADDON_NS) or {}
    addon["status"] = {"status": ENABLING, "conditions": [_addon_condition("InProgress")]}
    cl.replace(R.ADDONS, addon, sub="status")

    def failed() -> bool:
        a = cl.get(R.ADDONS, ENABLED_ADDON, ADDON_NS) or {}
        return any(c.get("type") == "OperationFailed" for c in (a.get("status") or {}).get("conditions") or [])

    wait_for("cluster-seeded", failed)


def _addon_redeployed(cl: Cluster) -> None:
    """What the user does: disable the addon, fix the cause, enable it again."""
    cl.patch(R.ADDONS, ENABLED_ADDON, {"metadata": {"annotations": {FAULT_ANNOTATION: None}}}, ADDON_NS)
    addon = cl.get(R.ADDONS, ENABLED_ADDON, ADDON_NS) or {}
    addon["status"] = {"status": ""}
    cl.replace(R.ADDONS, addon, sub="status")
    wait_for("cluster-seeded", lambda: _addons_settled(cl))


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
    Fault(
        "RST-02",
        f"the VIP in ConfigMap {VIP_NS}/{VIP_CM} changed to {NEW_VIP} (the management network re-addressed) "
        f"while {EXPOSE_NS}/{EXPOSE} still asks kube-vip for {VIP}",
        _vip_moved,
        _vip_restored,
        objects=(f"ConfigMap {VIP_NS}/{VIP_CM}", f"Service {EXPOSE_NS}/{EXPOSE}"),
    ),
    Fault(
        "RST-04",
        f"Addon {ADDON_NS}/{ENABLED_ADDON} enabled again after the restart and its deployment job failed "
        "(AddonEnabling with OperationFailed)",
        _addon_job_failed,
        _addon_redeployed,
        objects=(f"Addon {ADDON_NS}/{ENABLED_ADDON}",),
    ),
]

__all__ = ["API_GROUPS", "CONTROLLERS", "FAULTS", "WEBHOOKS", "ready", "seed"]
