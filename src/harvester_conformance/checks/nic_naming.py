"""NIC names the cluster networks rely on (article "NIC Naming Scheme", facts.md §13, §17.6): a
NIC renamed by an upgrade (systemd's naming scheme, and again on the v1.6 to v1.7 upgrade) leaves
the networks naming a link the host no longer has.

What names NICs, and where (harvester/network-controller-harvester):
- VlanConfig `spec.uplink.nics` (NC >= v0.3.0, Harvester >= v1.1): bonded into `<cn>-bo` on the
  nodes the config applies to. Those are the nodes matching `spec.nodeSelector` (label equality;
  empty selects every node), which the VlanConfig mutator writes into the annotation
  `network.harvesterhci.io/matched-nodes` and the per-node agent acts on (NC
  `pkg/webhook/vlanconfig/mutator.go`, `pkg/controller/agent/vlanconfig/controller.go`); a
  VlanStatus (`status.vlanConfig`, `status.node`) records where it was applied. The union of the
  three is checked.
- Legacy (NC <= v0.3.2, Harvester v1.0/v1.1): ClusterNetwork `config.defaultPhysicalNIC` (the `vlan`
  network; unused when `enable` is false) and NodeNetwork `spec.nic` of `<node>-vlan` for
  `spec.nodeName`. A node's own NodeNetwork NIC overrides the default. NodeNetwork is not served
  from Harvester v1.2 (404: nothing to check).

A NIC exists on a host iff `/sys/class/net/<name>/ifindex` is a file there (sysfs: every network
interface has one; a name that is not a valid interface name cannot exist).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from harvester_conformance.checks.findings import Finding

MATCHED_NODES = "network.harvesterhci.io/matched-nodes"
VLANCONFIG_LABEL = "network.harvesterhci.io/vlanconfig"
IFNAMSIZ = 16  # include/uapi/linux/if.h: names are at most 15 bytes


def ifindex_path(nic: str) -> str:
    return f"/sys/class/net/{nic}/ifindex"


def valid_name(nic: str) -> bool:
    """dev_valid_name (net/core/dev.c): 1..15 bytes, not `.` or `..`, no `/`, `:` or blank."""
    raw = nic.encode("utf-8", errors="replace")
    return (
        0 < len(raw) < IFNAMSIZ
        and nic not in (".", "..")
        and not any(c in "/:" or c.isspace() or not c.isprintable() for c in nic)
    )


@dataclass(frozen=True)
class NicUse:
    """One network object naming NICs, and the nodes they must exist on."""

    object: str  # "VlanConfig vm-net-vc", "ClusterNetwork vlan", "NodeNetwork n1-vlan"
    nics: tuple[str, ...]
    nodes: tuple[str, ...]
    field: str  # where the names are written, for the message


def _labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


def _selected(node: dict, selector: dict | None) -> bool:
    labels = _labels(node)
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def _matched(vc: dict) -> list[str]:
    raw = ((vc.get("metadata") or {}).get("annotations") or {}).get(MATCHED_NODES)
    try:
        names = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def vlan_config_uses(vlan_configs: list[dict], vlan_statuses: list[dict], nodes: list[dict]) -> list[NicUse]:
    """Each VlanConfig's uplink NICs and the existing nodes it applies to."""
    names = {n["metadata"]["name"] for n in nodes}
    applied: dict[str, set[str]] = {}
    for vs in vlan_statuses:
        status = vs.get("status") or {}
        vc_name = status.get("vlanConfig") or _labels(vs).get(VLANCONFIG_LABEL)
        if vc_name and status.get("node"):
            applied.setdefault(vc_name, set()).add(status["node"])
    out = []
    for vc in sorted(vlan_configs, key=lambda v: v["metadata"]["name"]):
        name = vc["metadata"]["name"]
        spec = vc.get("spec") or {}
        nics = tuple(n for n in ((spec.get("uplink") or {}).get("nics") or []) if isinstance(n, str))
        where = {n["metadata"]["name"] for n in nodes if _selected(n, spec.get("nodeSelector"))}
        where |= set(_matched(vc)) | applied.get(name, set())
        out.append(NicUse(f"VlanConfig {name}", nics, tuple(sorted(where & names)), "spec.uplink.nics"))
    return out


def legacy_uses(cluster_networks: list[dict], node_networks: list[dict], nodes: list[dict]) -> list[NicUse]:
    """The v1.0.x objects of the article: ClusterNetwork config.defaultPhysicalNIC, NodeNetwork spec.nic."""
    names = sorted(n["metadata"]["name"] for n in nodes)
    own: dict[str, str] = {}
    out = []
    for nn in sorted(node_networks, key=lambda n: n["metadata"]["name"]):
        spec = nn.get("spec") or {}
        node, nic = spec.get("nodeName"), spec.get("nic")
        if isinstance(node, str) and isinstance(nic, str) and nic:
            own[node] = nic
            where = (node,) if node in names else ()
            out.append(NicUse(f"NodeNetwork {nn['metadata']['name']}", (nic,), where, "spec.nic"))
    for cn in sorted(cluster_networks, key=lambda c: c["metadata"]["name"]):
        nic = (cn.get("config") or {}).get("defaultPhysicalNIC")
        if not isinstance(nic, str) or not nic or cn.get("enable") is False:
            continue
        where = tuple(n for n in names if n not in own)
        out.append(NicUse(f"ClusterNetwork {cn['metadata']['name']}", (nic,), where, "config.defaultPhysicalNIC"))
    return out


def referenced_nics(uses: Iterable[NicUse]) -> list[str]:
    return sorted({nic for use in uses for nic in use.nics})


def host_paths(uses: Iterable[NicUse]) -> list[str]:
    """The sysfs files to read on every node (valid names only)."""
    return [ifindex_path(nic) for nic in referenced_nics(uses) if valid_name(nic)]


def check_uses(uses: Iterable[NicUse], hosts: dict[str, dict[str, bytes | None]]) -> list[Finding]:
    """One finding per network object naming a NIC that a node it applies to lacks (among the
    nodes that were read; `hosts` is node -> {path: bytes | None})."""
    found = []
    for use in uses:
        problems = []
        for nic in use.nics:
            if not valid_name(nic):
                if use.nodes:
                    problems.append(f"{nic!r} is not a valid interface name")
                continue
            lacking = [n for n in use.nodes if n in hosts and hosts[n].get(ifindex_path(nic)) is None]
            if lacking:
                problems.append(f"{nic} does not exist on {', '.join(lacking)}")
        if problems:
            found.append(
                Finding(
                    use.object,
                    f"{use.field} names NIC(s) the nodes it applies to lack: {'; '.join(problems)} "
                    f"(applies to {', '.join(use.nodes) or 'no node'}; no /sys/class/net/<nic>/ifindex there)",
                )
            )
    return found
