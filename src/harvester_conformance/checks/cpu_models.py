"""Article 2025-09-30 "Setting up a common CPU model for virtual machine migration": the CPU model a
VM is given decides where it may start and migrate to.

KubeVirt facts (KV v0.54.0 … v1.7.4): virt-api defaults a VMI's `spec.domain.cpu.model` to the
KubeVirt CR's `spec.configuration.cpuModel`, else `host-model` (`setDefaultCPUModel`);
virt-controller pins a VMI with a named model to nodes labelled `cpu-model.node.kubevirt.io/<model>`
(`nodeselectorrenderer.go`; on v0.54 only with the CPUNodeDiscovery gate, so there the VMI lands
anywhere and fails on a node without the model); the node labeller writes that label for each model
libvirt calls usable on the host, and `host-model-cpu.node.kubevirt.io/<model>` for the host's own
model. A host-model VMI's migration target must offer the source's host model and its required
features (`prepareNodeSelectorForHostCpuModel`), which nodes of another CPU generation do not.
"""

from __future__ import annotations

from collections import Counter

from harvester_conformance.checks import node_cpu_labels as ncl
from harvester_conformance.checks.findings import Finding

KUBEVIRT_OBJECT = "KubeVirt"


def cluster_model(kubevirt: dict | None) -> str:
    """`spec.configuration.cpuModel` of the KubeVirt CR ("" when unset)."""
    conf = ((kubevirt or {}).get("spec") or {}).get("configuration") or {}
    return str(conf.get("cpuModel") or "")


def _missing(model: str, nodes: list[dict]) -> list[dict]:
    return [n for n in ncl.vm_nodes(nodes) if not ncl.advertises(n, model)]


def check_cluster_model(kubevirt: dict | None, nodes: list[dict]) -> Finding | None:
    """CPU-01: a cluster-wide named model is advertised by every schedulable non-witness node."""
    model = cluster_model(kubevirt)
    if not ncl.is_explicit(model):
        return None
    missing = _missing(model, nodes)
    if not missing:
        return None
    have = [n for n in ncl.vm_nodes(nodes) if ncl.advertises(n, model)]
    return Finding(
        f"{KUBEVIRT_OBJECT} {ncl.ns_name(kubevirt or {})}",
        f"spec.configuration.cpuModel {model!r} is not advertised ({ncl.CPU_MODEL}{model}) by "
        f"{ncl.names(missing)}; advertised by {ncl.names(have) or 'no node'}. VMs that start with it can "
        "run and migrate only where it is advertised",
    )


def _vm_template_spec(vm: dict) -> dict:
    return ((vm.get("spec") or {}).get("template") or {}).get("spec") or {}


def check_vm_models(vms: list[dict], vmis: list[dict], nodes: list[dict]) -> list[Finding]:
    """CPU-02: each named model a VM's template or a running VMI uses is advertised by every
    schedulable non-witness node. A VMI is named only where its VM is not (a model changed in the
    VM takes effect at its next start)."""
    findings: list[Finding] = []
    flagged: set[str] = set()
    for vm in sorted(vms, key=ncl.ns_name):
        model = ncl.cpu_model(_vm_template_spec(vm))
        if not ncl.is_explicit(model):
            continue
        missing = _missing(model, nodes)
        if missing:
            flagged.add(ncl.ns_name(vm))
            findings.append(_model_finding("VirtualMachine", vm, model, missing, nodes))
    for vmi in sorted(vmis, key=ncl.ns_name):
        if ncl.ns_name(vmi) in flagged or not ncl.running(vmi):
            continue
        model = ncl.cpu_model(vmi.get("spec"))
        if not ncl.is_explicit(model):
            continue
        missing = _missing(model, nodes)
        if missing:
            findings.append(_model_finding("VirtualMachineInstance", vmi, model, missing, nodes))
    return findings


def _model_finding(kind: str, obj: dict, model: str, missing: list[dict], nodes: list[dict]) -> Finding:
    have = [n for n in ncl.vm_nodes(nodes) if ncl.advertises(n, model)]
    return Finding(
        f"{kind} {ncl.ns_name(obj)}",
        f"CPU model {model!r} is not advertised by {ncl.names(missing)} (advertised by "
        f"{ncl.names(have) or 'no node'}): the VM can start and migrate only there",
    )


def effective_model(vmi: dict, cluster: str) -> str:
    """The model a VMI runs with: its own, else what virt-api would have defaulted it to."""
    return ncl.cpu_model(vmi.get("spec")) or cluster or ncl.HOST_MODEL


def host_models(nodes: list[dict]) -> dict[str, list[str]]:
    """Host-model CPU -> the schedulable non-witness nodes reporting it (unlabelled nodes left out)."""
    out: dict[str, list[str]] = {}
    for node in ncl.vm_nodes(nodes):
        model = ncl.host_model(node)
        if model is not None:
            out.setdefault(model, []).append(ncl.name(node))
    return out


def check_common_model(vmis: list[dict], nodes: list[dict], kubevirt: dict | None) -> list[Finding]:
    """CPU-05: where nodes' host models differ, running migratable VMIs use one named model, not
    host-model or host-passthrough."""
    models = host_models(nodes)
    if len(models) < ncl.MIN_NODES:
        return []
    mix = "; ".join(f"{m} on {', '.join(sorted(ns))}" for m, ns in sorted(models.items()))
    cluster = cluster_model(kubevirt)
    movable = sorted((v for v in vmis if ncl.running(v) and ncl.live_migratable(v)), key=ncl.ns_name)
    used = {ncl.ns_name(v): effective_model(v, cluster) for v in movable}
    named = Counter(m for m in used.values() if ncl.is_explicit(m))
    common = sorted(named, key=lambda m: (-named[m], m))[0] if named else ""
    findings = []
    for vmi in movable:
        model = used[ncl.ns_name(vmi)]
        if not ncl.is_explicit(model):
            why = f"uses {model} while the nodes' host models differ ({mix})"
        elif model != common:
            why = f"uses {model!r} while other migratable VMs use {common!r}: use one model on all of them"
        else:
            continue
        findings.append(Finding(f"VirtualMachineInstance {ncl.ns_name(vmi)}", why))
    return findings
