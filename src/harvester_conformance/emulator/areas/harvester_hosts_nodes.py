"""Node-side controllers: Harvester's copy of Rancher's podresources controller (facts §6) and the
network controller's per-node view (VlanStatus, LinkMonitor; facts §13), which reads the
simulated hosts' links.

Annotation format (as Harvester's copy of Rancher's podresources controller writes it): compact
JSON of a ResourceList, keys sorted (Go's json.Marshal of a map), each value the canonical
Kubernetes Quantity string of the sum over the node's pods whose phase is not Succeeded/Failed.
Per pod: containers summed, init containers by maximum, no pod overhead. A sum keeps the format of
its first term (pods taken in namespace/name order): binary-SI values print as `3Gi`/`1536Mi` when
an exact multiple of 1024, otherwise as plain decimals (`9155862208`); decimal-SI values print with
an exponent that is a multiple of 3 (`1250m`, `50M`, `2`). `pods` (count) is in pod-requests only,
always, since the pod list is never nil (HV v1.3.1 `pkg/controller/master/rancher/pod_resources.go`):
a node without pods gets `{"pods":"0"}` in pod-requests and `{}` in pod-limits, e.g.
`{"cpu":"1250m","memory":"3Gi","pods":"12"}`.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
from harvester_conformance.emulator.faults import fault_of

REQUESTS_ANN = "management.cattle.io/pod-requests"
LIMITS_ANN = "management.cattle.io/pod-limits"
STALE_POD_RESOURCES = "stale-pod-resources"
MANAGER = "harvester-network-controller"

# -- resource.Quantity, as far as the annotations need it ----------------------------------------
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QTY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(.*)$")


def parse_quantity(text: str | int | float) -> tuple[Fraction, str]:
    """(value, format) with format BinarySI, DecimalSI or DecimalExponent, as Kubernetes parses it."""
    m = _QTY.match(str(text).strip())
    if not m:
        raise ValueError(f"invalid quantity {text!r}")
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix in _BINARY:
        return number * 1024 ** _BINARY[suffix], "BinarySI"
    if suffix in _DECIMAL:
        return number * Fraction(10) ** _DECIMAL[suffix], "DecimalSI"
    if suffix[:1] in ("e", "E"):
        return number * Fraction(10) ** int(suffix[1:]), "DecimalExponent"
    raise ValueError(f"invalid quantity suffix in {text!r}")


def format_quantity(value: Fraction, fmt: str) -> str:
    """Kubernetes' canonical form: BinarySI only for exact multiples >= 1024, else decimal with the
    exponent a multiple of 3 (Quantity.CanonicalizeBytes)."""
    if value == 0:
        return "0"
    if fmt == "BinarySI" and abs(value) >= 1024 and value.denominator == 1:
        n, exp = int(value), 0
        while n % 1024 == 0 and exp < 6:
            n, exp = n // 1024, exp + 1
        return str(n) + ([""] + list(_BINARY))[exp]
    mant, exp = math.ceil(value * 10**9), -9  # precision is nano, rounded up
    while mant % 10 == 0:
        mant, exp = mant // 10, exp + 1
    while exp % 3:
        mant, exp = mant * 10, exp - 1
    while exp > 18:
        mant, exp = mant * 1000, exp - 3
    if fmt == "DecimalExponent":
        return f"{mant}e{exp}" if exp else str(mant)
    suffix = {v: k for k, v in _DECIMAL.items()}[exp]
    return f"{mant}{suffix}"


class Sum:
    """A ResourceList under addition: the first term's format is kept (Quantity.Add)."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[Fraction, str]] = {}

    def add(self, name: str, qty: str) -> None:
        value, fmt = parse_quantity(qty)
        if name in self.values:
            old, old_fmt = self.values[name]
            self.values[name] = (old + value, old_fmt if old != 0 else fmt)
        else:
            self.values[name] = (value, fmt)

    def max(self, name: str, qty: str) -> None:
        value, fmt = parse_quantity(qty)
        if name not in self.values or value > self.values[name][0]:
            self.values[name] = (value, fmt)

    def merge(self, other: Sum) -> None:
        for name, (value, fmt) in other.values.items():
            if name in self.values:
                old, old_fmt = self.values[name]
                self.values[name] = (old + value, old_fmt if old != 0 else fmt)
            else:
                self.values[name] = (value, fmt)

    def json(self) -> str:
        doc = {k: format_quantity(v, f) for k, (v, f) in self.values.items()}
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def pod_resources(pods: list[dict]) -> tuple[str, str]:
    """(pod-requests, pod-limits) JSON for one node's non-terminated pods: containers summed, init
    containers by maximum, no pod overhead; `pods` = count in the requests, "0" for no pod."""
    requests, limits = Sum(), Sum()
    for pod in pods:
        req, lim = Sum(), Sum()
        spec = pod.get("spec") or {}
        for c in spec.get("containers") or []:
            res = c.get("resources") or {}
            for k, v in (res.get("requests") or {}).items():
                req.add(k, v)
            for k, v in (res.get("limits") or {}).items():
                lim.add(k, v)
        for c in spec.get("initContainers") or []:
            res = c.get("resources") or {}
            for k, v in (res.get("requests") or {}).items():
                req.max(k, v)
            for k, v in (res.get("limits") or {}).items():
                lim.max(k, v)
        requests.merge(req)
        limits.merge(lim)
    requests.values["pods"] = (Fraction(len(pods)), "DecimalSI")
    return requests.json(), limits.json()


def non_terminated_by_node(pods: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for pod in sorted(pods, key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"])):
        node = (pod.get("spec") or {}).get("nodeName")
        if node and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            out.setdefault(node, []).append(pod)
    return out


def node_resources_factory(cl: Cluster, state_dir: Path) -> Callable[[], None]:
    def reconcile() -> None:
        by_node = non_terminated_by_node(cl.list(R.PODS))
        for node in cl.list(R.NODES):
            ann = node["metadata"].get("annotations") or {}
            if fault_of(node) == STALE_POD_RESOURCES:
                continue  # the agent that owns these annotations is stuck on this node
            requests, limits = pod_resources(by_node.get(node["metadata"]["name"], []))
            if ann.get(REQUESTS_ANN) != requests or ann.get(LIMITS_ANN) != limits:
                cl.patch(
                    R.NODES,
                    node["metadata"]["name"],
                    {"metadata": {"annotations": {REQUESTS_ANN: requests, LIMITS_ANN: limits}}},
                )

    return reconcile


# -- network controller ---------------------------------------------------------------------
def _selected(node: dict, selector: dict | None) -> bool:
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def host_links(state_dir: Path, node: str) -> list[dict] | None:
    raw = hostfs.read(state_dir, node, "nics.json")
    return json.loads(raw) if raw is not None else None


def vlan_status_name(cluster_network: str, node: str) -> str:
    """NC `utils.Name("", clusterNetwork, node)`: `<cn>-<node>` cut to 54 characters, then `-` and
    the CRC-32 (IEEE) of the uncut name in 8 hex digits (NC v0.3.3 ... v0.6.0)."""
    name = f"{cluster_network}-{node}"
    return f"{name[:54]}-{zlib.crc32(name.encode()):08x}"


def network_factory(cl: Cluster, state_dir: Path) -> Callable[[], None]:
    """VlanStatus per (VlanConfig, matching node): ready when every uplink NIC exists on the host;
    LinkMonitor status from the hosts' links; ClusterNetwork ready when all its VlanStatus are."""

    def reconcile() -> None:
        nodes = cl.list(R.NODES)
        links = {n["metadata"]["name"]: host_links(state_dir, n["metadata"]["name"]) or [] for n in nodes}
        existing = {v["metadata"]["name"]: v for v in cl.list(R.VLAN_STATUSES)}
        wanted: set[str] = set()
        cn_ready: dict[str, bool] = {}
        nad_vlans = _nad_vlans(cl)
        for vc in cl.list(R.VLAN_CONFIGS):
            spec = vc.get("spec") or {}
            cn = spec.get("clusterNetwork", "")
            matched = [n["metadata"]["name"] for n in nodes if _selected(n, spec.get("nodeSelector"))]
            ann_key = "network.harvesterhci.io/matched-nodes"
            if (vc["metadata"].get("annotations") or {}).get(ann_key) != json.dumps(matched):
                cl.patch(
                    R.VLAN_CONFIGS,
                    vc["metadata"]["name"],
                    {"metadata": {"annotations": {ann_key: json.dumps(matched)}}},
                )
            for node in matched:
                names = {link["name"] for link in links.get(node, [])}
                missing = [nic for nic in (spec.get("uplink") or {}).get("nics") or [] if nic not in names]
                ok = not missing
                cn_ready[cn] = cn_ready.get(cn, True) and ok
                name = vlan_status_name(cn, node)
                wanted.add(name)
                cond = {"type": "ready", "status": "True" if ok else "False"}
                if missing:
                    cond["message"] = f"link {', '.join(missing)} not found on node {node}"
                body = {
                    "metadata": {
                        "name": name,
                        "labels": {
                            "network.harvesterhci.io/clusternetwork": cn,
                            "network.harvesterhci.io/vlanconfig": vc["metadata"]["name"],
                            "network.harvesterhci.io/node": node,
                        },
                    },
                    "status": {
                        "clusterNetwork": cn,
                        "vlanConfig": vc["metadata"]["name"],
                        "linkMonitor": cn,
                        "node": node,
                        "localAreas": [{"vlanID": v} for v in nad_vlans.get(cn, [])],
                        "conditions": [cond],
                    },
                }
                old = existing.get(name)
                if (
                    old is None
                    or old.get("status") != body["status"]
                    or (old["metadata"].get("labels") or {}) != body["metadata"]["labels"]
                ):
                    cl.apply(R.VLAN_STATUSES, body, manager=MANAGER)
        for name, old in existing.items():
            if name not in wanted and "network.harvesterhci.io/vlanconfig" in (old["metadata"].get("labels") or {}):
                cl.delete(R.VLAN_STATUSES, name)
        for cnet in cl.list(R.CLUSTER_NETWORKS):
            name = cnet["metadata"]["name"]
            ready = True if name == "mgmt" else cn_ready.get(name, False)
            conds = [{"type": "ready", "status": "True" if ready else "False"}]
            if (cnet.get("status") or {}).get("conditions") != conds:
                cl.apply(
                    R.CLUSTER_NETWORKS, {"metadata": {"name": name}, "status": {"conditions": conds}}, manager=MANAGER
                )
        for lm in cl.list(R.LINK_MONITORS):
            rule = (lm.get("spec") or {}).get("targetLinkRule") or {}
            status = {"linkStatus": {}}
            for n in nodes:
                if not _selected(n, (lm.get("spec") or {}).get("nodeSelector")):
                    continue
                node = n["metadata"]["name"]
                index = {link["name"]: link["index"] for link in links.get(node, [])}
                status["linkStatus"][node] = [
                    {
                        "name": link["name"],
                        "index": link["index"],
                        "type": link["type"],
                        "mac": link["mac"],
                        "promiscuous": False,
                        "state": link["state"],
                        **({"masterIndex": index[link["master"]]} if link.get("master") in index else {}),
                    }
                    for link in links.get(node, [])
                    if re.fullmatch(rule.get("typeRule") or ".*", link["type"])
                    and re.fullmatch(rule.get("nameRule") or ".*", link["name"])
                ]
            if lm.get("status") != status:
                cl.apply(
                    R.LINK_MONITORS,
                    {"metadata": {"name": lm["metadata"]["name"]}, "status": status},
                    manager=MANAGER,
                )

    return reconcile


def _nad_vlans(cl: Cluster) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for nad in cl.list(R.NADS):
        cn = (nad["metadata"].get("labels") or {}).get("network.harvesterhci.io/clusternetwork")
        try:
            vlan = json.loads((nad.get("spec") or {}).get("config") or "{}").get("vlan")
        except ValueError:
            continue
        if cn and isinstance(vlan, int):
            out.setdefault(cn, []).append(vlan)
    return {k: sorted(set(v)) for k, v in out.items()}
