"""KubeVirt's CPU node labels and the nodes VMs may move between, shared by the CPU-model article
(2025-09-30) and the node-selector article (2025-12-09).

The label names are those of KubeVirt's node labeller in virt-handler (KV
`staging/src/kubevirt.io/api/core/v1/types.go`, `pkg/virt-handler/node-labeller/node_labeller.go`,
v0.54.0 … v1.7.4); the labeller leaves a node alone while the annotation
`node-labeller.kubevirt.io/skip-node` is present, whatever its value (`skipNodeLabelling`).
"""

from __future__ import annotations

CPU_MODEL = "cpu-model.node.kubevirt.io/"
CPU_MODEL_MIGRATION = "cpu-model-migration.node.kubevirt.io/"
CPU_FEATURE = "cpu-feature.node.kubevirt.io/"
HOST_MODEL_CPU = "host-model-cpu.node.kubevirt.io/"
HOST_MODEL_REQUIRED_FEATURES = "host-model-required-features.node.kubevirt.io/"
SKIP_NODE = "node-labeller.kubevirt.io/skip-node"
# The CPU selectors virt-controller puts on a virt-launcher pod (template and migration target).
SELECTOR_PREFIXES = (CPU_MODEL_MIGRATION, CPU_FEATURE, CPU_MODEL)

HOST_MODEL, HOST_PASSTHROUGH = "host-model", "host-passthrough"
HOST_MODES = (HOST_MODEL, HOST_PASSTHROUGH)
WITNESS_LABEL = "node-role.harvesterhci.io/witness"
LIVE_MIGRATABLE = "LiveMigratable"
MIN_NODES = 2


def name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def ns_name(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def labels(node: dict) -> dict[str, str]:
    return (node.get("metadata") or {}).get("labels") or {}


def is_witness(node: dict) -> bool:
    return labels(node).get(WITNESS_LABEL) == "true"


def vm_nodes(nodes: list[dict]) -> list[dict]:
    """The nodes a VM may run on or migrate to: not cordoned and not a witness node (a witness
    runs etcd only, no virt-handler)."""
    return [n for n in nodes if not (n.get("spec") or {}).get("unschedulable") and not is_witness(n)]


def not_applicable(nodes: list[dict]) -> str | None:
    """Why the CPU-* invariants do not apply (fewer than two nodes VMs can move between), or None."""
    count = len(vm_nodes(nodes))
    if count < MIN_NODES:
        return f"{count} schedulable non-witness node(s): a VM has nowhere to migrate"
    return None


def cpu_model(domain_owner: dict | None) -> str:
    """`domain.cpu.model` of a VMI spec or a VM template spec ("" when unset)."""
    domain = (domain_owner or {}).get("domain") or {}
    return str((domain.get("cpu") or {}).get("model") or "")


def is_explicit(model: str) -> bool:
    """A named QEMU model (not unset, not host-model or host-passthrough)."""
    return bool(model) and model not in HOST_MODES


def advertises(node: dict, model: str) -> bool:
    return labels(node).get(CPU_MODEL + model) == "true"


def host_model(node: dict) -> str | None:
    """The node's host-model CPU as its labeller last wrote it (None: not labelled)."""
    found = sorted(k[len(HOST_MODEL_CPU) :] for k in labels(node) if k.startswith(HOST_MODEL_CPU))
    return found[0] if found else None


def live_migratable(vmi: dict) -> bool:
    conds = (vmi.get("status") or {}).get("conditions") or []
    return any(c.get("type") == LIVE_MIGRATABLE and c.get("status") == "True" for c in conds)


def running(vmi: dict) -> bool:
    st = vmi.get("status") or {}
    return st.get("phase") == "Running" and bool(st.get("nodeName"))


def names(nodes: list[dict]) -> str:
    return ", ".join(sorted(name(n) for n in nodes))
