"""Release-gated CRD fields: one CRD file serves every release profile, its schema the union of
the modelled releases' fields; a field a profile's component does not have yet is removed from that
profile's CRD (`seed.for_release`), so its cluster refuses the field under strict field validation
(and prunes it otherwise), as the real, older CRD does.

Each row: CRD name, path of the property in the openAPIV3Schema (dots between property names; `[]`
after a name steps into the array's items, `*` into additionalProperties), the component whose
version gates it and the first upstream release that has it, and where that was read. The KubeVirt
rows were read in `staging/src/kubevirt.io/api/core/v1/types.go` (and `api/migrations/v1alpha1/
types.go`) of kubevirt/kubevirt at every release tag from v0.54.0, the Longhorn rows in
`k8s/crds.yaml` (v1beta2 schema) of longhorn/longhorn-manager at v1.4.3 ... v1.11.2. A path only
names fields whose parent is typed: under an `x-kubernetes-preserve-unknown-fields` parent (the
KubeVirt CR's `configuration`, say) removing a property changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass


@dataclass(frozen=True)
class GatedField:
    crd: str
    path: str
    component: str  # a ProfileSpec attribute: kubevirt, longhorn, harvester
    since: tuple[int, ...]
    source: str


KV_TYPES = "kubevirt/kubevirt staging/src/kubevirt.io/api/core/v1/types.go"
KV_POLICY = "kubevirt/kubevirt staging/src/kubevirt.io/api/migrations/v1alpha1/types.go"
LM_CRDS = "longhorn/longhorn-manager k8s/crds.yaml"
VMI = "virtualmachineinstances.kubevirt.io"
VMIM = "virtualmachineinstancemigrations.kubevirt.io"
MIGRATION_STATE = "VirtualMachineInstanceMigrationState"


def _kv(crd: str, path: str, since: tuple[int, ...], where: str) -> GatedField:
    tag = "v" + ".".join(map(str, since))
    return GatedField(crd, path, "kubevirt", since, f"{KV_TYPES} @{tag} ({where})")


def _migration_state(crd: str, prefix: str) -> list[GatedField]:
    """The fields of VirtualMachineInstanceMigrationState, which the VMI and VMIM status share."""
    return [
        _kv(crd, f"{prefix}.{name}", since, f"{MIGRATION_STATE}.{name}")
        for name, since in (
            ("targetNodeDomainReadyTimestamp", (1, 0, 0)),
            ("sourcePod", (1, 2, 1)),
            ("failureReason", (1, 2, 1)),
            ("sourcePersistentStatePVCName", (1, 4, 0)),
            ("targetPersistentStatePVCName", (1, 4, 0)),
            ("sourceState", (1, 6, 0)),
            ("targetState", (1, 6, 0)),
            ("migrationNetworkType", (1, 6, 0)),
        )
    ]


GATED_FIELDS: tuple[GatedField, ...] = (
    # KubeVirt CR: spec.configuration.migrations is typed (MigrationConfiguration).
    _kv(
        "kubevirts.kubevirt.io",
        "spec.configuration.migrations.matchSELinuxLevelOnMigration",
        (1, 0, 0),
        "MigrationConfiguration.matchSELinuxLevelOnMigration",
    ),
    _kv(
        "kubevirts.kubevirt.io",
        "spec.configuration.migrations.allowWorkloadDisruption",
        (1, 5, 0),
        "MigrationConfiguration.allowWorkloadDisruption",
    ),
    GatedField(
        "migrationpolicies.migrations.kubevirt.io",
        "spec.allowWorkloadDisruption",
        "kubevirt",
        (1, 5, 0),
        f"{KV_POLICY} @v1.5.0 (MigrationPolicySpec.allowWorkloadDisruption)",
    ),
    # VirtualMachineInstanceStatus
    _kv(VMI, "status.VSOCKCID", (0, 59, 0), "VirtualMachineInstanceStatus.VSOCKCID"),
    _kv(VMI, "status.selinuxContext", (0, 59, 0), "VirtualMachineInstanceStatus.selinuxContext"),
    _kv(VMI, "status.currentCPUTopology", (1, 0, 0), "VirtualMachineInstanceStatus.currentCPUTopology"),
    _kv(VMI, "status.machine", (1, 0, 0), "VirtualMachineInstanceStatus.machine"),
    _kv(VMI, "status.memory", (1, 1, 0), "VirtualMachineInstanceStatus.memory"),
    _kv(VMI, "status.kernelBootStatus", (1, 2, 0), "VirtualMachineInstanceStatus.kernelBootStatus"),
    _kv(VMI, "status.migratedVolumes", (1, 3, 0), "VirtualMachineInstanceStatus.migratedVolumes"),
    _kv(VMI, "status.deviceStatus", (1, 6, 0), "VirtualMachineInstanceStatus.deviceStatus"),
    # VirtualMachineInstanceNetworkInterface
    _kv(VMI, "status.interfaces[].queueCount", (0, 57, 0), "VirtualMachineInstanceNetworkInterface.queueCount"),
    _kv(
        VMI,
        "status.interfaces[].podInterfaceName",
        (1, 4, 0),
        "VirtualMachineInstanceNetworkInterface.podInterfaceName",
    ),
    _kv(VMI, "status.interfaces[].linkState", (1, 5, 0), "VirtualMachineInstanceNetworkInterface.linkState"),
    *_migration_state(VMI, "status.migrationState"),
    # VirtualMachineInstanceMigrationSpec / Status
    _kv(VMIM, "spec.addedNodeSelector", (1, 6, 0), "VirtualMachineInstanceMigrationSpec.addedNodeSelector"),
    _kv(VMIM, "spec.sendTo", (1, 6, 0), "VirtualMachineInstanceMigrationSpec.sendTo"),
    _kv(VMIM, "spec.receive", (1, 6, 0), "VirtualMachineInstanceMigrationSpec.receive"),
    _kv(VMIM, "spec.priority", (1, 7, 0), "VirtualMachineInstanceMigrationSpec.priority"),
    _kv(
        VMIM,
        "status.phaseTransitionTimestamps",
        (0, 55, 0),
        "VirtualMachineInstanceMigrationStatus.phaseTransitionTimestamps",
    ),
    _kv(VMIM, "status.migrationState", (0, 59, 0), "VirtualMachineInstanceMigrationStatus.migrationState"),
    _kv(
        VMIM,
        "status.synchronizationAddresses",
        (1, 6, 0),
        "VirtualMachineInstanceMigrationStatus.synchronizationAddresses",
    ),
    *_migration_state(VMIM, "status.migrationState"),
    # Longhorn (v1beta2 schemas)
    GatedField("nodes.longhorn.io", "spec.instanceManagerCPURequest", "longhorn", (1, 5, 0), f"{LM_CRDS} @v1.5.0"),
    GatedField("nodes.longhorn.io", "spec.disks.*.diskType", "longhorn", (1, 5, 0), f"{LM_CRDS} @v1.5.0"),
    GatedField("nodes.longhorn.io", "status.diskStatus.*.diskType", "longhorn", (1, 5, 0), f"{LM_CRDS} @v1.5.0"),
    GatedField("nodes.longhorn.io", "status.diskStatus.*.healthData", "longhorn", (1, 11, 0), f"{LM_CRDS} @v1.11.0"),
    GatedField(
        "nodes.longhorn.io",
        "status.diskStatus.*.healthDataLastCollectedAt",
        "longhorn",
        (1, 11, 0),
        f"{LM_CRDS} @v1.11.0",
    ),
    # Before 1.7 the Setting schema has `value` only: no status at all (LM k8s/crds.yaml @v1.6.2).
    GatedField("settings.longhorn.io", "status", "longhorn", (1, 7, 0), f"{LM_CRDS} @v1.7.0 (SettingStatus)"),
    GatedField("volumes.longhorn.io", "spec.backupTargetName", "longhorn", (1, 8, 0), f"{LM_CRDS} @v1.8.0"),
    # virtualSize: absent from crds.yaml at v1.6.0 and v1.6.1, present at v1.6.2.
    GatedField("backingimages.longhorn.io", "status.virtualSize", "longhorn", (1, 6, 2), f"{LM_CRDS} @v1.6.2"),
    GatedField("backingimages.longhorn.io", "status.realSize", "longhorn", (1, 8, 0), f"{LM_CRDS} @v1.8.0"),
    GatedField(
        "backingimagemanagers.longhorn.io",
        "status.backingImageFileMap.*.virtualSize",
        "longhorn",
        (1, 6, 2),
        f"{LM_CRDS} @v1.6.2",
    ),
    GatedField(
        "backingimagemanagers.longhorn.io",
        "status.backingImageFileMap.*.realSize",
        "longhorn",
        (1, 8, 0),
        f"{LM_CRDS} @v1.8.0",
    ),
)


class UnknownPath(KeyError):
    """A table row names a property the CRD does not have: the table and the CRD file disagree."""


def _parent(schema: dict, path: str) -> tuple[dict, str] | None:
    """The schema node holding the last property of `path`, and that property's name; None when a
    step is missing."""
    *steps, last = path.split(".")
    node: dict | None = schema
    for step in steps:
        if node is None:
            return None
        if step == "*":
            extra = node.get("additionalProperties")
            node = extra if isinstance(extra, dict) else None
            continue
        name, array = (step[:-2], True) if step.endswith("[]") else (step, False)
        node = (node.get("properties") or {}).get(name)
        if node is not None and array:
            node = node.get("items")
    if node is None:
        return None
    name, array = (last[:-2], True) if last.endswith("[]") else (last, False)
    if array or name not in (node.get("properties") or {}):
        return None
    return node, name


def without_fields(crd: dict, paths: list[str]) -> dict:
    """A copy of `crd` whose every version's schema lacks the properties at `paths` (and their
    `required` entries and printer columns). A path must exist in at least one version, unless a
    path it lies under goes too."""
    # Versions may share one schema object (YAML merge keys): each gets its own copy, and the
    # input is never edited.
    out = {**crd, "spec": {**crd["spec"], "versions": [copy.deepcopy(v) for v in crd["spec"]["versions"]]}}
    for path in paths:
        if any(path.startswith(p + ".") or path.startswith(p + "[].") for p in paths if p != path):
            continue
        found = False
        for version in out["spec"]["versions"]:
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
            hit = _parent(schema, path)
            if hit is None:
                continue
            found = True
            node, name = hit
            node["properties"] = {k: v for k, v in node["properties"].items() if k != name}
            if name in (node.get("required") or []):
                node["required"] = [r for r in node["required"] if r != name]
            if "[]" not in path and "*" not in path and version.get("additionalPrinterColumns"):
                gone = "." + path
                version["additionalPrinterColumns"] = [
                    c
                    for c in version["additionalPrinterColumns"]
                    if c["jsonPath"] != gone and not c["jsonPath"].startswith(gone + ".")
                ]
        if not found:
            raise UnknownPath(f"{crd['metadata']['name']} has no property {path}")
    return out


def missing_fields(crd_name: str, versions: dict[str, tuple[int, ...]]) -> list[GatedField]:
    """The table rows of `crd_name` that a cluster whose components are at `versions` lacks."""
    return [f for f in GATED_FIELDS if f.crd == crd_name and versions[f.component] < f.since]
