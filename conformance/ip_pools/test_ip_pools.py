"""Section "Upgrade Guest Kubernetes Clusters to be Compatible with Harvester IP Pools": the IP
pools the load-balancer controller allocates from are consistent: ranges its allocator accepts
(LB `pkg/ipam/allocator.go` MakeRange, `pkg/webhook/ippool/validator.go`), allocations inside them,
unique and owned by existing load balancers, and counters that agree with them (LB
`pkg/ipam/store/store.go`, `pkg/controller/ippool/controller.go`; v0.2.3 … v1.8.2)."""

from __future__ import annotations

from harvester_conformance.checks import ip_pools as ipp
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("IPP-01")
def test_pool_ranges_are_valid(hc: RunContext) -> None:
    require(ipp.check_ranges(hc.snapshot.list(R.IPPOOLS)), "IPPool ranges the allocator refuses or that overlap")


@invariant("IPP-02")
def test_allocations_are_in_range_unique_and_owned(hc: RunContext) -> None:
    snap = hc.snapshot
    require(
        ipp.check_allocations(snap.list(R.IPPOOLS), snap.list(R.LOADBALANCERS)),
        "IPPool allocations outside their ranges, duplicated across pools or leaked",
    )


@invariant("IPP-04")
def test_pool_counters_agree_with_allocations(hc: RunContext) -> None:
    require(ipp.check_counters(hc.snapshot.list(R.IPPOOLS)), "IPPool counters disagree with ranges and allocations")
