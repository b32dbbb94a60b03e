"""Shutdown and restart of a Harvester cluster (article 2024-07-22): RST-01 … RST-04.

After the restart the article waits for every node to be Ready, then for the basic components in
the system namespaces (`cattle-fleet-*`, `cattle-system`, `harvester-system`, `kube-system`,
`longhorn-system`) to run: a bare-metal node may need about 15 minutes, after which a pod still
Failed or in CrashLoopBackOff needs troubleshooting. The set of components differs by release, so
the check judges the pods that exist, not the article's example list.

How the states read (Kubernetes v1.25 … v1.35, the RKE2 releases of Harvester v1.2.1 … v1.8.2):
- a Node is Ready when its `Ready` condition is "True" (the kubelet's heartbeat);
- a pod that failed for good has `status.phase` "Failed"; a Job's pods are left out (a Job keeps
  its failed attempts by design);
- pods the kubelet failed itself rather than their containers: `reason` "Evicted" (eviction
  manager, `pkg/kubelet/eviction/helpers.go`) and, the very case of this article, "Terminated" or
  "NodeShutdown" (graceful node shutdown, `pkg/kubelet/nodeshutdown/nodeshutdown_manager.go`). The
  ReplicaSet controller does not delete such pods, it starts replacements, so the leftover is only
  noise once its owner is fully ready (Deployment or ReplicaSet: ready replicas at least the spec's;
  DaemonSet: `numberReady` at least `desiredNumberScheduled`). The DaemonSet and StatefulSet
  controllers delete their failed pods themselves;
- a container in a crash loop waits with `state.waiting.reason` "CrashLoopBackOff". The status
  carries no start of the loop, so its duration is taken from the pod's `Ready` condition: False
  since `lastTransitionTime` (the pod has not served since), else the pod's start time.

The embedded Rancher (RST-03): Harvester's rancherd installs Rancher's chart with `replicas: -3`
(harvester/rancherd `pkg/rancher/run.go`), which the chart renders as the Deployment annotation
`management.cattle.io/scale-available: "3"` and no `spec.replicas` (rancher/rancher
`chart/templates/deployment.yaml`). Rancher's own handler (`pkg/controllers/dashboard/
scaleavailable`) then keeps every annotated Deployment at min(value, nodes matching its node
selector), at least 1; it leaves a Deployment alone when the value is "" or not an integer
(`strconv.Atoi`). The article suspends that by blanking the annotation and scaling `rancher` to 0,
and restores both afterwards; Rancher then scales `cattle-cluster-agent` (present only while the
cluster is imported: Harvester deletes it when `cluster-registration-url` is cleared,
`pkg/controller/master/setting/cluster_registration_url.go`) back up by itself.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable

from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.timestamps import parse_time

SYSTEM_NAMESPACES = frozenset({"cattle-system", "harvester-system", "kube-system", "longhorn-system"})
SYSTEM_PREFIXES = ("cattle-fleet-",)
CRASH_LOOP = "CrashLoopBackOff"
CRASH_LOOP_GRACE = dt.timedelta(minutes=15)
KUBELET_FAILED = frozenset({"Evicted", "Terminated", "NodeShutdown"})


def is_system_namespace(ns: str) -> bool:
    return ns in SYSTEM_NAMESPACES or ns.startswith(SYSTEM_PREFIXES)


def _condition(obj: dict, kind: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def _ref(obj: dict, kind: str) -> str:
    meta = obj.get("metadata") or {}
    return f"{kind} {meta['namespace']}/{meta['name']}" if meta.get("namespace") else f"{kind} {meta.get('name')}"


def _minutes(delta: dt.timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"


# -- nodes ------------------------------------------------------------------------------------------


def check_nodes_ready(nodes: Iterable[dict]) -> list[Finding]:
    """Every node's Ready condition is True."""
    found = []
    for node in nodes:
        ready = _condition(node, "Ready")
        if ready is None:
            found.append(Finding(_ref(node, "Node"), "has no Ready condition: its kubelet never reported"))
        elif ready.get("status") != "True":
            why = ", ".join(x for x in (ready.get("reason"), ready.get("message")) if x)
            state = f"status {ready.get('status')}" + (f": {why}" if why else "")
            since = ready.get("lastTransitionTime") or "an unknown time"
            found.append(Finding(_ref(node, "Node"), f"not Ready ({state}) since {since}"))
    return found


# -- owners -----------------------------------------------------------------------------------------


class Owners:
    """The workload objects a system pod may belong to, by UID, to tell whether an owner is fully ready."""

    def __init__(self, replicasets: Iterable[dict], deployments: Iterable[dict], daemonsets: Iterable[dict]) -> None:
        self.by_uid: dict[str, tuple[str, dict]] = {}
        for kind, items in (("ReplicaSet", replicasets), ("Deployment", deployments), ("DaemonSet", daemonsets)):
            for item in items:
                uid = (item.get("metadata") or {}).get("uid")
                if uid:
                    self.by_uid[uid] = (kind, item)

    def readiness(self, pod: dict) -> tuple[bool, str]:
        """(fully ready, what was judged) for the pod's controlling owner; a ReplicaSet of a
        Deployment is judged through its Deployment, as the Deployment owns the rollout."""
        ref = _controller(pod)
        if ref is None:
            return False, "it has no owner that would replace it"
        found = self.by_uid.get(ref.get("uid", ""))
        if found is None:
            return (
                False,
                f"its owner {ref.get('kind')} {ref.get('name')} is not a Deployment, ReplicaSet or DaemonSet read",
            )
        kind, owner = found
        if kind == "ReplicaSet":
            parent = _controller(owner)
            if parent is not None and parent.get("uid") in self.by_uid:
                kind, owner = self.by_uid[parent["uid"]]
        spec, status = owner.get("spec") or {}, owner.get("status") or {}
        if kind == "DaemonSet":
            ready, desired = status.get("numberReady") or 0, status.get("desiredNumberScheduled") or 0
        else:
            ready, desired = status.get("readyReplicas") or 0, spec.get("replicas", 1)
        name = f"{kind} {owner['metadata']['name']}"
        return ready >= desired, f"its owner {name} has {ready}/{desired} ready"


def _controller(obj: dict) -> dict | None:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


def _is_job_pod(pod: dict) -> bool:
    return any(r.get("kind") == "Job" for r in (pod.get("metadata") or {}).get("ownerReferences") or [])


# -- pods -------------------------------------------------------------------------------------------


def failed_pod(pod: dict, owners: Owners) -> Finding | None:
    """A non-Job pod in phase Failed, unless the kubelet failed it and its owner is fully ready."""
    status = pod.get("status") or {}
    if status.get("phase") != "Failed" or _is_job_pod(pod):
        return None
    reason, message = status.get("reason") or "", status.get("message") or ""
    ok, owner = owners.readiness(pod)
    if reason in KUBELET_FAILED and ok:
        return None
    why = f"{reason}: {message}" if reason and message else reason or message or _exits(status) or "no reason given"
    return Finding(_ref(pod, "Pod"), f"Failed ({why}); {owner}")


def _exits(status: dict) -> str:
    """How the containers of a pod that failed on its own ended, e.g. "debugger exited 1 (Error)"."""
    ended = []
    for c in status.get("containerStatuses") or []:
        done = (c.get("state") or {}).get("terminated") or {}
        if done.get("exitCode"):
            ended.append(f"container {c.get('name')} exited {done['exitCode']} ({done.get('reason') or 'no reason'})")
    return ", ".join(ended)


def _not_ready_since(pod: dict) -> dt.datetime | None:
    ready = _condition(pod, "Ready")
    if ready is not None and ready.get("status") != "True" and (t := parse_time(ready.get("lastTransitionTime"))):
        return t
    if ready is None or ready.get("status") != "True":
        return parse_time((pod.get("status") or {}).get("startTime"))
    return None


def crash_loop(pod: dict, now: dt.datetime, grace: dt.timedelta = CRASH_LOOP_GRACE) -> Finding | None:
    """A container (or init container) in CrashLoopBackOff while the pod has not been Ready for longer
    than `grace`."""
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    looping = [
        c
        for key in ("initContainerStatuses", "containerStatuses")
        for c in status.get(key) or []
        if ((c.get("state") or {}).get("waiting") or {}).get("reason") == CRASH_LOOP
    ]
    if not looping:
        return None
    since = _not_ready_since(pod)
    if since is None or now - since <= grace:
        return None
    names = ", ".join(f"{c.get('name')} (restarts {c.get('restartCount', 0)})" for c in looping)
    return Finding(
        _ref(pod, "Pod"),
        f"container(s) {names} in {CRASH_LOOP}; the pod is not Ready since {since:%Y-%m-%dT%H:%M:%SZ} "
        f"({_minutes(now - since)}, more than the {_minutes(grace)} a restarted node may need)",
    )


def check_system_pods(pods: Iterable[dict], owners: Owners, now: dt.datetime) -> list[Finding]:
    """RST-01's pod half: in the system namespaces, no failed non-Job pod (kubelet-failed leftovers of
    a fully ready owner excepted) and no crash loop older than the grace."""
    found = []
    for pod in pods:
        if not is_system_namespace((pod.get("metadata") or {}).get("namespace") or ""):
            continue
        found += [f for f in (failed_pod(pod, owners), crash_loop(pod, now)) if f is not None]
    return found


# -- the embedded Rancher (RST-03) ------------------------------------------------------------------

RANCHER_NS = "cattle-system"
RANCHER = "rancher"
CLUSTER_AGENT = "cattle-cluster-agent"
SCALE_AVAILABLE = "management.cattle.io/scale-available"
_ATOI = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi accepts


def check_embedded_rancher(rancher: dict | None, agent: dict | None) -> list[Finding]:
    """RST-03: `cattle-system/rancher` scales itself again (a whole, non-negative scale-available)
    and has a ready replica; an imported cluster's agent is not left at 0 replicas."""
    ref = f"Deployment {RANCHER_NS}/{RANCHER}"
    if rancher is None:
        return [Finding(ref, "does not exist: the embedded Rancher that manages Harvester is not installed")]
    found = []
    value = ((rancher.get("metadata") or {}).get("annotations") or {}).get(SCALE_AVAILABLE)
    if not value:
        found.append(
            Finding(
                ref,
                f"{SCALE_AVAILABLE} is {'empty' if value == '' else 'missing'}: Rancher no longer keeps itself "
                'scaled (the shutdown step was not undone; a Harvester install has "3")',
            )
        )
    elif not _ATOI.fullmatch(value) or int(value) < 0:
        found.append(Finding(ref, f"{SCALE_AVAILABLE} is {value!r}, not a whole number of replicas Rancher can use"))
    spec, status = rancher.get("spec") or {}, rancher.get("status") or {}
    if not status.get("readyReplicas"):
        why = "the embedded Rancher is down: the Harvester UI answers 503 and an imported cluster stays Unavailable"
        found.append(Finding(ref, f"no ready replica (spec.replicas {spec.get('replicas', 1)}, ready 0): {why}"))
    if agent is not None and (agent.get("spec") or {}).get("replicas", 1) < 1:
        found.append(
            Finding(
                f"Deployment {RANCHER_NS}/{CLUSTER_AGENT}",
                "scaled to 0 replicas: the cluster is imported (the agent exists) but disconnected from the "
                "Rancher Manager",
            )
        )
    return found


# -- the VIP (RST-02) -------------------------------------------------------------------------------
# harvester/harvester pkg/controller/master/rancher/register.go (v1.2.1 … v1.8.2): the installer's
# ConfigMap harvester-system/vip (VIPConfig: enabled, serviceType, ip, mode, hwAddress,
# loadBalancerIP) and the Service kube-system/ingress-expose created from it, LoadBalancer with
# kube-vip's annotations; kube-vip writes the address it serves into the Service's ingress. Fresh
# v1.9 installs serve the VIP through kube-system/rke2-traefik instead.

VIP_NS, VIP_CM = "harvester-system", "vip"
INGRESS_NS = "kube-system"
INGRESS_EXPOSE, TRAEFIK = "ingress-expose", "rke2-traefik"


def vip_service_name(services: dict[str, dict | None]) -> str:
    """The Service that serves the VIP: ingress-expose up to v1.8, rke2-traefik where only it exists."""
    if services.get(INGRESS_EXPOSE) is None and services.get(TRAEFIK) is not None:
        return TRAEFIK
    return INGRESS_EXPOSE


def check_vip(configmap: dict | None, services: dict[str, dict | None]) -> list[Finding]:
    """RST-02: the VIP of harvester-system/vip is the load-balancer address of the ingress Service."""
    cm_ref = f"ConfigMap {VIP_NS}/{VIP_CM}"
    name = vip_service_name(services)
    svc_ref = f"Service {INGRESS_NS}/{name}"
    if configmap is None:
        return [Finding(cm_ref, "does not exist: the cluster's VIP configuration is missing")]
    data = configmap.get("data") or {}
    vip = data.get("ip") or ""
    if not vip:
        return [Finding(cm_ref, "has no ip: no VIP is configured")]
    svc = services.get(name)
    if svc is None:
        return [Finding(svc_ref, f"does not exist: nothing serves the VIP {vip} of {cm_ref}")]
    if (svc.get("spec") or {}).get("type") != "LoadBalancer":
        why = (
            f"is of type {(svc.get('spec') or {}).get('type')}, not LoadBalancer: kube-vip does not serve the VIP {vip}"
        )
        return [Finding(svc_ref, why)]
    ingress = [i.get("ip") for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
    ingress = [ip for ip in ingress if ip]
    if vip in ingress:
        return []
    have = ", ".join(ingress) if ingress else "none"
    return [
        Finding(svc_ref, f"load-balancer address {have}, not the VIP {vip} of {cm_ref}: the VIP is not served"),
        Finding(cm_ref, f"VIP {vip} is not the load-balancer address of {svc_ref} ({have})"),
    ]


# -- addons and the storage network (RST-04) --------------------------------------------------------
# harvester/harvester pkg/apis/harvesterhci.io/v1beta1/addon.go and pkg/controller/master/addon
# (v1.2.1 … v1.8.2): status.status "" (never enabled), AddonEnabling, AddonDeploySuccessful,
# AddonUpdating, AddonDisabling, AddonDisabled; a failed Helm job leaves AddonEnabling with the
# OperationFailed condition. The article's "DepoloySuccessful" is AddonDeploySuccessful.
# Storage network: Longhorn's `storage-network` setting names the NAD ("namespace/name"); the pods
# it attaches ask for it in `k8s.v1.cni.cncf.io/networks`, and Multus records the attached
# interfaces with their addresses in `k8s.v1.cni.cncf.io/network-status`.

ADDON_DEPLOYED = "AddonDeploySuccessful"
NETWORKS = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS = "k8s.v1.cni.cncf.io/network-status"
LONGHORN_NS = "longhorn-system"


def check_addons(addons: Iterable[dict]) -> list[Finding]:
    """Every enabled Addon reports AddonDeploySuccessful."""
    found = []
    for addon in addons:
        if not (addon.get("spec") or {}).get("enabled"):
            continue
        status = addon.get("status") or {}
        state = status.get("status") or ""
        if state == ADDON_DEPLOYED:
            continue
        failed = next(
            (
                c
                for c in status.get("conditions") or []
                if c.get("type") == "OperationFailed" and c.get("status") == "True"
            ),
            None,
        )
        why = f": {failed.get('message') or 'OperationFailed'}" if failed else ""
        found.append(
            Finding(_ref(addon, "Addon"), f"enabled but status is {state or 'empty'!r}, not {ADDON_DEPLOYED}{why}")
        )
    return found


def _networks(pod: dict) -> list[str]:
    """The NADs ("namespace/name") a pod asks for, from the JSON or the comma-separated form."""
    text = ((pod.get("metadata") or {}).get("annotations") or {}).get(NETWORKS) or ""
    ns = (pod.get("metadata") or {}).get("namespace") or ""
    try:
        items = json.loads(text)
    except ValueError:
        items = [x.strip() for x in text.split(",") if x.strip()]
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            out.append(f"{item.get('namespace') or ns}/{item.get('name', '')}")
        else:
            name = str(item).split("@")[0]
            out.append(name if "/" in name else f"{ns}/{name}")
    return out


def check_storage_network_pods(storage_network: str, pods: Iterable[dict]) -> list[Finding]:
    """With Longhorn's storage-network setting, each longhorn-system pod that asks for that NAD and
    runs carries an address on it in its network-status."""
    if not storage_network:
        return []
    if len(storage_network.split("/")) != 2:
        # LM `types/setting.go` ValidateStorageNetwork: "" or <namespace>/<NAD name>; a value written
        # past the webhook names no NAD, so no Longhorn pod can be given the network.
        return [
            Finding(
                f"Setting {LONGHORN_NS}/storage-network",
                f"value {storage_network!r} is not <namespace>/<NetworkAttachmentDefinition name>: Longhorn "
                "cannot attach its pods to the storage network (expected the NAD Harvester's storage-network "
                "setting created, or empty)",
            )
        ]
    found = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("namespace") != LONGHORN_NS or meta.get("deletionTimestamp"):
            continue
        if storage_network not in _networks(pod) or (pod.get("status") or {}).get("phase") != "Running":
            continue
        try:
            status = json.loads((meta.get("annotations") or {}).get(NETWORK_STATUS) or "[]")
        except ValueError:
            status = []
        ips = [
            ip for e in status if isinstance(e, dict) and e.get("name") == storage_network for ip in e.get("ips") or []
        ]
        if not ips:
            found.append(
                Finding(
                    _ref(pod, "Pod"),
                    f"asks for the storage network {storage_network} but carries no address on it "
                    f"({NETWORK_STATUS} has no entry with an IP): Longhorn's replica traffic cannot use it",
                )
            )
    return found
