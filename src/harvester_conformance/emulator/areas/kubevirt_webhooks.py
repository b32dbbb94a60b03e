"""Admission webhooks of the workload area: Harvester's VirtualMachine mutator (overcommit and
guest memory, facts §15.2; on UPDATE only when limits, the reservedMemory annotation, dedicated CPU
or host devices changed, §17.2) and virt-api's VirtualMachineInstanceMigration create validator. The
latter is registered by virt-operator in `virt-api-validator` and served by the emulated virt-api
(areas/kubevirt_certificates_registrations and _handlers), not by the simulator's own webhooks."""

from __future__ import annotations

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import kubevirt_model as m
from harvester_conformance.emulator.faults import VMIM_WEBHOOK
from harvester_conformance.emulator.simulator.webhooks import Result, route

VM_MUTATE_PATH = "/v1/harvester/kubevirt.io.virtualmachines/mutate"
VM_MUTATOR_NAME = "virtualmachine.mutator.harvesterhci.io"
VMIM_VALIDATOR_NAME = VMIM_WEBHOOK  # named where its fault probe lives


def _setting(cl: Cluster, name: str) -> dict | None:
    return cl.get(R.HARVESTER_SETTINGS, name)


def _effective(item: dict | None) -> str:
    return ((item or {}).get("value") or (item or {}).get("default") or "").strip()


@route(VM_MUTATE_PATH)
def mutate_vm(request: dict, cluster: Cluster) -> Result:
    if request.get("operation") not in ("CREATE", "UPDATE"):
        return True, "", None
    vm = request.get("object") or {}
    domain = (((vm.get("spec") or {}).get("template") or {}).get("spec") or {}).get("domain")
    if not domain:
        return True, "", None
    harvester = m.version_tuple(_effective(_setting(cluster, "server-version")))
    if request.get("operation") == "UPDATE" and not m.need_update_resource_overcommit(
        request.get("oldObject") or {}, vm, harvester
    ):
        return True, "", None  # requests are kept (HV `mutator.go` Update: needUpdateResourceOvercommit)
    ratio = _effective(_setting(cluster, "additional-guest-memory-overhead-ratio")) if harvester >= (1, 4) else ""
    overcommit = m.overcommit_config(_setting(cluster, "overcommit-config"))
    try:
        resources, memory = m.mutate_vm_domain(
            domain, (vm.get("metadata") or {}).get("annotations") or {}, overcommit, harvester, ratio
        )
    except m.Rejected as exc:
        return False, str(exc), None
    if resources is None:
        return True, "", None
    patch = [{"op": "add", "path": "/spec/template/spec/domain/resources", "value": resources}]
    if memory is not None:
        patch.append({"op": "add", "path": "/spec/template/spec/domain/memory", "value": memory})
    return True, "", patch


def validate_migration(request: dict, cluster: Cluster) -> Result:
    """As virt-api: the VMI must exist, not be final, not be marked non-migratable, and have no
    other migration in flight."""
    if request.get("operation") != "CREATE":
        return True, "", None
    vmim = request.get("object") or {}
    ns = (vmim.get("metadata") or {}).get("namespace") or request.get("namespace")
    name = (vmim.get("spec") or {}).get("vmiName") or ""
    vmi = cluster.get(R.VMIS, name, ns) if name else None
    if vmi is None:
        return False, f"the VMI {ns}/{name} does not exist", None
    status = vmi.get("status") or {}
    if status.get("phase") in m.FINAL_PHASES:
        return False, f"cannot migrate VMI {ns}/{name}: it is in the final phase {status['phase']}", None
    cond = next((c for c in status.get("conditions") or [] if c.get("type") == "LiveMigratable"), None)
    if cond and cond.get("status") == "False":
        return (
            False,
            f"cannot migrate VMI {ns}/{name}, reason: {cond.get('reason')}, message: {cond.get('message')}",
            None,
        )
    for other in cluster.list(R.VMIMS, ns):
        if (other.get("spec") or {}).get("vmiName") == name and (other.get("status") or {}).get(
            "phase"
        ) not in m.FINAL_PHASES:
            return False, f"VMI {ns}/{name} already has a migration in flight: {other['metadata']['name']}", None
    return True, "", None


WEBHOOKS = [
    {
        "kind": "mutating",
        "name": VM_MUTATOR_NAME,
        "path": VM_MUTATE_PATH,
        "rules": [
            {
                "apiGroups": ["kubevirt.io"],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["virtualmachines"],
                "scope": "Namespaced",
            }
        ],
    },
]
