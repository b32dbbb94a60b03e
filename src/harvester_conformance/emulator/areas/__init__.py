"""The emulated cluster's behaviour by area, and the registry of areas and faults.

Each area module contributes, through the same six names, what the seed, the simulator and the
fault injector pick up:

- `seed(cl, spec, state_dir, progress)`: the profile's objects of that area (after the core seed)
- `ready(cl, spec) -> bool`: whether the area's seeded objects have settled (polled by `up`)
- `CONTROLLERS`: list of (name, factory(cluster, state_dir) -> reconcile(), tick in s[, ON_CHANGE]);
  with ON_CHANGE a tick is skipped while nothing it read last time has changed
- `WEBHOOKS`: list of webhook registrations (see `emulator.seed.register_webhooks`)
- `FAULTS`: list of `emulator.faults.Fault`
- `API_GROUPS`: list of (path prefix, serve_get(cluster, path, query, peer_cn, headers) -> (status,
  body)) for aggregated APIs the simulator serves behind an APIService

Adding an area is adding a module here and naming it in AREAS.

This package is the only place that knows every area: `manage`, the simulator and the CLI import
AREAS and FAULTS from here, while the building blocks the areas use (faults, seed, pki, clock, ...)
import no area, so that the import graph has no cycle (an import-linter contract keeps it so).
"""

from __future__ import annotations

from pathlib import Path

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import faults
from harvester_conformance.emulator.areas import (
    cloud_init_files,
    cluster_restart,
    cpu_models,
    csi_snapshots,
    disks_without_wwn,
    harvester_hosts,
    harvester_settings,
    ingress_nginx,
    kubevirt_certificates,
    kubevirt_workloads,
    longhorn,
    metrics_server,
    pod_security,
    trident,
    upgrade_hazards,
    velero_backups,
    volume_attachments,
)
from harvester_conformance.emulator.faults import Fault

# kubevirt_certificates first: its seed waits for virt-api, whose webhooks the apiserver calls for
# every KubeVirt object the later seeds write.
# Longhorn before the VMs, as on a real cluster: its manager provisions each VM's volume while
# the rest are still being created, where seeded after them it began on 2,000 volumes at once.
# volume_attachments before both: its seed is the external-attacher's role, which the attach flow
# needs from the first volume attached (granted later, the flow failed with 403 on every tick).
AREAS = (
    kubevirt_certificates,
    harvester_settings,
    volume_attachments,
    longhorn,
    kubevirt_workloads,
    harvester_hosts,
    metrics_server,
    trident,
    upgrade_hazards,
    cluster_restart,
    ingress_nginx,
    pod_security,
    disks_without_wwn,
    cloud_init_files,
    cpu_models,
    velero_backups,
    csi_snapshots,
)


def _collect(groups: list[list[Fault]]) -> dict[str, Fault]:
    """Every fault by invariant ID; two faults for one invariant are a mistake caught at import."""
    every: dict[str, Fault] = {}
    for group in groups:
        for fault in group:
            if fault.id in every:
                raise ValueError(f"two faults for {fault.id}")
            every[fault.id] = fault
    return every


FAULTS: dict[str, Fault] = _collect([list(area.FAULTS) for area in AREAS])


class UnknownFault(Exception):
    """An invariant ID with no fault: a usage error (exit code 2), with the reason where one is known."""

    def __init__(self, fault_id: str) -> None:
        why = f" ({faults.WITHOUT_FAULT[fault_id]})" if fault_id in faults.WITHOUT_FAULT else ""
        super().__init__(f"no fault for {fault_id!r}{why}; faults exist for: {', '.join(sorted(FAULTS))}")


class FaultNotApplicable(UnknownFault):
    """A fault whose failure the running release does not admit (`Fault.releases`): a usage error too."""

    def __init__(self, fault: Fault, harvester: str) -> None:
        Exception.__init__(self, f"fault {fault.id} cannot be set up on Harvester {harvester}: {fault.why_not}")


def all_faults() -> dict[str, Fault]:
    """FAULTS, for callers that look faults up through a function."""
    return FAULTS


def _run(fault_id: str, kubeconfig: Path, revert: bool) -> str:
    if fault_id not in FAULTS:
        raise UnknownFault(fault_id)
    fault = FAULTS[fault_id]
    cl = Cluster.from_kubeconfig(str(kubeconfig))
    try:
        harvester = (cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value") or "dev"
        if not fault.applies_to(harvester):
            if revert:  # nothing was injected
                return f"{fault_id}: nothing to revert ({fault.why_not})"
            raise FaultNotApplicable(fault, harvester)
        (fault.revert if revert else fault.inject)(cl)
    finally:
        cl.close()
    return f"{fault_id}: {'reverted' if revert else 'injected'} ({fault.how})"


def inject(fault_id: str, kubeconfig: Path) -> str:
    """Inject the fault of `fault_id` into the cluster of `kubeconfig`; returns a line for the user."""
    return _run(fault_id, kubeconfig, revert=False)


def revert(fault_id: str, kubeconfig: Path) -> str:
    """Undo the fault of `fault_id`; returns a line for the user."""
    return _run(fault_id, kubeconfig, revert=True)
