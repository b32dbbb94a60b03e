"""Harvester IP pools and load balancers (article "Upgrade Guest Kubernetes Clusters to be
Compatible with Harvester IP Pools"): the pools' ranges, allocations, history and counters as the
load-balancer controller keeps them, and the guest cluster's DHCP Services prepared for upgrade.

Upstream (harvester/load-balancer-harvester, the same at v0.2.3, v0.3.0, v0.4.4 and v1.5.0 …
v1.8.2, the LB releases of the profiles v1.2.1 … v1.8.2, apart from messages):
- `pkg/ipam/allocator.go` MakeRange/parseIP/countIP: a range's subnet is a CIDR; rangeStart,
  rangeEnd and gateway default to network+1, the last usable address and network+1 (an IPv4 /32 is
  one address without gateway); an explicit one must lie in the subnet and be neither its network
  nor its broadcast address; a reversed start/end is swapped (so it is no error); a range counts
  end - start + 1 addresses, one fewer when the gateway lies in it. Allocator.Get gives an
  applicant the IP its allocatedHistory entry records first.
- `pkg/ipam/store/store.go`: Reserve adds allocated[ip] = applicant, removes ip from
  allocatedHistory and decrements available; Release/ReleaseByID move the entry to
  allocatedHistory and increment available.
- `pkg/controller/ippool/controller.go` updateStatus: when the allocator is (re)built, total is
  recounted, available = total - len(allocated), and history entries outside the ranges dropped.
- `pkg/webhook/ippool/validator.go`: ranges non-empty, each range valid (MakeRange), no overlap
  within a pool or with another pool, and on update every allocated IP inside the ranges.
- `pkg/controller/loadbalancer/controller.go`: the applicant of a load balancer is
  `<namespace>/<name>`; `spec.ipam: dhcp` asks DHCP, anything else allocates from a pool.
Guest cluster (harvester/cloud-provider-harvester `pkg/utils/consts.go`, `loadbalancer.go` @v0.2.7,
and the article's keepip.sh, harvester/harvesterhci.io `kb/2023-08-21/keepip.sh`): a Service's
mode is its `cloudprovider.harvesterhci.io/ipam` annotation (pool when absent); before_upgrade copies
`kube-vip.io/hwaddr` and `kube-vip.io/requestedIP` onto each DHCP Service so that kube-vip asks for
the same lease once the load balancer is re-created under the new name.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from harvester_conformance.checks.findings import Finding

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DHCP = "dhcp"
IPAM_ANNOTATION = "cloudprovider.harvesterhci.io/ipam"
HWADDR_ANNOTATION = "kube-vip.io/hwaddr"
REQUESTED_IP_ANNOTATION = "kube-vip.io/requestedIP"
GLOBAL_LABEL = "loadbalancer.harvesterhci.io/global-ip-pool"
MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


@dataclass(frozen=True)
class Range:
    """One of a pool's ranges with LB's defaults applied (MakeRange)."""

    net: Network
    start: Address
    end: Address
    gateway: Address | None

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, type(self.start)) and ip in self.net and self.start <= ip <= self.end

    @property
    def size(self) -> int:
        n = int(self.end) - int(self.start) + 1
        return n - (1 if self.gateway is not None and self.gateway in self else 0)

    def overlaps(self, other: Range) -> bool:
        return self.start.version == other.start.version and self.start <= other.end and other.start <= self.end

    def __str__(self) -> str:
        return f"{self.start}-{self.end} ({self.net})"


def make_range(r: dict) -> Range:
    """A range as LB's MakeRange builds it; ValueError says why LB refuses it."""
    try:
        net = ipaddress.ip_network(str(r.get("subnet") or ""), strict=False)
    except ValueError:
        raise ValueError(f"subnet {r.get('subnet')!r} is not a CIDR") from None
    p2p = net.version == 4 and net.prefixlen == 32
    if p2p:
        first = last = net.network_address
        gateway_default = None
    else:
        first = net.network_address + 1
        last = net.broadcast_address - 1 if net.version == 4 else net.broadcast_address
        gateway_default = net.network_address + 1

    def explicit(field: str, default: Address | None) -> Address | None:
        text = r.get(field) or ""
        if not text:
            return default
        try:
            ip = ipaddress.ip_address(str(text))
        except ValueError:
            raise ValueError(f"{field} {text!r} is not an IP address") from None
        if ip.version != net.version or ip not in net:
            raise ValueError(f"{field} {ip} is outside subnet {net}")
        if ip == net.network_address:
            raise ValueError(f"{field} {ip} is the network address of {net}")
        if ip == net.broadcast_address:
            raise ValueError(f"{field} {ip} is the broadcast address of {net}")
        return ip

    start, end = explicit("rangeStart", first), explicit("rangeEnd", last)
    gateway = explicit("gateway", gateway_default)
    assert start is not None and end is not None
    if start > end:  # MakeRange swaps them
        start, end = end, start
    return Range(net, start, end, gateway)


def pool_ranges(pool: dict) -> list[Range]:
    """The pool's ranges (ValueError when empty or one is invalid, as NewAllocator fails)."""
    ranges = (pool.get("spec") or {}).get("ranges") or []
    if not ranges:
        raise ValueError("spec.ranges is empty")
    return [make_range(r) for r in ranges]


def _ranges_or_none(pool: dict) -> list[Range] | None:
    try:
        return pool_ranges(pool)
    except ValueError:
        return None  # IPP-01's finding


def _ip(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        return None


def _in(ip: Address, ranges: list[Range]) -> bool:
    return any(ip in r for r in ranges)


def _name(obj: dict) -> str:
    return obj["metadata"]["name"]


def pool_ref(pool: dict) -> str:
    return f"IPPool {_name(pool)}"


def _status(pool: dict) -> dict:
    return pool.get("status") or {}


def _lbs_by_applicant(lbs: Iterable[dict]) -> dict[str, dict]:
    return {f"{lb['metadata'].get('namespace', '')}/{_name(lb)}": lb for lb in lbs}


def _allocated_address(lb: dict) -> dict:
    return (lb.get("status") or {}).get("allocatedAddress") or {}


def is_pool_mode(lb: dict) -> bool:
    return ((lb.get("spec") or {}).get("ipam") or "pool") != DHCP


# -- IPP-01 ---------------------------------------------------------------------------------------
def check_ranges(pools: list[dict]) -> list[Finding]:
    """Every pool has ranges that LB's allocator accepts, none overlapping another (the webhook's
    rules; a pool that breaks them was written past the webhook and gets no allocator)."""
    out: list[Finding] = []
    parsed: dict[str, list[Range]] = {}
    for pool in pools:
        ranges = (pool.get("spec") or {}).get("ranges") or []
        if not ranges:
            out.append(Finding(pool_ref(pool), "spec.ranges is empty; expected at least one range"))
            continue
        good: list[Range] = []
        for i, r in enumerate(ranges):
            try:
                good.append(make_range(r))
            except ValueError as exc:
                out.append(
                    Finding(
                        pool_ref(pool),
                        f"spec.ranges[{i}] {_show(r)}: {exc}; expected rangeStart, rangeEnd and gateway "
                        "inside the subnet, neither its network nor its broadcast address",
                    )
                )
        for i, a in enumerate(good):
            for b in good[i + 1 :]:
                if a.overlaps(b):
                    out.append(Finding(pool_ref(pool), f"ranges {a} and {b} overlap; expected disjoint ranges"))
        parsed[_name(pool)] = good
    names = list(parsed)
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            for a in parsed[x]:
                for b in parsed[y]:
                    if a.overlaps(b):
                        msg = "; expected pools with disjoint ranges"
                        out.append(Finding(f"IPPool {x}", f"range {a} overlaps range {b} of IPPool {y}{msg}"))
                        out.append(Finding(f"IPPool {y}", f"range {b} overlaps range {a} of IPPool {x}{msg}"))
    return out


def _show(r: dict) -> str:
    return "{" + ", ".join(f"{k}: {r[k]}" for k in ("subnet", "rangeStart", "rangeEnd", "gateway") if r.get(k)) + "}"


# -- IPP-02 ---------------------------------------------------------------------------------------
def check_allocations(pools: list[dict], lbs: list[dict]) -> list[Finding]:
    """Each allocated IP is a valid address in its pool's ranges, allocated in one pool only, to
    an applicant `<namespace>/<name>` whose LoadBalancer exists. Where pools share an IP, the pool
    the load balancer's status.allocatedAddress names is the genuine one; the others are named."""
    out: list[Finding] = []
    by_applicant = _lbs_by_applicant(lbs)
    holders: dict[Address, list[tuple[dict, str]]] = {}
    for pool in pools:
        ranges = _ranges_or_none(pool)
        for text, applicant in sorted((_status(pool).get("allocated") or {}).items()):
            ip = _ip(text)
            if ip is None:
                out.append(Finding(pool_ref(pool), f"allocated key {text!r} (to {applicant}) is not an IP address"))
                continue
            holders.setdefault(ip, []).append((pool, applicant))
            if ranges is not None and not _in(ip, ranges):
                within = ", ".join(str(r) for r in ranges)
                out.append(
                    Finding(pool_ref(pool), f"allocated IP {ip} (to {applicant}) lies outside the ranges {within}")
                )
            if applicant not in by_applicant:
                out.append(
                    Finding(
                        pool_ref(pool),
                        f"allocated IP {ip} belongs to {applicant!r}, but no LoadBalancer {applicant} exists "
                        "(a leaked allocation)",
                    )
                )
    for ip, held in holders.items():
        if len(held) < 2:
            continue
        genuine = [
            pool
            for pool, applicant in held
            if (addr := _allocated_address(by_applicant.get(applicant) or {})).get("ipPool") == _name(pool)
            and _ip(addr.get("ip") or "") == ip
        ]
        where = ", ".join(f"{_name(p)} (to {a})" for p, a in held)
        for pool, _ in held:
            if pool not in genuine or len(genuine) > 1:
                out.append(Finding(pool_ref(pool), f"IP {ip} is allocated in more than one pool: {where}"))
    return out


# -- IPP-03 ---------------------------------------------------------------------------------------
def check_history(pools: list[dict], lbs: list[dict]) -> list[Finding]:
    """Each allocatedHistory entry is a valid IP inside the pool's ranges and not allocated (Reserve
    removes it from the history); a pool-mode LoadBalancer that the history records, and that holds
    an IP from the same pool, holds the recorded one (Allocator.Get would have given it back)."""
    out: list[Finding] = []
    by_applicant = _lbs_by_applicant(lbs)
    for pool in pools:
        ranges = _ranges_or_none(pool)
        status = _status(pool)
        allocated = {_ip(k): v for k, v in (status.get("allocated") or {}).items()}
        for text, applicant in sorted((status.get("allocatedHistory") or {}).items()):
            ip = _ip(text)
            if ip is None:
                out.append(Finding(pool_ref(pool), f"allocatedHistory key {text!r} (for {applicant}) is not an IP"))
                continue
            if ranges is not None and not _in(ip, ranges):
                within = ", ".join(str(r) for r in ranges)
                out.append(
                    Finding(
                        pool_ref(pool),
                        f"allocatedHistory IP {ip} (for {applicant}) lies outside the ranges {within}; "
                        "the controller keeps only IPs inside them",
                    )
                )
            if ip in allocated:
                out.append(
                    Finding(
                        pool_ref(pool),
                        f"IP {ip} is both in allocatedHistory (for {applicant}) and allocated (to {allocated[ip]})",
                    )
                )
            lb = by_applicant.get(applicant)
            if lb is None or not is_pool_mode(lb):
                continue
            addr = _allocated_address(lb)
            held = _ip(addr.get("ip") or "")
            if addr.get("ipPool") == _name(pool) and held is not None and held != ip:
                out.append(
                    Finding(
                        f"LoadBalancer {applicant}",
                        f"holds {held} from IPPool {_name(pool)}, whose allocatedHistory records {ip} for it; "
                        "expected the recorded IP (the keep-IP step must come before the load balancer is "
                        "created again)",
                    )
                )
    return out


# -- IPP-04 ---------------------------------------------------------------------------------------
def check_counters(pools: list[dict]) -> list[Finding]:
    """status.total is the count of the ranges and status.available = total - len(allocated), for
    every pool the controller can build an allocator for."""
    out: list[Finding] = []
    for pool in pools:
        ranges = _ranges_or_none(pool)
        if ranges is None:
            continue
        status = _status(pool)
        allocated = len(status.get("allocated") or {})
        expected_total = sum(r.size for r in ranges)
        if "total" not in status or "available" not in status:
            out.append(
                Finding(pool_ref(pool), "status.total or status.available is missing: the pool was never counted")
            )
            continue
        total, available = int(status["total"]), int(status["available"])
        if total != expected_total:
            out.append(Finding(pool_ref(pool), f"status.total is {total}, but its ranges hold {expected_total}"))
        if available != total - allocated:
            out.append(
                Finding(
                    pool_ref(pool),
                    f"status.available is {available}, expected total {total} - {allocated} allocated = "
                    f"{total - allocated}",
                )
            )
    return out


# -- IPP-05 ---------------------------------------------------------------------------------------
def check_guest_dhcp_services(services: list[dict]) -> list[Finding]:
    """Every guest LoadBalancer Service in DHCP mode carries kube-vip.io/hwaddr (a MAC) and
    kube-vip.io/requestedIP (an IP, its current ingress IP when it has one), as keepip.sh
    before_upgrade leaves it."""
    out: list[Finding] = []
    for svc in services:
        if (svc.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        meta = svc["metadata"]
        ann = meta.get("annotations") or {}
        if ann.get(IPAM_ANNOTATION) != DHCP:
            continue
        ref = f"Service {meta.get('namespace', '')}/{meta['name']}"
        problems = []
        hwaddr, requested = ann.get(HWADDR_ANNOTATION) or "", ann.get(REQUESTED_IP_ANNOTATION) or ""
        if not hwaddr:
            problems.append(f"no {HWADDR_ANNOTATION}")
        elif not MAC.match(hwaddr):
            problems.append(f"{HWADDR_ANNOTATION} {hwaddr!r} is not a MAC address")
        if not requested:
            problems.append(f"no {REQUESTED_IP_ANNOTATION}")
        elif _ip(requested) is None:
            problems.append(f"{REQUESTED_IP_ANNOTATION} {requested!r} is not an IP address")
        else:
            ingress = [i.get("ip") for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
            ingress = [i for i in ingress if i]
            if ingress and _ip(requested) not in {_ip(i) for i in ingress}:
                problems.append(f"{REQUESTED_IP_ANNOTATION} {requested} is not its ingress IP {', '.join(ingress)}")
        if problems:
            out.append(
                Finding(
                    ref,
                    "DHCP-mode load balancer not prepared for upgrade: "
                    + "; ".join(problems)
                    + " (its IP would change when the load balancer is re-created)",
                )
            )
    return out


# -- IPP-07 ---------------------------------------------------------------------------------------
def exercisable_pools(pools: list[dict]) -> list[dict]:
    """Pools where a delete-and-recreate can tell history from chance: a valid allocator and at
    least two free addresses (with one, any allocator hands the same IP back). The global pool first."""
    usable = [
        p
        for p in pools
        if not (p["metadata"].get("deletionTimestamp"))
        and _ranges_or_none(p) is not None
        and int(_status(p).get("available") or 0) >= 2
    ]
    return sorted(usable, key=lambda p: ((p["metadata"].get("labels") or {}).get(GLOBAL_LABEL) != "true", _name(p)))


def check_reacquired(
    pool: str, lb: str, first: str, second: str, taken_by: str | None, recorded: bool = True
) -> Finding | None:
    """A pool-mode load balancer created again under its name gets `first` back; `taken_by` is who
    holds `first` now, if another applicant took it in between (then it cannot come back);
    `recorded` tells whether the release left `first` in allocatedHistory for it."""
    if _ip(first) == _ip(second) or taken_by is not None:
        return None
    history = (
        f"allocatedHistory recorded {first} for it after the delete"
        if recorded
        else "the release left no allocatedHistory entry for it"
    )
    return Finding(
        f"IPPool {pool}",
        f"LoadBalancer {lb} deleted and created again got {second}, not its previous {first} ({history}); "
        "expected the IP the history records",
    )
