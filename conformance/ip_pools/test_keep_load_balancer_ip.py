"""Section "Steps to Keep Load Balancer IP": what keeps a load balancer's IP across the guest
cluster's upgrade. Pool mode: the pool's allocatedHistory, which LB's allocator consults first
(LB `pkg/ipam/allocator.go` Allocator.Get, `pkg/ipam/store/store.go` Release/Reserve,
v0.2.3 … v1.8.2). DHCP mode: the kube-vip annotations the article's keepip.sh before_upgrade
copies onto the guest's Services (harvester/harvesterhci.io `kb/2023-08-21/keepip.sh`)."""

from __future__ import annotations

import pytest

from harvester_conformance.changes import Changes
from harvester_conformance.checks import ip_pools as ipp
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.cluster.reads import GUEST
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, Violation, require
from harvester_conformance.waits import WaitTimeout, wait_for

LB_PREFIX = "hc-ipp07"


@invariant("IPP-03")
def test_history_is_consistent(hc: RunContext) -> None:
    snap = hc.snapshot
    require(
        ipp.check_history(snap.list(R.IPPOOLS), snap.list(R.LOADBALANCERS)),
        "IPPool allocation history outside the ranges or contradicted by the load balancers",
    )


@invariant("IPP-05")
def test_guest_dhcp_services_are_prepared(hc: RunContext, guest_cluster: Cluster) -> None:
    require(
        ipp.check_guest_dhcp_services(hc.snapshot.list(R.SERVICES, cluster=GUEST)),
        "guest-cluster DHCP load balancers without the kube-vip annotations that keep their IP",
    )


def _body(name: str, pool: str) -> dict:
    """A guest-cluster-type load balancer pinned to `pool` (spec.ipPool bypasses the selector in
    LB controller/loadbalancer allocateIPFromPool): it needs no backend VM or Service."""
    return {
        "apiVersion": R.LOADBALANCERS.api_version,
        "kind": R.LOADBALANCERS.kind,
        "metadata": {"name": name},
        "spec": {
            "description": "harvester-conformance IPP-07: deleted and created again under the same name",
            "workloadType": "cluster",
            "ipam": "pool",
            "ipPool": pool,
            "listeners": [{"name": "http", "port": 80, "protocol": "TCP", "backendPort": 8080}],
        },
    }


def _held(cl: Cluster, ns: str, name: str, pool: str) -> str | None:
    addr = ((cl.get(R.LOADBALANCERS, name, ns) or {}).get("status") or {}).get("allocatedAddress") or {}
    return addr.get("ip") if addr.get("ipPool") == pool and addr.get("ip") else None


def _allocated(cl: Cluster, pool: str) -> dict:
    return ((cl.get(R.IPPOOLS, pool) or {}).get("status") or {}).get("allocated") or {}


def _wait_ips(cl: Cluster, ns: str, lbs: dict[str, str]) -> dict[str, str | None]:
    """pool -> the IP its load balancer got (None for those that got none in time)."""
    got: dict[str, str | None] = dict.fromkeys(lbs)

    def all_held() -> bool:
        for pool, name in lbs.items():
            got[pool] = got[pool] or _held(cl, ns, name, pool)
        return all(got.values())

    try:
        wait_for("loadbalancer-ip-assigned", all_held, describe=lambda: got)
    except WaitTimeout:
        pass
    return got


@invariant("IPP-07")
def test_recreated_load_balancer_gets_its_ip_back(hc: RunContext, changes: Changes) -> None:
    cl = hc.cluster
    pools = [p["metadata"]["name"] for p in ipp.exercisable_pools(cl.list(R.IPPOOLS))]
    if not pools:
        pytest.skip("not applicable: no IPPool with valid ranges and two free addresses to tell history from chance")
    ns = changes.namespace()
    lbs = {pool: f"{LB_PREFIX}-{i}" for i, pool in enumerate(pools)}
    for pool, name in lbs.items():
        changes.create(R.LOADBALANCERS, _body(name, pool))
    first = _wait_ips(cl, ns, lbs)
    missing = [f"LoadBalancer {ns}/{lbs[p]} (pool {p})" for p, ip in first.items() if ip is None]
    if missing:
        raise Broken(f"no address allocated to {', '.join(missing)}: the re-acquisition cannot be exercised")
    for name in lbs.values():
        cl.delete(R.LOADBALANCERS, name, ns)

    def released() -> bool:
        return all(
            cl.get(R.LOADBALANCERS, name, ns) is None and _allocated(cl, pool).get(first[pool]) != f"{ns}/{name}"
            for pool, name in lbs.items()
        )

    try:
        wait_for("object-deleted", released)
    except WaitTimeout as exc:
        raise Violation(
            f"the deleted load balancers' IPs were not released: {exc}",
            [f"IPPool {p}" for p in pools],
        ) from None
    recorded = {
        pool: ((cl.get(R.IPPOOLS, pool) or {}).get("status") or {}).get("allocatedHistory", {}).get(first[pool] or "")
        == f"{ns}/{name}"
        for pool, name in lbs.items()
    }
    for pool, name in lbs.items():
        changes.create(R.LOADBALANCERS, _body(name, pool))
    second = _wait_ips(cl, ns, lbs)
    findings: list[Finding] = []
    taken: list[str] = []
    for pool, name in lbs.items():
        ref = f"{ns}/{name}"
        if second[pool] is None:
            findings.append(
                Finding(f"IPPool {pool}", f"LoadBalancer {ref} created again got no address (it had {first[pool]})")
            )
            continue
        holder = _allocated(cl, pool).get(first[pool] or "")
        other = holder if holder not in (None, ref) else None
        if other is not None and second[pool] != first[pool]:
            taken.append(f"{first[pool]} of IPPool {pool} was taken by {other} in between")
        found = ipp.check_reacquired(pool, ref, first[pool] or "", second[pool] or "", other, recorded[pool])
        if found is not None:
            findings.append(found)
    require(findings, "a pool-mode load balancer created again did not get its previous IP back")
    if taken:
        raise Broken("not evaluated: " + "; ".join(taken))
