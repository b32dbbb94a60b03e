"""The article's warning: VMs with PCI, USB or vGPU devices fail to start under `baseline` (their
launcher needs SYS_RESOURCE; harvester issue 8218, fixed in v1.4.3 and v1.5.1). On the affected
releases no such VM sits in a namespace that enforces baseline or restricted, by its label or by
the cluster-wide default in force."""

from __future__ import annotations

from harvester_conformance.checks import pod_security as pss
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require

from .conftest import default_in_force


@invariant("PSS-01")
def test_vms_with_host_devices_run_where_baseline_is_not_enforced(hc: RunContext) -> None:
    snap = hc.snapshot
    namespaces = {n["metadata"]["name"]: n for n in snap.list(R.NAMESPACES)}
    default = default_in_force(hc)
    require(
        pss.check_host_device_vms(snap.list(R.VMS), namespaces, default),
        f"VMs with host devices under a policy that refuses their launcher (Harvester {hc.release.rules_from}, "
        f"cluster-wide default: {default.enforce} from {default.source})",
    )
