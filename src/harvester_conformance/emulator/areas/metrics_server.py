"""Area module (see areas/__init__.py): metrics-server, serving NodeMetrics through the
aggregated API `v1beta1.metrics.k8s.io` (the KB's "Resource Usage"; RKE2 ships metrics-server).

The real apiserver proxies `metrics.k8s.io` to the simulator through an APIService whose Service
is an ExternalName for `localhost` (the aggregator's Service routing resolves ExternalName; no
kube-proxy is needed). Requests must come from the aggregator (front-proxy client certificate);
the user it names is authorised with a SubjectAccessReview, as metrics-server's delegated
authorisation does, so RBAC decides who may read the metrics.

Like metrics-server, a node appears once two scrapes of its kubelet exist (CPU usage is a rate
between two cumulative samples), `timestamp` is the newer sample and `window` the time between the
two; a node whose kubelet cannot be scraped is left out of the next store. The kubelet's figures
are simulated from the node's non-terminated pods: a base for the host's system services plus a
share of the pods' requests.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.areas import harvester_hosts_nodes as nodes_ctl
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, Fault, fault_of
from harvester_conformance.waits import wait_for

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
PREFIX = f"/apis/{GROUP}/{VERSION}"
NS, SERVICE = "kube-system", "metrics-server"
APISERVICE = f"{VERSION}.{GROUP}"
RESOLUTION = 10.0  # seconds between scrapes (metrics-server's --metric-resolution)
FRONT_PROXY_CN = "front-proxy-client"  # the apiserver's --requestheader-allowed-names
UNREACHABLE = "kubelet-unreachable"  # value of FAULT_ANNOTATION: the scrape of that node fails

# Simulated kubelet figures: host services' base use, plus this share of the pods' requests.
BASE_CPU, BASE_MEMORY = Fraction(850, 1000), Fraction(6 * 1024**3)
CPU_SHARE, MEMORY_SHARE = Fraction(2, 5), Fraction(7, 10)


class Store:
    """The last two samples per node; what the API serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, list[tuple[dt.datetime, dict]]] = {}

    def due(self, node: str, now: dt.datetime) -> bool:
        with self._lock:
            samples = self._samples.get(node)
            return not samples or (now - samples[-1][0]).total_seconds() >= RESOLUTION

    def record(self, node: str, sample: tuple[dt.datetime, dict] | None) -> None:
        with self._lock:  # a failed scrape drops the node, as metrics-server's store does
            if sample is None:
                self._samples.pop(node, None)
            else:
                self._samples[node] = [*self._samples.get(node, [])[-1:], sample]

    def forget_others(self, nodes: set[str]) -> None:
        with self._lock:
            self._samples = {n: s for n, s in self._samples.items() if n in nodes}

    def node_metrics(self, nodes: dict[str, dict]) -> dict[str, dict]:
        with self._lock:
            out = {}
            for name, samples in self._samples.items():
                if len(samples) < 2 or name not in nodes:
                    continue
                (t0, _), (t1, usage) = samples
                out[name] = {
                    "kind": "NodeMetrics",
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "metadata": {
                        "name": name,
                        "creationTimestamp": clock.stamp(),
                        "labels": nodes[name]["metadata"].get("labels") or {},
                    },
                    "timestamp": clock.stamp(t1),
                    "window": f"{round((t1 - t0).total_seconds(), 3):g}s",  # e.g. 10.149s
                    "usage": usage,
                }
            return out


STORE = Store()


def kubelet_usage(pods: list[dict]) -> dict:
    requests = json.loads(nodes_ctl.pod_resources(pods)[0])
    cpu = nodes_ctl.parse_quantity(requests.get("cpu", "0"))[0]
    memory = nodes_ctl.parse_quantity(requests.get("memory", "0"))[0]
    used_cpu = BASE_CPU + cpu * CPU_SHARE
    used_memory = BASE_MEMORY + memory * MEMORY_SHARE
    return {"cpu": f"{int(used_cpu * 10**9)}n", "memory": f"{int(used_memory) // 1024}Ki"}


def scraper_factory(cl: Cluster, state_dir: Path) -> Callable[[], None]:
    def scrape() -> None:
        """Each node is scraped once per resolution, the first time as soon as it registers."""
        now = clock.now()
        nodes = cl.list(R.NODES)
        STORE.forget_others({n["metadata"]["name"] for n in nodes})
        due = [n for n in nodes if STORE.due(n["metadata"]["name"], now)]
        if not due:
            return
        pods = nodes_ctl.non_terminated_by_node(cl.list(R.PODS))
        for node in due:
            name = node["metadata"]["name"]
            if fault_of(node) == UNREACHABLE:
                STORE.record(name, None)  # "Failed to scrape node": left out of the store
            else:
                STORE.record(name, (now, kubelet_usage(pods.get(name, []))))

    return scrape


# -- the aggregated API ----------------------------------------------------------------------
RESOURCE_LIST = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": f"{GROUP}/{VERSION}",
    "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]}
    ],
}


def _status(code: int, reason: str, message: str) -> tuple[int, dict]:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return code, {**body, "message": message, "reason": reason, "code": code}


def _authorized(cl: Cluster, user: str, groups: list[str], verb: str, name: str | None) -> bool:
    attrs = {"group": GROUP, "version": VERSION, "resource": "nodes", "verb": verb}
    if name:
        attrs["name"] = name
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups, "resourceAttributes": attrs},
    }
    return bool(cl.create(R.SUBJECT_ACCESS_REVIEWS, review).get("status", {}).get("allowed"))


def _selected(labels: dict, selector: str) -> bool:
    """Equality-based label selectors (`k=v`, `k==v`, `k!=v`, `k`, `!k`), as kubectl top sends them."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, want = term.split("!=", 1)
            ok = labels.get(key.strip()) != want.strip()
        elif "=" in term:
            key, want = term.replace("==", "=").split("=", 1)
            ok = labels.get(key.strip()) == want.strip()
        elif term.startswith("!"):
            ok = term[1:].strip() not in labels
        else:
            ok = term in labels
        if not ok:
            return False
    return True


def serve_get(cl: Cluster, path: str, query: dict[str, str], peer_cn: str | None, headers: Any) -> tuple[int, dict]:
    """One GET under /apis/metrics.k8s.io, as the aggregator proxies it."""
    if peer_cn != FRONT_PROXY_CN:
        return _status(401, "Unauthorized", "requests are accepted from the aggregator only")
    if path == PREFIX:
        return 200, RESOURCE_LIST
    if not path.startswith(PREFIX + "/nodes"):
        return _status(404, "NotFound", f"the server could not find the requested resource ({path})")
    name = path[len(PREFIX + "/nodes") :].strip("/") or None
    user = headers.get("X-Remote-User") or "system:anonymous"
    groups = headers.get_all("X-Remote-Group") or []
    verb = "get" if name else "list"
    if not _authorized(cl, user, groups, verb, name):
        what = f'nodes.metrics.k8s.io "{name}"' if name else "nodes.metrics.k8s.io"
        return _status(403, "Forbidden", f'{what} is forbidden: User "{user}" cannot {verb} resource "nodes"')
    nodes = {n["metadata"]["name"]: n for n in cl.list(R.NODES)}
    metrics = STORE.node_metrics(nodes)
    if name:
        if name not in metrics:
            return _status(404, "NotFound", f'nodemetrics.metrics.k8s.io "{name}" not found')
        return 200, metrics[name]
    selector = query.get("labelSelector", "")
    items = [m for _, m in sorted(metrics.items()) if _selected(m["metadata"]["labels"], selector)]
    return 200, {"kind": "NodeMetricsList", "apiVersion": f"{GROUP}/{VERSION}", "metadata": {}, "items": items}


API_GROUPS = [(f"/apis/{GROUP}", serve_get)]


# -- seed ------------------------------------------------------------------------------------
def seed(cl: Cluster, spec: Any, state_dir: Path, progress: Any) -> None:
    port = json.loads((state_dir / "state.json").read_text())["ports"]["simulator"]
    manager = "emulator-seed"
    cl.apply(
        R.CLUSTER_ROLE_BINDINGS,
        {
            "metadata": {"name": "metrics-server:system:auth-delegator"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "harvester-simulator"}],
        },
        manager=manager,
    )
    cl.apply(
        R.SERVICES,
        {
            "metadata": {"name": SERVICE, "namespace": NS, "labels": {"k8s-app": SERVICE}},
            "spec": {
                "type": "ExternalName",
                "externalName": "localhost",
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            },
        },
        manager=manager,
    )
    cl.apply(
        R.API_SERVICES,
        {
            "metadata": {"name": APISERVICE, "labels": {"k8s-app": SERVICE}},
            "spec": {
                "group": GROUP,
                "version": VERSION,
                "service": {"name": SERVICE, "namespace": NS, "port": port},
                "caBundle": base64.b64encode((state_dir / "pki" / "ca.crt").read_bytes()).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
        manager=manager,
    )
    progress("metrics-server APIService registered")


def ready(cl: Cluster, spec: Any) -> bool:
    """Available, and NodeMetrics served for every node (two scrapes done)."""
    svc = cl.get(R.API_SERVICES, APISERVICE) or {}
    if not any(c["type"] == "Available" and c["status"] == "True" for c in svc.get("status", {}).get("conditions", [])):
        return False
    try:
        served = {m["metadata"]["name"] for m in cl.list(R.NODE_METRICS)}
    except ApiError:
        return False
    return served >= {n["metadata"]["name"] for n in cl.list(R.NODES)}


CONTROLLERS = [("metrics-server", scraper_factory, 1.0)]
WEBHOOKS: list[dict] = []


# -- faults ----------------------------------------------------------------------------------
MET02_NODE = "harvester-node-1"


def _met02(cl: Cluster) -> None:
    cl.patch(R.NODES, MET02_NODE, {"metadata": {"annotations": {FAULT_ANNOTATION: UNREACHABLE}}})
    wait_for("object-deleted", lambda: cl.get(R.NODE_METRICS, MET02_NODE) is None)


def _met02_revert(cl: Cluster) -> None:
    cl.patch(R.NODES, MET02_NODE, {"metadata": {"annotations": {FAULT_ANNOTATION: None}}})
    wait_for("cluster-seeded", lambda: cl.get(R.NODE_METRICS, MET02_NODE) is not None)


FAULTS = [
    Fault(
        "MET-02",
        f"{MET02_NODE}'s kubelet stopped answering metrics-server's scrapes",
        _met02,
        _met02_revert,
        objects=(f"Node {MET02_NODE}",),
    )
]
