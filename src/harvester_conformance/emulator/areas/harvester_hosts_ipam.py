"""Harvester load balancer IPAM (facts §12.2): the `ipam` controller and the IPPool webhooks.

Behaves like LB's allocator/store: incremental reserve and release, never a rebuild of the
status from scratch, so that a stale status written by an old controller stays as it was
(faults IPP-02/03/04 rely on that, as real clusters do).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.faults import fault_of
from harvester_conformance.emulator.simulator.webhooks import Result, route

log = logging.getLogger("simulator.ipam")

GROUP = "loadbalancer.harvesterhci.io"
LABEL_GLOBAL = f"{GROUP}/global-ip-pool"
LABEL_VID = f"{GROUP}/vid"
ANN_NETWORK = f"{GROUP}/network"
ANN_PROJECT = f"{GROUP}/project"
ANN_NAMESPACE = f"{GROUP}/namespace"
ANN_CLUSTER = f"{GROUP}/cluster"
FINALIZER = "wrangler.cattle.io/harvester-lb-controller"
VALIDATE_PATH = "/v1/harvester-load-balancer/ippools/validate"
MUTATE_PATH = "/v1/harvester-load-balancer/ippools/mutate"
DHCP_NET = ipaddress.ip_network("192.0.2.0/24")  # the management network's DHCP server hands out .200-.249
DHCP_FIRST, DHCP_LAST = 200, 249


# -- ranges ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Range:
    net: ipaddress.IPv4Network | ipaddress.IPv6Network
    start: ipaddress.IPv4Address | ipaddress.IPv6Address
    end: ipaddress.IPv4Address | ipaddress.IPv6Address
    gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, type(self.start)) and self.start <= ip <= self.end

    @property
    def size(self) -> int:
        n = int(self.end) - int(self.start) + 1
        return n - (1 if self.gateway is not None and self.gateway in self else 0)


def parse_range(r: dict) -> Range:
    """A range with LB's defaults applied; ValueError names what is wrong."""
    net = ipaddress.ip_network(r.get("subnet", ""), strict=False)
    single = net.num_addresses == 1
    first = net.network_address if single else net.network_address + 1
    last = net.broadcast_address if single else net.broadcast_address - (1 if net.version == 4 else 0)

    def explicit(field: str) -> Any:
        text = r.get(field) or ""
        if not text:
            return None
        ip = ipaddress.ip_address(text)
        if ip not in net:
            raise ValueError(f"{field} {ip} is not in subnet {net}")
        if not single and ip in (net.network_address, net.broadcast_address):
            raise ValueError(f"{field} {ip} is the network or broadcast address of {net}")
        return ip

    start, end, gw = explicit("rangeStart") or first, explicit("rangeEnd") or last, explicit("gateway")
    if start > end:
        start, end = end, start
    if gw is None and not single:
        gw = net.network_address + 1
    return Range(net, start, end, gw)


def parse_ranges(pool: dict) -> list[Range]:
    ranges = (pool.get("spec") or {}).get("ranges") or []
    if not ranges:
        raise ValueError("the pool has no ranges")
    return [parse_range(r) for r in ranges]


def total(ranges: list[Range]) -> int:
    return sum(r.size for r in ranges)


def in_ranges(ip: str, ranges: list[Range]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in r for r in ranges)


def is_global(pool: dict) -> bool:
    scope = ((pool.get("spec") or {}).get("selector") or {}).get("scope") or []
    return len(scope) == 1 and all(scope[0].get(k) == "*" for k in ("project", "namespace", "guestCluster"))


def _field_match(pattern: str | None, value: str) -> bool:
    # An unset scope field is read as a wildcard (the seed always writes all three).
    return not pattern or pattern == "*" or pattern == value


def select_pool(pools: list[dict], lb: dict) -> dict | None:
    """spec.ipPool if named; else the highest-priority pool whose network and one scope tuple match;
    else the global pool (LB pkg/ipam/selector.go)."""
    spec = lb.get("spec") or {}
    by_name = {p["metadata"]["name"]: p for p in pools}
    if spec.get("ipPool"):
        return by_name.get(spec["ipPool"])
    ann = lb["metadata"].get("annotations") or {}
    want = {
        "network": ann.get(ANN_NETWORK, ""),
        "project": ann.get(ANN_PROJECT, ""),
        "namespace": ann.get(ANN_NAMESPACE, lb["metadata"]["namespace"]),
        "guestCluster": ann.get(ANN_CLUSTER, ""),
    }
    best, best_prio = None, -1
    for p in sorted(pools, key=lambda p: p["metadata"]["name"]):
        if is_global(p):
            continue
        sel = (p.get("spec") or {}).get("selector") or {}
        if (sel.get("network") or "") != want["network"]:
            continue
        if not any(
            all(_field_match(t.get(k), want[k]) for k in ("project", "namespace", "guestCluster"))
            for t in sel.get("scope") or []
        ):
            continue
        if int(sel.get("priority") or 0) > best_prio:
            best, best_prio = p, int(sel.get("priority") or 0)
    if best is not None:
        return best
    return next((p for p in pools if is_global(p) and not want["network"]), None)


def next_free(ranges: list[Range], allocated: dict, last: str | None) -> str | None:
    """The next free IP after lastAllocated, wrapping round, skipping gateways (CNI host-local order)."""
    candidates: list[Any] = []
    for r in ranges:
        ip = r.start
        while ip <= r.end:
            if ip != r.gateway:
                candidates.append(ip)
            ip += 1
    if not candidates:
        return None
    start = 0
    if last:
        try:
            last_ip = ipaddress.ip_address(last)
            start = next((i + 1 for i, c in enumerate(candidates) if c == last_ip), 0)
        except ValueError:
            start = 0
    for k in range(len(candidates)):
        ip = str(candidates[(start + k) % len(candidates)])
        if ip not in allocated:
            return ip
    return None


def allocate(status: dict, ranges: list[Range], applicant: str, use_history: bool = True) -> str | None:
    """Reserve an IP for `applicant` in this status (mutated): its current one, else its old one from
    the history, else the next free one."""
    allocated = status.setdefault("allocated", {})
    history = status.setdefault("allocatedHistory", {})
    for ip, who in allocated.items():
        if who == applicant:
            return ip
    ip = next(
        (
            h
            for h, who in sorted(history.items())
            if use_history and who == applicant and h not in allocated and in_ranges(h, ranges)
        ),
        None,
    ) or next_free(ranges, allocated, status.get("lastAllocated"))
    if ip is None:
        return None
    allocated[ip] = applicant
    history.pop(ip, None)
    status["lastAllocated"] = ip
    status["available"] = int(status.get("available", total(ranges))) - 1
    return ip


def release(status: dict, applicant: str, keep_history: bool = True) -> list[str]:
    allocated = status.setdefault("allocated", {})
    history = status.setdefault("allocatedHistory", {})
    freed = [ip for ip, who in allocated.items() if who == applicant]
    for ip in freed:
        del allocated[ip]
        if keep_history:
            history[ip] = applicant
        status["available"] = int(status.get("available", 0)) + 1
    return freed


NO_HISTORY = "ipam-without-history"  # the pool is served by a controller build without allocation history


def without_history(pool: dict) -> bool:
    return fault_of(pool) == NO_HISTORY


def _ready(status: str, message: str = "") -> list[dict]:
    return [{"type": "Ready", "status": status, **({"message": message} if message else {})}]


def _netmask(ranges: list[Range], ip: str) -> tuple[str, str]:
    addr = ipaddress.ip_address(ip)
    for r in ranges:
        if addr in r.net:
            return str(r.net.netmask), str(r.gateway or "")
    return "", ""


# -- controller -----------------------------------------------------------------------------
class Ipam:
    """Reconciles IPPool counters and LoadBalancer addresses, one tick at a time."""

    def __init__(self, cl: Cluster) -> None:
        self.cl = cl
        self.generations: dict[str, int] = {}

    def reconcile(self) -> None:
        pools = self.cl.list(R.IPPOOLS)
        for pool in pools:
            self._sync_pool(pool)
        pools = self.cl.list(R.IPPOOLS)
        for lb in self.cl.list(R.LOADBALANCERS):
            try:
                self._sync_lb(lb, pools)
            except ApiError as exc:
                log.info("loadbalancer %s/%s: %s", lb["metadata"]["namespace"], lb["metadata"]["name"], exc)
                pools = self.cl.list(R.IPPOOLS)

    def _sync_pool(self, pool: dict) -> None:
        name, gen = pool["metadata"]["name"], pool["metadata"].get("generation", 0)
        status = dict(pool.get("status") or {})
        if "total" in status and self.generations.get(name, gen) == gen:
            self.generations[name] = gen
            return
        try:
            ranges = parse_ranges(pool)
        except ValueError as exc:
            if status.get("conditions") != _ready("False", str(exc)):
                status["conditions"] = _ready("False", str(exc))
                self._write_pool(pool, status)
            self.generations[name] = gen
            return
        status["total"] = total(ranges)
        status["available"] = status["total"] - len(status.get("allocated") or {})
        status["allocatedHistory"] = {
            ip: who for ip, who in (status.get("allocatedHistory") or {}).items() if in_ranges(ip, ranges)
        }
        status["conditions"] = _ready("True")
        self._write_pool(pool, status)
        self.generations[name] = gen

    def _write_pool(self, pool: dict, status: dict) -> dict:
        body = {**pool, "status": status}
        return self.cl.replace(R.IPPOOLS, body, sub="status")

    def _sync_lb(self, lb: dict, pools: list[dict]) -> None:
        meta, spec = lb["metadata"], lb.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        applicant = f"{ns}/{name}"
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if FINALIZER not in finalizers:
                return
            for i, pool in enumerate(pools):
                status = dict(pool.get("status") or {})
                if any(who == applicant for who in (status.get("allocated") or {}).values()):
                    release(status, applicant, keep_history=not without_history(pool))
                    pools[i] = self._write_pool(pool, status)
            self.cl.patch(
                R.LOADBALANCERS, name, {"metadata": {"finalizers": [f for f in finalizers if f != FINALIZER]}}, ns
            )
            return
        current = (lb.get("status") or {}).get("address")
        if current:
            return
        if (spec.get("ipam") or "pool") == "dhcp":
            self._dhcp(lb)
            return
        pool = select_pool(pools, lb)
        if pool is None:
            self._lb_status(lb, {"conditions": _ready("False", "no IP pool matches the load balancer")})
            return
        try:
            ranges = parse_ranges(pool)
        except ValueError as exc:
            self._lb_status(lb, {"conditions": _ready("False", f"pool {pool['metadata']['name']}: {exc}")})
            return
        if FINALIZER not in finalizers:
            self.cl.patch(R.LOADBALANCERS, name, {"metadata": {"finalizers": [*finalizers, FINALIZER]}}, ns)
        status = dict(pool.get("status") or {})
        before = json.dumps(status, sort_keys=True)
        ip = allocate(status, ranges, applicant, use_history=not without_history(pool))
        if ip is None:
            self._lb_status(lb, {"conditions": _ready("False", f"pool {pool['metadata']['name']} is exhausted")})
            return
        if json.dumps(status, sort_keys=True) != before:
            updated = self._write_pool(pool, status)
            pools[pools.index(pool)] = updated
        mask, gw = _netmask(ranges, ip)
        self._lb_status(
            lb,
            {
                "allocatedAddress": {"ipPool": pool["metadata"]["name"], "ip": ip, "mask": mask, "gateway": gw},
                "address": ip,
                "conditions": _ready("True"),
            },
        )

    def _dhcp(self, lb: dict) -> None:
        """A DHCP lease from the management network's server: stable per load balancer."""
        taken = {
            (o.get("status") or {}).get("address")
            for o in self.cl.list(R.LOADBALANCERS)
            if (o.get("spec") or {}).get("ipam") == "dhcp"
        }
        for host in range(DHCP_FIRST, DHCP_LAST + 1):
            ip = str(DHCP_NET.network_address + host)
            if ip not in taken:
                self._lb_status(
                    lb,
                    {
                        "allocatedAddress": {"ip": ip, "mask": str(DHCP_NET.netmask), "gateway": "192.0.2.1"},
                        "address": ip,
                        "conditions": _ready("True"),
                    },
                )
                return

    def _lb_status(self, lb: dict, status: dict) -> None:
        meta = lb["metadata"]
        self.cl.patch(R.LOADBALANCERS, meta["name"], {"status": status}, meta["namespace"], sub="status")


def ipam_factory(cl: Cluster, state_dir: Path) -> Callable[[], None]:
    return Ipam(cl).reconcile


# -- webhooks -------------------------------------------------------------------------------
def _scopes_overlap(a: list[dict], b: list[dict]) -> bool:
    def tuple_overlap(x: dict, y: dict) -> bool:
        return all(
            not x.get(k) or not y.get(k) or x.get(k) == "*" or y.get(k) == "*" or x.get(k) == y.get(k)
            for k in ("project", "namespace", "guestCluster")
        )

    return any(tuple_overlap(x, y) for x in a for y in b)


def validate_pool(new: dict, old: dict | None, others: list[dict]) -> str | None:
    """Why the pool may not be written, or None (LB pkg/webhook/ippool/validator.go rules)."""
    name = new["metadata"]["name"]
    try:
        ranges = parse_ranges(new)
    except ValueError as exc:
        return f"IPPool {name}: {exc}"
    for i, a in enumerate(ranges):
        for b in ranges[i + 1 :]:
            if a.net.version == b.net.version and a.start <= b.end and b.start <= a.end:
                return f"IPPool {name}: ranges {a.start}-{a.end} and {b.start}-{b.end} overlap"
    others = [p for p in others if p["metadata"]["name"] != name]
    for p in others:
        try:
            theirs = parse_ranges(p)
        except ValueError:
            continue
        for a in ranges:
            for b in theirs:
                if a.net.version == b.net.version and a.start <= b.end and b.start <= a.end:
                    return f"IPPool {name}: range {a.start}-{a.end} overlaps pool {p['metadata']['name']}"
    if old is not None:
        for ip in ((old.get("status") or {}).get("allocated") or {}).keys():
            if not in_ranges(ip, ranges):
                return f"IPPool {name}: allocated IP {ip} would fall outside the ranges"
    sel = (new.get("spec") or {}).get("selector") or {}
    if is_global(new):
        other = next((p for p in others if is_global(p)), None)
        if other is not None:
            return f"IPPool {name}: a global pool already exists ({other['metadata']['name']})"
        return None
    prio = int(sel.get("priority") or 0)
    for p in others:
        if is_global(p):
            continue
        psel = (p.get("spec") or {}).get("selector") or {}
        pprio = int(psel.get("priority") or 0)
        if prio != 0 and pprio == prio:
            return f"IPPool {name}: priority {prio} is already used by pool {p['metadata']['name']}"
        if (
            prio == 0
            and pprio == 0
            and (psel.get("network") or "") == (sel.get("network") or "")
            and _scopes_overlap(sel.get("scope") or [], psel.get("scope") or [])
        ):
            return f"IPPool {name}: scope overlaps pool {p['metadata']['name']}, both of priority 0"
    return None


@route(VALIDATE_PATH)
def validate_ippool(request: dict, cluster: Cluster) -> Result:
    op = request.get("operation")
    if op == "DELETE":
        old = request.get("oldObject") or {}
        allocated = (old.get("status") or {}).get("allocated") or {}
        if allocated:
            ips = ", ".join(sorted(allocated))
            return False, f"IPPool {old['metadata']['name']} cannot be deleted: IPs still allocated ({ips})", None
        return True, "", None
    if op not in ("CREATE", "UPDATE"):
        return True, "", None
    reason = validate_pool(request.get("object") or {}, request.get("oldObject"), cluster.list(R.IPPOOLS))
    return (reason is None), reason or "", None


def _vid(cluster: Cluster, network: str) -> str | None:
    ns, _, name = network.partition("/")
    nad = cluster.get(R.NADS, name, ns) if name else None
    if nad is None:
        return None
    try:
        vlan = json.loads((nad.get("spec") or {}).get("config") or "{}").get("vlan")
    except ValueError:
        return None
    return str(vlan) if vlan is not None else None


@route(MUTATE_PATH)
def mutate_ippool(request: dict, cluster: Cluster) -> Result:
    if request.get("operation") not in ("CREATE", "UPDATE"):
        return True, "", None
    pool = request.get("object") or {}
    want = {LABEL_GLOBAL: "true" if is_global(pool) else "false"}
    network = ((pool.get("spec") or {}).get("selector") or {}).get("network") or ""
    if network:
        vid = _vid(cluster, network)
        if vid is not None:
            want[LABEL_VID] = vid
    labels = pool.get("metadata", {}).get("labels")
    if labels is None:
        return True, "", [{"op": "add", "path": "/metadata/labels", "value": want}]
    patch = [
        {"op": "add", "path": "/metadata/labels/" + k.replace("~", "~0").replace("/", "~1"), "value": v}
        for k, v in want.items()
        if labels.get(k) != v
    ]
    return True, "", patch or None


WEBHOOKS = [
    {
        "kind": "validating",
        "name": "ippool.validator.loadbalancer.harvesterhci.io",
        "path": VALIDATE_PATH,
        "rules": [
            {
                "apiGroups": [GROUP],
                "apiVersions": ["v1beta1"],
                "operations": ["CREATE", "UPDATE", "DELETE"],
                "resources": ["ippools"],
                "scope": "Cluster",
            }
        ],
    },
    {
        "kind": "mutating",
        "name": "ippool.mutator.loadbalancer.harvesterhci.io",
        "path": MUTATE_PATH,
        "rules": [
            {
                "apiGroups": [GROUP],
                "apiVersions": ["v1beta1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["ippools"],
                "scope": "Cluster",
            }
        ],
    },
]
