"""Article 2025-12-09 "Troubleshooting VM Live Migration Issues Caused by Node Selectors".

KubeVirt facts (KV v0.54.0 … v1.7.4): a migration target pod inherits the CPU selectors of the
VMI's virt-launcher pod; for a host-model VMI migrating for the first time, virt-controller adds the
source node's host model as `cpu-model-migration.node.kubevirt.io/<model>` and its required
features as `cpu-feature.node.kubevirt.io/<feature>`, and keeps them on every later migration
(`prepareNodeSelectorForHostCpuModel`, pkg/virt-controller/watch/migration.go); a named model
adds `cpu-model.node.kubevirt.io/<model>` (template service). The pod is matched against the nodes'
current labels, which the node labeller rewrites unless the node is annotated
`node-labeller.kubevirt.io/skip-node` (any value: `skipNodeLabelling` checks presence).
"""

from __future__ import annotations

from harvester_conformance.checks import node_cpu_labels as ncl
from harvester_conformance.checks.findings import Finding

LAUNCHER_LABEL = "kubevirt.io"
CREATED_BY = "kubevirt.io/created-by"
MAX_KEYS = 4


def cpu_selectors(pod: dict) -> dict[str, str]:
    """The CPU node selectors of a virt-launcher pod."""
    selector = (pod.get("spec") or {}).get("nodeSelector") or {}
    return {k: str(v) for k, v in selector.items() if k.startswith(ncl.SELECTOR_PREFIXES)}


def launcher_of(vmi: dict, pods: list[dict]) -> dict | None:
    """The virt-launcher pod the VMI runs in: created by it, on its node, not being deleted."""
    uid = (vmi.get("metadata") or {}).get("uid")
    node = (vmi.get("status") or {}).get("nodeName")
    mine = [
        p
        for p in pods
        if ((p.get("metadata") or {}).get("labels") or {}).get(LAUNCHER_LABEL) == "virt-launcher"
        and ((p.get("metadata") or {}).get("labels") or {}).get(CREATED_BY) == uid
        and (p.get("spec") or {}).get("nodeName") == node
        and not (p.get("metadata") or {}).get("deletionTimestamp")
    ]
    mine.sort(key=lambda p: ((p.get("status") or {}).get("phase") != "Running", ncl.name(p)))
    return mine[0] if mine else None


def _unmet(selectors: dict[str, str], node: dict) -> list[str]:
    have = ncl.labels(node)
    return sorted(k for k, v in selectors.items() if have.get(k) != v)


def _keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_KEYS])
    return shown + (f" and {len(keys) - MAX_KEYS} more" if len(keys) > MAX_KEYS else "")


def check_launcher_selectors(vmis: list[dict], pods: list[dict], nodes: list[dict]) -> list[Finding]:
    """CPU-03: each running, LiveMigratable VMI's launcher CPU selectors are met by at least one
    other schedulable non-witness node."""
    findings = []
    targets = ncl.vm_nodes(nodes)
    by_creator: dict[str | None, list[dict]] = {}  # one pass over the pods, not one per VMI
    for p in pods:
        by_creator.setdefault(((p.get("metadata") or {}).get("labels") or {}).get(CREATED_BY), []).append(p)
    for vmi in sorted(vmis, key=ncl.ns_name):
        if not (ncl.running(vmi) and ncl.live_migratable(vmi)):
            continue
        pod = launcher_of(vmi, by_creator.get((vmi.get("metadata") or {}).get("uid"), []))
        selectors = cpu_selectors(pod) if pod else {}
        if not selectors:
            continue
        here = (vmi.get("status") or {}).get("nodeName")
        others = [n for n in targets if ncl.name(n) != here]
        if not others or any(not _unmet(selectors, n) for n in others):
            continue
        unmet = {ncl.name(n): _unmet(selectors, n) for n in others}
        per_node = "; ".join(f"{n} lacks {_keys(keys)}" for n, keys in sorted(unmet.items()))
        findings.append(
            Finding(
                f"VirtualMachineInstance {ncl.ns_name(vmi)}",
                f"its launcher pod {ncl.name(pod or {})} on {here} selects {len(selectors)} CPU label(s) "
                f"that no other schedulable node offers ({per_node}): it cannot live-migrate",
            )
        )
    return findings


def check_frozen_nodes(nodes: list[dict]) -> list[Finding]:
    """CPU-04: non-witness nodes whose CPU labels the node labeller no longer maintains."""
    findings = []
    for node in sorted(nodes, key=ncl.name):
        annotations = (node.get("metadata") or {}).get("annotations") or {}
        if ncl.SKIP_NODE not in annotations or ncl.is_witness(node):
            continue
        models = sum(1 for k in ncl.labels(node) if k.startswith(ncl.CPU_MODEL))
        findings.append(
            Finding(
                f"Node {ncl.name(node)}",
                f"annotated {ncl.SKIP_NODE}={annotations[ncl.SKIP_NODE]!r}: KubeVirt's node labeller leaves its "
                f"CPU labels as they are (host model {ncl.host_model(node) or 'unlabelled'}, {models} "
                "cpu-model label(s)), also after hardware or upgrade changes",
            )
        )
    return findings
