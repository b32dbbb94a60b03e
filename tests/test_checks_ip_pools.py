"""IP-pool checks (IPP-01..05, IPP-07's comparison) on plain dicts."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import ip_pools as ipp


def pool(name: str, ranges: list[dict], status: dict | None = None, labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"ranges": ranges}, "status": status or {}}


def lb(name: str, pool_name: str | None = None, ip: str | None = None, ns: str = "default", mode: str = "pool") -> dict:
    dhcp = {"ip": "0.0.0.0"}  # noqa: S104 - LB's address of a DHCP load balancer
    addr = {"ipPool": pool_name, "ip": ip} if pool_name else (dhcp if mode == "dhcp" else {})
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"ipam": mode}, "status": {"allocatedAddress": addr}}


DEFAULT = {"subnet": "192.0.2.128/26", "rangeStart": "192.0.2.129", "rangeEnd": "192.0.2.190", "gateway": "192.0.2.129"}
GUEST = {"subnet": "198.51.100.0/24"}


# -- ranges ---------------------------------------------------------------------------------------
def test_range_defaults_follow_make_range() -> None:
    r = ipp.make_range(GUEST)
    assert (str(r.start), str(r.end), str(r.gateway), r.size) == ("198.51.100.1", "198.51.100.254", "198.51.100.1", 253)
    assert ipp.make_range(DEFAULT).size == 61  # .129-.190 less the gateway .129
    single = ipp.make_range({"subnet": "203.0.113.7/32"})
    assert (str(single.start), str(single.end), single.gateway, single.size) == ("203.0.113.7", "203.0.113.7", None, 1)
    v6 = ipp.make_range({"subnet": "2001:db8::/126"})
    assert (str(v6.start), str(v6.end), v6.size) == ("2001:db8::1", "2001:db8::3", 2)


def test_reversed_start_and_end_are_swapped_not_refused() -> None:
    r = ipp.make_range({"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.20", "rangeEnd": "10.0.0.10"})
    assert (str(r.start), str(r.end)) == ("10.0.0.10", "10.0.0.20")
    assert (
        ipp.check_ranges([pool("p", [{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.20", "rangeEnd": "10.0.0.10"}])])
        == []
    )


@pytest.mark.parametrize(
    ("r", "why"),
    [
        ({"subnet": "203.0.113.0/28", "rangeStart": "203.0.113.20", "rangeEnd": "203.0.113.14"}, "outside subnet"),
        ({"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.0"}, "network address"),
        ({"subnet": "10.0.0.0/24", "rangeEnd": "10.0.0.255"}, "broadcast address"),
        ({"subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}, "outside subnet"),
        ({"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.x"}, "not an IP"),
        ({"subnet": "10.0.300.0/24"}, "not a CIDR"),
        ({"rangeStart": "10.0.0.1"}, "not a CIDR"),
        ({"subnet": "10.0.0.0/24", "rangeStart": "2001:db8::1"}, "outside subnet"),
    ],
)
def test_invalid_range_is_found(r: dict, why: str) -> None:
    found = ipp.check_ranges([pool("ipp01-stale", [r]), pool("ok", [GUEST])])
    assert [f.object for f in found] == ["IPPool ipp01-stale"]
    assert why in found[0].message


def test_empty_and_overlapping_ranges_are_found() -> None:
    found = ipp.check_ranges(
        [
            pool("empty", []),
            pool("self", [{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.0.100"}, {"subnet": "10.0.0.0/25"}]),
            pool("a", [{"subnet": "172.16.0.0/24"}]),
            pool("b", [{"subnet": "172.16.0.0/16", "rangeStart": "172.16.0.200", "rangeEnd": "172.16.1.10"}]),
            pool("c", [{"subnet": "172.16.0.0/16", "rangeStart": "172.16.2.1", "rangeEnd": "172.16.2.9"}]),
        ]
    )
    assert sorted(f.object for f in found) == ["IPPool a", "IPPool b", "IPPool empty", "IPPool self"]


def test_healthy_pools_pass_every_read_only_check() -> None:
    pools = [
        pool(
            "default-pool",
            [DEFAULT],
            {
                "total": 61,
                "available": 59,
                "lastAllocated": "192.0.2.131",
                "allocated": {"192.0.2.130": "default/vm-web", "192.0.2.131": "default/vm-dns"},
                "allocatedHistory": {"192.0.2.132": "default/vm-temp"},
            },
        ),
        pool("guest-pool", [GUEST], {"total": 253, "available": 252, "allocated": {"198.51.100.2": "default/g"}}),
    ]
    lbs = [
        lb("vm-web", "default-pool", "192.0.2.130"),
        lb("vm-dns", "default-pool", "192.0.2.131"),
        lb("g", "guest-pool", "198.51.100.2"),
    ]
    assert ipp.check_ranges(pools) == []
    assert ipp.check_allocations(pools, lbs) == []
    assert ipp.check_history(pools, lbs) == []
    assert ipp.check_counters(pools) == []


# -- allocations ----------------------------------------------------------------------------------
def test_stale_allocation_in_another_pool_names_that_pool_only() -> None:
    pools = [
        pool("default-pool", [DEFAULT], {"allocated": {"192.0.2.130": "default/vm-web"}}),
        pool("guest-pool", [GUEST], {"allocated": {"192.0.2.130": "default/vm-web", "198.51.100.2": "default/g"}}),
    ]
    lbs = [lb("vm-web", "default-pool", "192.0.2.130"), lb("g", "guest-pool", "198.51.100.2")]
    found = ipp.check_allocations(pools, lbs)
    assert {f.object for f in found} == {"IPPool guest-pool"}
    assert any("outside the ranges" in f.message for f in found)
    assert any("more than one pool" in f.message for f in found)


def test_duplicate_without_a_genuine_holder_names_every_pool() -> None:
    pools = [
        pool("a", [{"subnet": "10.0.0.0/24"}], {"allocated": {"10.0.0.5": "x/one"}}),
        pool("b", [{"subnet": "10.0.0.0/16", "rangeStart": "10.0.0.1"}], {"allocated": {"10.0.0.5": "x/two"}}),
    ]
    found = ipp.check_allocations(pools, [lb("one", ns="x"), lb("two", ns="x")])
    assert sorted(f.object for f in found) == ["IPPool a", "IPPool b"]


def test_leaked_and_malformed_allocations_are_found() -> None:
    pools = [pool("p", [GUEST], {"allocated": {"198.51.100.9": "default/gone", "bogus": "default/g"}})]
    found = ipp.check_allocations(pools, [lb("g", "p", "198.51.100.2")])
    assert len(found) == 2 and {f.object for f in found} == {"IPPool p"}
    assert any("no LoadBalancer default/gone exists" in f.message for f in found)


# -- history --------------------------------------------------------------------------------------
def test_lb_holding_another_ip_than_its_history_is_found() -> None:
    nginx = "rke2-guest-default-nginx-1a2b3c4d"
    pools = [
        pool(
            "guest-pool",
            [GUEST],
            {
                "allocated": {"198.51.100.7": f"default/{nginx}"},
                "allocatedHistory": {"198.51.100.2": f"default/{nginx}"},
            },
        )
    ]
    found = ipp.check_history(pools, [lb(nginx, "guest-pool", "198.51.100.7")])
    assert [f.object for f in found] == [f"LoadBalancer default/{nginx}"]
    assert "198.51.100.2" in found[0].message and "198.51.100.7" in found[0].message


def test_history_of_other_pool_dhcp_or_absent_lb_is_not_compared() -> None:
    history = {
        "allocatedHistory": {
            "198.51.100.2": "default/moved",
            "198.51.100.3": "default/dhcp",
            "198.51.100.4": "default/gone",
        }
    }
    pools = [pool("guest-pool", [GUEST], history)]
    lbs = [lb("moved", "other-pool", "10.0.0.9"), lb("dhcp", mode="dhcp")]
    assert ipp.check_history(pools, lbs) == []


def test_history_outside_ranges_or_also_allocated_is_found() -> None:
    pools = [
        pool(
            "p",
            [GUEST],
            {
                "allocated": {"198.51.100.5": "default/a"},
                "allocatedHistory": {"10.9.9.9": "default/x", "198.51.100.5": "default/y", "junk": "default/z"},
            },
        )
    ]
    found = ipp.check_history(pools, [lb("a", "p", "198.51.100.5")])
    assert len(found) == 3 and {f.object for f in found} == {"IPPool p"}


# -- counters -------------------------------------------------------------------------------------
def test_counters() -> None:
    good = pool("good", [DEFAULT], {"total": 61, "available": 60, "allocated": {"192.0.2.130": "d/a"}})
    off = pool("default-pool", [DEFAULT], {"total": 61, "available": 63, "allocated": {"192.0.2.130": "d/a"}})
    wrong_total = pool("t", [GUEST], {"total": 254, "available": 254})
    uncounted = pool("u", [GUEST])
    invalid = pool("ipp01-stale", [{"subnet": "203.0.113.0/28", "rangeStart": "203.0.113.20"}])  # IPP-01's finding
    found = ipp.check_counters([good, off, wrong_total, uncounted, invalid])
    assert [f.object for f in found] == ["IPPool default-pool", "IPPool t", "IPPool u"]
    assert "expected total 61 - 1 allocated = 60" in found[0].message


# -- guest DHCP services --------------------------------------------------------------------------
def svc(name: str, annotations: dict, ingress: str | None = None, kind: str = "LoadBalancer") -> dict:
    status = {"loadBalancer": {"ingress": [{"ip": ingress}]}} if ingress else {}
    return {
        "metadata": {"name": name, "namespace": "rke2-guest", "annotations": annotations},
        "spec": {"type": kind},
        "status": status,
    }


def test_guest_dhcp_services() -> None:
    dhcp = {ipp.IPAM_ANNOTATION: "dhcp"}
    prepared = {**dhcp, ipp.HWADDR_ANNOTATION: "00:16:3e:5a:11:07", ipp.REQUESTED_IP_ANNOTATION: "192.0.2.200"}
    services = [
        svc("ingress", prepared, "192.0.2.200"),
        svc("nginx", {ipp.IPAM_ANNOTATION: "pool"}, "198.51.100.2"),
        svc("plain", {}, "198.51.100.3"),
        svc("cluster-ip", dhcp, kind="ClusterIP"),
        svc("bare", dhcp, "192.0.2.201"),
        svc("bad", {**dhcp, ipp.HWADDR_ANNOTATION: "zz", ipp.REQUESTED_IP_ANNOTATION: "nope"}),
        svc("moved", {**prepared}, "192.0.2.222"),
    ]
    found = ipp.check_guest_dhcp_services(services)
    assert [f.object for f in found] == [
        "Service rke2-guest/bare",
        "Service rke2-guest/bad",
        "Service rke2-guest/moved",
    ]
    assert ipp.HWADDR_ANNOTATION in found[0].message and ipp.REQUESTED_IP_ANNOTATION in found[0].message
    assert "not its ingress IP 192.0.2.222" in found[2].message


# -- IPP-07 ---------------------------------------------------------------------------------------
def test_exercisable_pools_prefer_global_and_need_two_free() -> None:
    pools = [
        pool("b", [GUEST], {"available": 10}),
        pool("a-global", [DEFAULT], {"available": 2}, labels={ipp.GLOBAL_LABEL: "true"}),
        pool("full", [GUEST], {"available": 1}),
        pool("invalid", [{"subnet": "nope"}], {"available": 9}),
    ]
    assert [p["metadata"]["name"] for p in ipp.exercisable_pools(pools)] == ["a-global", "b"]


def test_reacquired() -> None:
    assert ipp.check_reacquired("p", "ns/lb", "10.0.0.5", "10.0.0.5", None) is None
    assert ipp.check_reacquired("p", "ns/lb", "10.0.0.5", "10.0.0.6", "other/lb") is None
    found = ipp.check_reacquired("default-pool", "ns/lb", "10.0.0.5", "10.0.0.6", None)
    assert found is not None and found.object == "IPPool default-pool"
    assert "10.0.0.6, not its previous 10.0.0.5 (allocatedHistory recorded" in found.message
    unrecorded = ipp.check_reacquired("p", "ns/lb", "10.0.0.5", "10.0.0.6", None, recorded=False)
    assert unrecorded is not None and "left no allocatedHistory entry" in unrecorded.message
