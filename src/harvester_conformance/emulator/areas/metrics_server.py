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
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock
from harvester_conformance.emulator.areas import harvester_hosts_nodes as nodes_ctl
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, Fault, fault_of
from harvester_conformance.emulator.simulator.informers import derived
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
        usage = usage_by_node(cl)
        for node in due:
            name = node["metadata"]["name"]
            if fault_of(node) == UNREACHABLE:
                STORE.record(name, None)  # "Failed to scrape node": left out of the store
            else:
                STORE.record(name, (now, dict(usage.get(name) or kubelet_usage([]))))

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


# -- the kubelets' endpoint ------------------------------------------------------------------
# The simulator answers for every node's kubelet at the node's InternalIP and kubelet port, where
# the apiserver's node proxy reaches it (see controlplane.component_env). Its figures come from the
# same simulated kubelet as the scrapes above, so /stats/summary and NodeMetrics agree.
GIB = 1024**3
# RKE2's kubelet arguments (k3s `pkg/daemons/agent`): anonymous requests refused, webhook
# authorisation, and eviction when a filesystem's available share drops below 5 %.
EVICTION_AVAILABLE = Fraction(5, 100)
# The kubelet's root and containerd's store share COS_PERSISTENT (/usr/local) on a Harvester host;
# Longhorn's default disk is a partition of its own, HARV_LH_DEFAULT (harvester-installer
# `pkg/config/templates/cos-rootfs.yaml`), so Longhorn disks are not in the kubelet's filesystems.
SYSTEM_FS_USED = 24 * GIB  # OS state, logs, RKE2 and kubelet data besides images
IMAGES_USED = 17 * GIB  # containerd's image store (runtime.imageFs.usedBytes)
EXT4_RESERVED = Fraction(5, 100)  # mke2fs's default reserved blocks, never available to the kubelet
BYTES_PER_INODE = 16384  # mke2fs's default inode ratio
SYSTEM_INODES_USED = 412_000
CONTAINER_ROOTFS, CONTAINER_LOGS, LOCAL_VOLUME_USED = 49_152, 20_480, 4_096
MAX_PID = 4_194_304


def kubelet_attributes(method: str, path: str) -> tuple[str, str]:
    """(verb, subresource) the kubelet authorises a request with (`pkg/kubelet/server/auth.go`)."""
    verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "")
    for prefix, sub in (("/stats", "stats"), ("/metrics", "metrics"), ("/logs", "log"), ("/checkpoint", "checkpoint")):
        if path == prefix or path.startswith(prefix + "/"):
            return verb, sub
    return verb, "proxy"


def fs_stats(stamp: str, capacity: int, used: int, *, inodes_used: int, reserved: int = 0) -> dict:
    """FsStats as statfs fills them: available excludes the root-reserved blocks."""
    inodes = capacity // BYTES_PER_INODE
    return {
        "time": stamp,
        "availableBytes": max(capacity - used - reserved, 0),
        "capacityBytes": capacity,
        "usedBytes": used,
        "inodesFree": max(inodes - inodes_used, 0),
        "inodes": inodes,
        "inodesUsed": inodes_used,
    }


def _bytes(text: str | int | None) -> int:
    return int(nodes_ctl.parse_quantity(text or "0")[0])


def pod_usage(pod: dict) -> tuple[int, int]:
    """(nanocores, working-set bytes) of one pod: its share of its requests, as `kubelet_usage`."""
    requests = json.loads(nodes_ctl.pod_resources([pod])[0])
    cpu = nodes_ctl.parse_quantity(requests.get("cpu", "0"))[0] * CPU_SHARE
    memory = nodes_ctl.parse_quantity(requests.get("memory", "0"))[0] * MEMORY_SHARE
    return int(cpu * 10**9), int(memory)


def local_volume(volume: dict) -> bool:
    """Local ephemeral volumes the kubelet counts into a pod's ephemeral storage (`IsLocalEphemeralVolume`)."""
    empty = volume.get("emptyDir")
    return (empty is not None and (empty or {}).get("medium") != "Memory") or any(
        k in volume for k in ("configMap", "downwardAPI", "gitRepo")
    )


def claim_stats(stamp: str, name: str, claim: dict, size: int, block: bool, actual: int) -> dict:
    """A PVC-backed volume as Longhorn's CSI NodeGetVolumeStats reports it (`csi/node_server.go`):
    a block volume gives only its size, a filesystem its statfs figures."""
    if block:
        stats = {"time": stamp, "availableBytes": 0, "capacityBytes": size, "usedBytes": 0}
        stats |= {"inodesFree": 0, "inodes": 0, "inodesUsed": 0}
    else:
        stats = fs_stats(stamp, size, min(actual, size), inodes_used=min(actual, size) // (1024 * 1024) + 11)
    return {**stats, "name": name, "pvcRef": claim}


def pod_stats(pod: dict, usage: tuple[int, int], stamp: str, nodefs: dict, claims: list[dict]) -> dict:
    """One running pod: containers, its share of CPU and memory, volumes and ephemeral storage."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    started = status.get("startTime") or meta.get("creationTimestamp")
    cpu, memory = usage
    containers = spec.get("containers") or []
    shared = {k: nodefs[k] for k in ("time", "availableBytes", "capacityBytes", "inodesFree", "inodes")}
    locals_ = [
        {**shared, "usedBytes": LOCAL_VOLUME_USED, "inodesUsed": 3, "name": v["name"]}
        for v in spec.get("volumes") or []
        if local_volume(v)
    ]
    each = max(len(containers), 1)
    ephemeral = len(containers) * (CONTAINER_ROOTFS + CONTAINER_LOGS) + len(locals_) * LOCAL_VOLUME_USED
    return {
        "podRef": {"name": meta["name"], "namespace": meta.get("namespace", ""), "uid": meta.get("uid", "")},
        "startTime": started,
        "containers": [
            {
                "name": c["name"],
                "startTime": started,
                "cpu": {"time": stamp, "usageNanoCores": cpu // each},
                "memory": {"time": stamp, "workingSetBytes": memory // each, "usageBytes": memory // each},
                "rootfs": {**shared, "usedBytes": CONTAINER_ROOTFS, "inodesUsed": 12},
                "logs": {**shared, "usedBytes": CONTAINER_LOGS, "inodesUsed": 2},
            }
            for c in containers
        ],
        "cpu": {"time": stamp, "usageNanoCores": cpu},
        "memory": {"time": stamp, "workingSetBytes": memory, "usageBytes": memory},
        "volume": locals_ + claims,
        "ephemeral-storage": {**shared, "usedBytes": ephemeral, "inodesUsed": len(containers) * 14 + len(locals_) * 3},
    }


def summary(
    node: dict, pods: list[dict], claims: dict[str, list[dict]], now: dt.datetime, only_cpu_memory: bool
) -> dict:
    """The kubelet's Summary API (`k8s.io/kubelet/pkg/apis/stats/v1alpha1`) for one node: `pods` are
    its non-terminated pods, `claims` the PVC volume stats per pod UID (read from the API)."""
    stamp = clock.stamp(now)
    name, status = node["metadata"]["name"], node.get("status") or {}
    started = node["metadata"].get("creationTimestamp") or stamp
    usage = kubelet_usage(pods)
    cpu = int(nodes_ctl.parse_quantity(usage["cpu"])[0] * 10**9)
    working = int(nodes_ctl.parse_quantity(usage["memory"])[0])
    capacity = status.get("capacity") or {}
    memory_capacity = _bytes(capacity.get("memory"))
    fs_capacity = _bytes(capacity.get("ephemeral-storage"))
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    uptime = max(int((now - dt.datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds()), 0)
    node_cpu = {"time": stamp, "usageNanoCores": cpu, "usageCoreNanoSeconds": cpu * uptime}
    node_memory = {
        "time": stamp,
        "availableBytes": max(memory_capacity - working, 0),
        "usageBytes": working,
        "workingSetBytes": working,
        "rssBytes": working * 3 // 4,
        "pageFaults": 0,
        "majorPageFaults": 0,
    }
    usage = [pod_usage(p) for p in running]  # once per pod: the sums and each pod's stats share it
    pods_cpu = sum(cpu for cpu, _ in usage)
    pods_memory = sum(memory for _, memory in usage)
    allocatable_memory = _bytes((status.get("allocatable") or {}).get("memory"))
    system = [
        {"name": "kubelet", "startTime": started, "cpu": {"time": stamp, "usageNanoCores": 0}},
        {
            "name": "pods",
            "startTime": started,
            "cpu": {"time": stamp, "usageNanoCores": pods_cpu},
            "memory": {
                "time": stamp,
                "availableBytes": max(allocatable_memory - pods_memory, 0),
                "usageBytes": pods_memory,
                "workingSetBytes": pods_memory,
            },
        },
    ]
    out: dict[str, Any] = {"node": {"nodeName": name, "systemContainers": system, "startTime": started}}
    out["node"] |= {"cpu": node_cpu, "memory": node_memory}
    if only_cpu_memory:
        nodefs = fs_stats(stamp, fs_capacity, 0, inodes_used=0)
        stats = [pod_stats(p, u, stamp, nodefs, []) for p, u in zip(running, usage, strict=True)]
        out["pods"] = [{k: ps[k] for k in ("podRef", "startTime", "containers", "cpu", "memory")} for ps in stats]
        for ps in out["pods"]:
            ps["containers"] = [{k: c[k] for k in ("name", "startTime", "cpu", "memory")} for c in ps["containers"]]
        return out
    reserved = int(fs_capacity * EXT4_RESERVED)
    draft = fs_stats(stamp, fs_capacity, 0, inodes_used=0, reserved=reserved)
    stats = [
        pod_stats(p, u, stamp, draft, claims.get(p["metadata"].get("uid", ""), []))
        for p, u in zip(running, usage, strict=True)
    ]
    used = SYSTEM_FS_USED + IMAGES_USED + sum(ps["ephemeral-storage"]["usedBytes"] for ps in stats)
    inodes_used = SYSTEM_INODES_USED + sum(ps["ephemeral-storage"]["inodesUsed"] for ps in stats)
    nodefs = fs_stats(stamp, fs_capacity, used, inodes_used=inodes_used, reserved=reserved)
    stats = [
        pod_stats(p, u, stamp, nodefs, claims.get(p["metadata"].get("uid", ""), []))
        for p, u in zip(running, usage, strict=True)
    ]
    out["node"]["fs"] = nodefs
    out["node"]["runtime"] = {"imageFs": {**nodefs, "usedBytes": IMAGES_USED, "inodesUsed": SYSTEM_INODES_USED // 2}}
    out["node"]["rlimit"] = {"time": stamp, "maxpid": MAX_PID, "curproc": 420 + 12 * len(running)}
    out["pods"] = stats
    return out


@dataclass(frozen=True)
class Storage:
    """What the kubelet knows of mounted claims, read with one list call per type: PVCs and VMIs by
    (namespace, name), PVs and Longhorn volumes by name."""

    pvcs: dict[tuple[str, str], dict]
    pvs: dict[str, dict]
    longhorn: dict[str, dict]
    vmis: dict[tuple[str, str], dict]

    SOURCES = (R.PVCS, R.PERSISTENT_VOLUMES, R.LONGHORN_VOLUMES, R.VMIS)

    @classmethod
    def read(cls, cl: Cluster) -> Storage:
        def keyed(items: list[dict]) -> dict[tuple[str, str], dict]:
            return {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in items}

        return cls(
            pvcs=keyed(cl.list(R.PVCS)),
            pvs={pv["metadata"]["name"]: pv for pv in cl.list(R.PERSISTENT_VOLUMES)},
            longhorn={v["metadata"]["name"]: v for v in cl.list(R.LONGHORN_VOLUMES, "longhorn-system")},
            vmis=keyed(cl.list(R.VMIS)),
        )


def pod_mounts(pod: dict, vmis: dict[tuple[str, str], dict]) -> list[tuple[str, str]]:
    """(volume name, claim) a pod mounts. A virt-launcher pod mounts its VMI's PVC and DataVolume
    volumes under the VMI's volume names (KubeVirt's launcher template; the emulated pod leaves them
    out of its spec)."""
    ns = pod["metadata"]["namespace"]
    mounts = [
        (v["name"], v["persistentVolumeClaim"]["claimName"])
        for v in pod["spec"].get("volumes") or []
        if "persistentVolumeClaim" in v
    ]
    if (pod["metadata"].get("labels") or {}).get("kubevirt.io") != "virt-launcher":
        return mounts
    owners = pod["metadata"].get("ownerReferences") or []
    owner = next((o for o in owners if o.get("kind") == "VirtualMachineInstance"), None)
    vmi = vmis.get((ns, owner["name"])) if owner else None
    for v in ((vmi or {}).get("spec") or {}).get("volumes") or []:
        claim = (v.get("persistentVolumeClaim") or {}).get("claimName") or (v.get("dataVolume") or {}).get("name")
        if claim and (v["name"], claim) not in mounts:
            mounts.append((v["name"], claim))
    return mounts


def pod_claim_stats(storage: Storage, pod: dict, stamp: str) -> list[dict]:
    """Stats of the PVC volumes of one pod, from its bound PVCs, their PVs and the Longhorn volumes."""
    ns = pod["metadata"]["namespace"]
    out = []
    for volume, claim in pod_mounts(pod, storage.vmis):
        pvc = storage.pvcs.get((ns, claim)) or {}
        pv = storage.pvs.get((pvc.get("spec") or {}).get("volumeName") or "")
        if not pv or (pvc.get("status") or {}).get("phase") != "Bound":
            continue  # not mounted: the kubelet has no metrics for it
        csi = (pv.get("spec") or {}).get("csi") or {}
        lh = storage.longhorn.get(csi.get("volumeHandle", "")) if csi.get("driver") == "driver.longhorn.io" else None
        size = int((lh or {}).get("spec", {}).get("size") or _bytes((pv["spec"].get("capacity") or {}).get("storage")))
        actual = int(((lh or {}).get("status") or {}).get("actualSize") or 0)
        block = pv["spec"].get("volumeMode") == "Block"
        out.append(claim_stats(stamp, volume, {"name": claim, "namespace": ns}, size, block, actual))
    return out


def usage_by_node(cl: Cluster) -> dict[str, dict]:
    """Each node's kubelet usage, computed once per change of the pods: a scrape every 10 s of
    every node summed every pod's requests again, a tenth of the idle simulator's CPU at 2,000 VMs."""
    return derived(
        cl,
        "kubelet-usage",
        (R.PODS,),
        lambda: {node: kubelet_usage(pods) for node, pods in pods_by_node(cl).items()},
    )


def pods_by_node(cl: Cluster) -> dict[str, list[dict]]:
    """Each node's pods that are not done, computed once per change of the pods (shared: read only)."""
    return derived(cl, "pods-by-node", (R.PODS,), lambda: nodes_ctl.non_terminated_by_node(cl.list(R.PODS)))


def kubelet_get(cl: Cluster, node_name: str, path: str, query: dict[str, str]) -> tuple[int, str, bytes]:
    """One authorised GET to a node's kubelet: (status, content type, body)."""
    if path == "/healthz":
        return 200, "text/plain; charset=utf-8", b"ok"
    if path not in ("/stats/summary", "/pods"):
        return 404, "text/plain; charset=utf-8", b"404 page not found\n"
    # A kubelet knows its pods from a list-and-watch of the pods bound to it (kubernetes
    # pkg/kubelet/config/apiserver.go NewSourceApiserver), not a fresh list per request: the
    # simulator's informer plays that cache.
    pods = pods_by_node(cl).get(node_name, [])
    if path == "/pods":  # the pods the kubelet runs, as its pod manager has them
        listing = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods}
        return 200, "application/json", json.dumps(listing).encode()
    node = cl.get(R.NODES, node_name)
    if node is None:
        message = f'Internal Error: failed to get node info: node "{node_name}" not found'
        return 500, "text/plain; charset=utf-8", message.encode()
    now = clock.now()
    only = query.get("only_cpu_and_memory") == "true"
    claims: dict[str, list[dict]] = {}
    if not only:
        storage = derived(cl, "kubelet-storage", Storage.SOURCES, lambda: Storage.read(cl))
        running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
        claims = {p["metadata"]["uid"]: pod_claim_stats(storage, p, clock.stamp(now)) for p in running}
    body = summary(node, pods, claims, now, only)
    return 200, "application/json", json.dumps(body, indent=2).encode()


def kubelet_authorized(cl: Cluster, user: str, groups: list[str], verb: str, sub: str, node: str) -> bool:
    """The kubelet's webhook authorisation: a SubjectAccessReview on nodes/<subresource>."""
    attrs = {"verb": verb, "resource": "nodes", "subresource": sub, "name": node, "version": "v1"}
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": [*groups, "system:authenticated"], "resourceAttributes": attrs},
    }
    return bool(cl.create(R.SUBJECT_ACCESS_REVIEWS, review).get("status", {}).get("allowed"))


def kubelet_down(cl: Cluster, node_name: str) -> bool:
    """The node is gone or its kubelet stopped answering (MET-02): even a kept-alive connection breaks."""
    node = cl.get(R.NODES, node_name)
    return node is None or fault_of(node) == UNREACHABLE


def kubelet_node(nodes: list[dict], host: str, port: int) -> str | None:
    """The node whose kubelet the apiserver dials at host:port (its preferred address and endpoint
    port); None when no node has it, or its kubelet does not answer (MET-02)."""
    for node in nodes:
        status = node.get("status") or {}
        kport = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 10250
        addresses = {a.get("address") for a in status.get("addresses") or []}
        if host in addresses and kport == port:
            return None if fault_of(node) == UNREACHABLE else node["metadata"]["name"]
    return None


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
    """The APIService Available, NodeMetrics for every node (two scrapes done), and every node's
    kubelet answering through the apiserver's node proxy."""
    svc = cl.get(R.API_SERVICES, APISERVICE) or {}
    if not any(c["type"] == "Available" and c["status"] == "True" for c in svc.get("status", {}).get("conditions", [])):
        return False
    try:
        served = {m["metadata"]["name"] for m in cl.list(R.NODE_METRICS)}
    except ApiError:
        return False
    nodes = sorted(n["metadata"]["name"] for n in cl.list(R.NODES))
    return served >= set(nodes) and all(kubelet_answers(cl, n) for n in nodes)


def kubelet_answers(cl: Cluster, node: str) -> bool:
    try:
        return cl.request("GET", f"/api/v1/nodes/{node}/proxy/healthz", text=True, attempts=1) == "ok"
    except ApiError:
        return False


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
