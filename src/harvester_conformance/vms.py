"""Throw-away VMs for active tests: a VirtualMachine body that Harvester and KubeVirt accept (no
disks, so nothing to download or provision; limits only, as Harvester's UI writes them, so that
Harvester's mutator fills in the requests), created through a test's `Changes` in the run's own
namespace, and waits for its VMI and for migrations."""

from __future__ import annotations

import copy

from harvester_conformance.changes import Changes
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.waits import WaitTimeout, wait_for

FINAL_PHASES = ("Succeeded", "Failed")
CREATOR_LABEL = "harvesterhci.io/creator"
# The article's (vm-scheduling) rule: keep VMs made by Harvester apart, preferably.
ANTI_AFFINITY = {
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 100,
                "podAffinityTerm": {
                    "labelSelector": {"matchExpressions": [{"key": CREATOR_LABEL, "operator": "Exists"}]},
                    "topologyKey": "kubernetes.io/hostname",
                },
            }
        ]
    }
}


def vm_body(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    bridge: bool = False,
    affinity: dict | None = None,
    memory: str = "512Mi",
) -> dict:
    """A running VM with one NIC on the pod network: masquerade (live-migratable, method
    LiveMigration: no volume to copy) or bridge (not live-migratable: InterfaceNotLiveMigratable,
    KV `checkNetworkInterfacesForMigration`). `labels` go on the VMI (the template)."""
    binding = {"bridge": {}} if bridge else {"masquerade": {}}
    spec: dict = {
        "domain": {
            "cpu": {"cores": 1, "sockets": 1, "threads": 1},
            "resources": {"limits": {"cpu": "1", "memory": memory}},
            "devices": {"interfaces": [{"name": "default", "model": "virtio", **binding}]},
        },
        "evictionStrategy": "LiveMigrate",
        "terminationGracePeriodSeconds": 0,
        "networks": [{"name": "default", "pod": {}}],
    }
    if affinity:
        spec["affinity"] = copy.deepcopy(affinity)
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name},
        "spec": {
            "running": True,
            "template": {"metadata": {"labels": {"harvesterhci.io/vmName": name, **(labels or {})}}, "spec": spec},
        },
    }


def create(changes: Changes, body: dict) -> tuple[str, str]:
    """(namespace, name) of the VM created in the run's namespace, deleted at the end."""
    vm = changes.create(R.VMS, body)
    ns, name = vm["metadata"]["namespace"], vm["metadata"]["name"]
    changes.involve(R.VMIS, name, ns)
    return ns, name


def _settled(vmi: dict | None) -> dict | None:
    """The VMI once running on a node with its LiveMigratable condition reported."""
    st = (vmi or {}).get("status") or {}
    if st.get("phase") != "Running" or not st.get("nodeName"):
        return None
    if not any(c.get("type") == "LiveMigratable" for c in st.get("conditions") or []):
        return None
    return vmi


def wait_running(cl: Cluster, ns: str, name: str) -> dict:
    """The VMI, running and reported by virt-handler; WaitTimeout names what was last seen."""

    def describe() -> str:
        vmi = cl.get(R.VMIS, name, ns)
        st = (vmi or {}).get("status") or {}
        return f"VMI phase {st.get('phase')!r} on {st.get('nodeName')!r}" if vmi else "no VMI"

    return wait_for("vm-running", lambda: _settled(cl.get(R.VMIS, name, ns)), describe=describe)


def migration_body(name: str, vmi: str) -> dict:
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstanceMigration",
        "metadata": {"name": name},
        "spec": {"vmiName": vmi},
    }


def wait_final(cl: Cluster, ns: str, name: str) -> dict:
    """The migration once Succeeded or Failed."""

    def probe() -> dict | None:
        x = cl.get(R.VMIMS, name, ns)
        return x if ((x or {}).get("status") or {}).get("phase") in FINAL_PHASES else None

    def describe() -> str:
        x = cl.get(R.VMIMS, name, ns)
        return f"phase {((x or {}).get('status') or {}).get('phase')!r}" if x else "migration absent"

    return wait_for("migration-completed", probe, describe=describe)


__all__ = ["WaitTimeout", "create", "migration_body", "vm_body", "wait_final", "wait_running"]
