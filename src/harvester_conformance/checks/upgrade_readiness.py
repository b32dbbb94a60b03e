"""Upgrade readiness (facts.md §16, facts-releases.md R3.1): Harvester's upgrade gate, every
violation at once.

UPG-03, non-live-migratable VMIs: harvester/harvester `pkg/webhook/resources/upgrade/validator.go`
`checkNonLiveMigratableVMs` and `pkg/util/virtualmachineinstance` `GetAllNonLiveMigratableVMINames`
(v1.2.1 … v1.8.2). The gate lists every VMI (any phase) and refuses, per VMI, the first of: a
`nodeSelector` (any, even empty), `hostDevices` (any), a required node affinity that matches no
schedulable node other than the VMI's own, and up to v1.7.x a CD-ROM disk or containerDisk volume.
With a single node (from v1.6.0 a single non-witness node) nothing is refused: the upgrade shuts
the VMs down. From v1.6.0 `upgrade-config` `restoreVM: true` skips the check and witness nodes
are left out. v1.8.2 adds stale hotplug volumes. KubeVirt's LiveMigratable condition is not read
by the gate (GetAllNonLiveMigratableVMINames @v1.7.1 … v1.8.2), so it is not counted here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from harvester_conformance.checks.findings import Finding

WITNESS_LABEL = "node-role.harvesterhci.io/witness"
UPGRADE_CONFIG = "upgrade-config"


@dataclass(frozen=True)
class Gate:
    harvester: tuple[int, ...]

    @property
    def excludes_witness(self) -> bool:
        return self.harvester >= (1, 6, 0)

    @property
    def restore_vm_skips(self) -> bool:
        return self.harvester >= (1, 6, 0)

    @property
    def cdrom_blocks(self) -> bool:
        return self.harvester < (1, 8, 0)

    @property
    def stale_hotplug(self) -> bool:
        return self.harvester >= (1, 8, 2)


def gate_nodes(nodes: list[dict], gate: Gate) -> list[dict]:
    if not gate.excludes_witness:
        return nodes
    return [n for n in nodes if WITNESS_LABEL not in ((n.get("metadata") or {}).get("labels") or {})]


def restore_vm(setting: dict | None) -> bool:
    """upgrade-config's restoreVM (value, else default); an unparsable value counts as false."""
    text = (setting or {}).get("value") or (setting or {}).get("default") or ""
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("restoreVM") is True


def skip_reason(nodes: list[dict], upgrade_config: dict | None, gate: Gate) -> str | None:
    """Why the gate does not check VMIs at all on this cluster (None: it does)."""
    if gate.restore_vm_skips and restore_vm(upgrade_config):
        return "upgrade-config restoreVM is true: the upgrade shuts VMs down and restores them"
    counted = gate_nodes(nodes, gate)
    if len(counted) <= 1:
        which = "non-witness node" if gate.excludes_witness else "node"
        return f"a single {which}: the upgrade shuts every VM down, the gate checks none"
    return None


# -- node selector terms (k8s.io/component-helpers/scheduling/corev1 MatchNodeSelectorTerms) ----


def _match_expression(expr: dict, labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    present = key in labels
    value = labels.get(key)
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, bound = int(value or ""), int(values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def _match_term(term: dict, node: dict) -> bool:
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches nothing
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = {"metadata.name": (node.get("metadata") or {}).get("name")}
    return all(_match_expression(e, labels) for e in exprs) and all(_match_expression(f, name) for f in fields)


def matches_node_selector(selector: dict, node: dict) -> bool:
    return any(_match_term(t, node) for t in selector.get("nodeSelectorTerms") or [] if isinstance(t, dict))


def _other_nodes_allowed(vmi: dict, nodes: list[dict]) -> bool:
    """migratableByNodeAffinity: some schedulable node other than the VMI's matches its required
    node affinity (any schedulable other node when it has none)."""
    here = (vmi.get("status") or {}).get("nodeName")
    required = (((vmi.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    for node in nodes:
        if (node.get("metadata") or {}).get("name") == here or (node.get("spec") or {}).get("unschedulable"):
            continue
        if required is None or matches_node_selector(required, node):
            return True
    return False


def blocking_rules(vmi: dict, nodes: list[dict], gate: Gate) -> list[str]:
    """Every rule of the gate the VMI breaks (upstream stops at the first)."""
    spec = vmi.get("spec") or {}
    devices = ((spec.get("domain") or {}).get("devices")) or {}
    rules = []
    if spec.get("nodeSelector") is not None:
        rules.append(f"nodeSelector {json.dumps(spec['nodeSelector'], sort_keys=True)}")
    if devices.get("hostDevices") is not None:
        rules.append(f"{len(devices['hostDevices'])} host device(s)")
    if not _other_nodes_allowed(vmi, gate_nodes(nodes, gate)):
        rules.append("its node affinity matches no other schedulable node")
    if gate.cdrom_blocks:
        cdroms = [
            d.get("name") for d in devices.get("disks") or [] if isinstance(d, dict) and d.get("cdrom") is not None
        ]
        images = [v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict) and v.get("containerDisk")]
        if cdroms:
            rules.append(f"CD-ROM disk(s) {', '.join(map(str, cdroms))}")
        if images:
            rules.append(f"containerDisk volume(s) {', '.join(map(str, images))}")
    return rules


def check_vmi(vmi: dict, nodes: list[dict], gate: Gate) -> Finding | None:
    rules = blocking_rules(vmi, nodes, gate)
    if not rules:
        return None
    meta, status = vmi.get("metadata") or {}, vmi.get("status") or {}
    return Finding(
        f"VirtualMachineInstance {meta.get('namespace')}/{meta.get('name')}",
        f"not live-migratable for the upgrade ({status.get('phase') or 'no phase'} on "
        f"{status.get('nodeName') or 'no node'}): {'; '.join(rules)}",
    )


def _hotplug_volumes(spec: dict) -> set[str]:
    out = set()
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        for source in ("persistentVolumeClaim", "dataVolume"):
            if isinstance(v.get(source), dict) and v[source].get("hotpluggable") is True:
                out.add(str(v.get("name")))
    return out


def check_stale_hotplug(vm: dict, vmi: dict | None) -> Finding | None:
    """v1.8.2 `checkStaleHotplugVolumes`: pending volumeRequests, or hotplug volumes of the running
    VMI missing from the VM's template."""
    meta = vm.get("metadata") or {}
    ref = f"VirtualMachine {meta.get('namespace')}/{meta.get('name')}"
    pending = (vm.get("status") or {}).get("volumeRequests") or []
    if pending:
        return Finding(ref, f"{len(pending)} pending status.volumeRequests (stale hotplug request)")
    if vmi is None or (vmi.get("status") or {}).get("phase") != "Running":
        return None
    template = (((vm.get("spec") or {}).get("template") or {}).get("spec")) or {}
    declared = {str(v.get("name")) for v in template.get("volumes") or [] if isinstance(v, dict)}
    stale = sorted(_hotplug_volumes(vmi.get("spec") or {}) - declared)
    if stale:
        return Finding(ref, f"hotplugged volume(s) {', '.join(stale)} of the running VMI missing from the VM template")
    return None
