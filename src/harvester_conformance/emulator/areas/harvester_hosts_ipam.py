"""Harvester load balancer IPAM (facts §12.2, §17.5): the `ipam` controller and the IPPool webhooks.

Behaves like LB's allocator/store: incremental reserve and release; the status is recounted only
when the allocator is rebuilt (a pool first seen, at controller start too, or its ranges changed),
so that a stale status written by an old controller stays as it was until then (faults
IPP-02/03/04 rely on that, as real clusters do). Status is written with plain updates (the CRDs
have no status subresource), so the IPPool webhooks see every write.

Load balancers (LB pkg/controller/loadbalancer, v0.4.0 = v1.5.0): `allocatedAddress` from the
pool, or `ip: 0.0.0.0` without a pool for DHCP; `address` only for VM load balancers, from the
ingress of the Service the servicelb manager creates (kube-vip's part is played here too).

By release (facts-releases.md R5.2, LB tags read): the IPPool annotation
`loadbalancer.harvesterhci.io/manuallyReleaseIP: "<ip>: <ns>/<lb>"` releases an allocation whose
load balancer is gone into the history, then is removed (LB pkg/controller/ippool/controller.go
OnChangeToReleaseAnIP, from LB v1.5.0 (not v0.4.x); facts-releases R5.2 says v1.6.0); from LB v1.7.0 a
`workloadType: cluster` load balancer that no pool matches strictly is matched again in loose
mode, where a pool scope's empty project or guestCluster matches anything (pkg/ipam/selector.go
isMatch, controller/loadbalancer/controller.go selectIPPool; LB commit 02717b0d).
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
from harvester_conformance.cluster.resources import Resource
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
    """The webhook's rule: exactly one scope tuple, all three fields `*` (LB webhook/ippool)."""
    scope = ((pool.get("spec") or {}).get("selector") or {}).get("scope") or []
    return len(scope) == 1 and all(scope[0].get(k) == "*" for k in ("project", "namespace", "guestCluster"))


def labelled_global(pool: dict) -> bool:
    """The selector recognises the global pool by the label the mutator sets, not by its scope."""
    return (pool["metadata"].get("labels") or {}).get(LABEL_GLOBAL) == "true"


ALL = "*"


def requirement(lb: dict) -> dict[str, str]:
    """What a load balancer asks of a pool: its annotations, the namespace defaulting to the LB's
    own (LB pkg/controller/loadbalancer/controller.go selectIPPool)."""
    ann = lb["metadata"].get("annotations") or {}
    return {
        "network": ann.get(ANN_NETWORK, ""),
        "project": ann.get(ANN_PROJECT, ""),
        "namespace": ann.get(ANN_NAMESPACE) or lb["metadata"]["namespace"],
        "guestCluster": ann.get(ANN_CLUSTER, ""),
    }


LOOSE_SINCE = (1, 7, 0)  # LB v1.7.0: loose pool matching for guest-cluster load balancers
ANN_RELEASE = f"{GROUP}/manuallyReleaseIP"
RELEASE_SINCE = (1, 5, 0)  # LB v1.5.0 (absent from v0.4.x = Harvester v1.4)


def tuple_matches(t: dict, want: dict[str, str], loose: bool = False) -> bool:
    """`*` on either side matches any value; otherwise the values must be equal (empty included).
    In loose mode an empty project or guestCluster of the pool's tuple matches anything."""

    def match(key: str, wanted: str) -> bool:
        have = t.get(key, "")
        return have == ALL or wanted == ALL or have == wanted or (loose and key != "namespace" and have == "")

    return all(match(k, want[k]) for k in ("project", "namespace", "guestCluster"))


def pool_matches(pool: dict, want: dict[str, str], loose: bool = False) -> bool:
    sel = (pool.get("spec") or {}).get("selector") or {}
    return (sel.get("network") or "") == want["network"] and any(
        tuple_matches(t, want, loose) for t in sel.get("scope") or []
    )


def _select(pools: list[dict], want: dict[str, str], loose: bool) -> dict | None:
    selected, global_pool, priority = None, None, 0
    for pool in pools:
        if labelled_global(pool):
            global_pool = pool
            continue
        prio = int(((pool.get("spec") or {}).get("selector") or {}).get("priority") or 0)
        if pool_matches(pool, want, loose) and prio >= priority:
            selected, priority = pool, prio
    return selected if selected is not None else global_pool


def select_pool(pools: list[dict], lb: dict, harvester: tuple[int, ...] = (1, 5, 0)) -> dict | None:
    """spec.ipPool if named; else, in list order, the last matching pool of the highest priority
    (`>=`), and the global pool whatever network is asked for when none matches (LB
    pkg/ipam/selector.go, v0.4.0 = v1.5.0); from v1.7.0 a cluster load balancer still without a
    pool is tried again in loose mode."""
    spec = lb.get("spec") or {}
    if spec.get("ipPool"):
        return next((p for p in pools if p["metadata"]["name"] == spec["ipPool"]), None)
    want = requirement(lb)
    pool = _select(pools, want, loose=False)
    if pool is None and harvester >= LOOSE_SINCE and spec.get("workloadType") == "cluster":
        pool = _select(pools, want, loose=True)
    return pool


def manual_release(pool: dict, lb_exists: Callable[[str], bool]) -> tuple[dict, bool] | None:
    """OnChangeToReleaseAnIP: (status, released) once the annotation is handled, None without one.
    The allocation goes to the history only if it is real and its load balancer is gone; the
    annotation is removed in every case."""
    text = (pool["metadata"].get("annotations") or {}).get(ANN_RELEASE)
    if not text:
        return None
    status = dict(pool.get("status") or {})
    fields = text.strip().split(":")
    owner = fields[1].strip() if len(fields) == 2 else ""
    if len(owner.split("/")) != 2:  # SplitIPAllocatedString: not a valid allocation record
        return status, False
    ip = fields[0]
    if (status.get("allocated") or {}).get(ip) != owner or lb_exists(owner):
        return status, False
    release(status, owner)
    return status, True


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


def _own_maps(status: dict) -> tuple[dict, dict]:
    status["allocated"] = allocated = dict(status.get("allocated") or {})
    status["allocatedHistory"] = history = dict(status.get("allocatedHistory") or {})
    return allocated, history


def allocate(status: dict, ranges: list[Range], applicant: str, use_history: bool = True) -> str | None:
    """Reserve an IP for `applicant` in this status (mutated: its maps are replaced by edited copies,
    as they may be an informer's shared ones): its current one, else its old one from the history,
    else the next free one."""
    allocated, history = _own_maps(status)
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
    """Free `applicant`'s IPs in this status (mutated as by `allocate`), into the history if kept."""
    allocated, history = _own_maps(status)
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


# -- controller -----------------------------------------------------------------------------
ASK_DHCP = "0.0.0.0"  # noqa: S104 - LB utils.Address4AskDHCP: the allocated address of a DHCP load balancer
SERVICELB_LABEL = f"{GROUP}/servicelb"


def ranges_checksum(pool: dict) -> str:
    """What decides whether the allocator is rebuilt (LB ipam.CalculateCheckSum of spec.ranges)."""
    return json.dumps((pool.get("spec") or {}).get("ranges") or [], sort_keys=True)


def recounted(pool: dict, ranges: list[Range]) -> dict:
    """The status LB's ippool controller writes when it (re)builds the allocator: total, available
    = total - allocated, history pruned to the ranges, Ready (controller/ippool updateStatus)."""
    status = dict(pool.get("status") or {})
    status["total"] = total(ranges)
    status["available"] = status["total"] - len(status.get("allocated") or {})
    history = {ip: who for ip, who in (status.get("allocatedHistory") or {}).items() if in_ranges(ip, ranges)}
    if history:
        status["allocatedHistory"] = history
    else:
        status.pop("allocatedHistory", None)
    status.setdefault("lastAllocated", "")
    status["conditions"] = _ready("True")
    return status


def is_vm_lb(lb: dict) -> bool:
    """The workload type defaults to vm (LB controller: "" or vm)."""
    return ((lb.get("spec") or {}).get("workloadType") or "vm") == "vm"


def lb_service(lb: dict, ip: str) -> dict:
    """The Service LB's servicelb manager creates for a VM load balancer (constructService)."""
    meta = lb["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {SERVICELB_LABEL: "true"},
            "ownerReferences": [
                {"apiVersion": lb["apiVersion"], "kind": lb["kind"], "name": meta["name"], "uid": meta["uid"]}
            ],
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerIP": ip,
            "ports": [
                {
                    "name": listener.get("name", ""),
                    "protocol": listener.get("protocol", "TCP"),
                    "port": listener["port"],
                    "targetPort": listener.get("backendPort", 0),
                }
                for listener in (lb.get("spec") or {}).get("listeners") or []
            ],
        },
    }


ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
BACKENDS_REQUIRED_SINCE = (1, 4, 0)  # LB v0.4.x (Harvester v1.4.x) and v1.5.0; v0.2.1/v0.3.0 before
NO_BACKENDS = "no running backend servers"  # LB controller.go errNoRunningBackendServer
DUMMY_ADDRESS, DUMMY_UID = "10.52.0.255", "dummy347-546a-4642-9da6-5608endpoint"  # LB servicelb/manager.go


def backend_address(vmi: dict) -> str | None:
    """servicelb Server.GetAddress: the first IPv4 address among the VMI's status.interfaces."""
    for iface in (vmi.get("status") or {}).get("interfaces") or []:
        try:
            if ipaddress.ip_address(iface.get("ipAddress") or "").version == 4:
                return iface["ipAddress"]
        except ValueError:
            continue
    return None


def backend_vmis(lb: dict, vmis: list[dict], harvester: tuple[int, ...]) -> list[dict]:
    """matchBackendServers / getServiceBackendServers: the VMIs of the load balancer's namespace
    whose labels hold one of the listed values for every key of backendServerSelector (none when
    it is empty), with an IPv4 address; from LB v0.4.x VMIs being deleted are skipped too."""
    selector = (lb.get("spec") or {}).get("backendServerSelector") or {}
    if not selector:
        return []
    out = []
    for vmi in vmis:
        meta = vmi["metadata"]
        labels = meta.get("labels") or {}
        if meta.get("namespace") != lb["metadata"]["namespace"]:
            continue
        if not all(labels.get(k) in (values or []) for k, values in selector.items()):
            continue
        if harvester >= BACKENDS_REQUIRED_SINCE and meta.get("deletionTimestamp"):
            continue
        if backend_address(vmi):
            out.append(vmi)
    return out


def lb_endpoint_slice(lb: dict, servers: list[dict], harvester: tuple[int, ...], current: dict | None) -> dict:
    """The EndpointSlice servicelb keeps beside the Service (constructEndpointSlice, v0.2.1/v0.3.0;
    constructEndpointSliceFromBackendServers + ensureDummyEndpoint, v0.4.x/v1.5.0): the listeners'
    backend ports, one endpoint per server (kept as it was when the same VMI and address; new ones
    Ready, the health probes taken as passing), and from v0.4.x a dummy endpoint when none."""
    meta = lb["metadata"]
    body = current or {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {SERVICELB_LABEL: "true", SERVICE_NAME_LABEL: meta["name"]},
            "ownerReferences": [
                {"apiVersion": lb["apiVersion"], "kind": lb["kind"], "name": meta["name"], "uid": meta["uid"]}
            ],
        },
        "addressType": "IPv4",
    }
    old = body.get("endpoints") or []
    endpoints = []
    for vmi in servers:
        address, uid = backend_address(vmi), vmi["metadata"]["uid"]
        kept = next(
            (e for e in old if (e.get("targetRef") or {}).get("uid") == uid and e.get("addresses") == [address]), None
        )
        ref = {"namespace": vmi["metadata"]["namespace"], "name": vmi["metadata"]["name"], "uid": uid}
        endpoints.append(kept or {"addresses": [address], "targetRef": ref, "conditions": {"ready": True}})
    if not endpoints and harvester >= BACKENDS_REQUIRED_SINCE:
        ref = {"namespace": meta["namespace"], "name": meta["name"], "uid": DUMMY_UID}
        endpoints.append({"addresses": [DUMMY_ADDRESS], "targetRef": ref, "conditions": {"ready": True}})
    ports = [
        {"name": lis.get("name", ""), "protocol": lis.get("protocol", "TCP"), "port": lis.get("backendPort", 0)}
        for lis in (lb.get("spec") or {}).get("listeners") or []
    ]
    return {**body, "ports": ports, "endpoints": endpoints}


def dhcp_lease(taken: set[str]) -> str | None:
    """A lease from the management network's DHCP server (.200-.249), one not handed out yet."""
    for host in range(DHCP_FIRST, DHCP_LAST + 1):
        ip = str(DHCP_NET.network_address + host)
        if ip not in taken:
            return ip
    return None


def ingress_ips(services: list[dict]) -> set[str]:
    return {
        i.get("ip", "")
        for svc in services
        for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    }


class LbError(Exception):
    """A load balancer that cannot be served yet; its Ready condition says why."""


class NoBackends(LbError):
    """LB v0.4.x+: no selected VMI runs with an address; the message is upstream's, as is."""


class Ipam:
    """LB's ippool and loadbalancer controllers, plus kube-vip's part (the Service's ingress).

    Pools: the allocator is rebuilt, and the status recounted, when a pool is first seen (at
    controller start too) or its ranges change. Load balancers: handled when they change (their
    resourceVersion), and again after a failure, as wrangler requeues on error."""

    def __init__(self, cl: Cluster) -> None:
        self.cl = cl
        self.checksums: dict[str, str] = {}
        self.handled: dict[str, str] = {}
        self.harvester: tuple[int, ...] = (1, 5, 0)
        self.vmis: list[dict] = []

    def reconcile(self) -> None:
        self.harvester = _harvester_release(self.cl)
        pools = self.cl.list(R.IPPOOLS)
        lbs = self.cl.list(R.LOADBALANCERS)
        for pool in pools:
            self._sync_pool(pool)
            if self.harvester >= RELEASE_SINCE:
                self._manual_release(pool, lbs)
        pools = self.cl.list(R.IPPOOLS)
        self.vmis = self.cl.list(R.VMIS)
        for lb in self.cl.list(R.LOADBALANCERS):
            key = f"{lb['metadata']['namespace']}/{lb['metadata']['name']}"
            if self.handled.get(key) == self._handled_mark(lb, lb["metadata"]["resourceVersion"]):
                continue
            try:
                done = self._sync_lb(lb, pools)
            except ApiError as exc:
                log.info("loadbalancer %s: %s", key, exc)
                done, pools = None, self.cl.list(R.IPPOOLS)
            if done is None:
                self.handled.pop(key, None)  # requeued, as wrangler does when the handler errs
            else:
                self.handled[key] = self._handled_mark(lb, done)

    def _handled_mark(self, lb: dict, resource_version: str) -> str:
        """The LB's version and its backends: LB's vmi controller enqueues a VM load balancer
        when a VMI it selects changes (pkg/controller/vmi)."""
        if not is_vm_lb(lb):
            return resource_version
        servers = backend_vmis(lb, self.vmis, self.harvester)
        return resource_version + "|" + ",".join(f"{v['metadata']['uid']}={backend_address(v)}" for v in servers)

    def _manual_release(self, pool: dict, lbs: list[dict]) -> None:
        names = {f"{lb['metadata']['namespace']}/{lb['metadata']['name']}" for lb in lbs}
        handled = manual_release(pool, lambda owner: owner in names)
        if handled is None or pool["metadata"].get("deletionTimestamp"):
            return
        annotations = {k: v for k, v in (pool["metadata"].get("annotations") or {}).items() if k != ANN_RELEASE}
        try:
            self._write_pool({**pool, "metadata": {**pool["metadata"], "annotations": annotations}}, handled[0])
        except ApiError as exc:  # a stale pool: retried on the next pass, as upstream's requeue
            log.info("ippool %s: %s", pool["metadata"]["name"], exc)

    def _sync_pool(self, pool: dict) -> None:
        name, checksum = pool["metadata"]["name"], ranges_checksum(pool)
        if self.checksums.get(name) == checksum or pool["metadata"].get("deletionTimestamp"):
            return
        try:
            ranges = parse_ranges(pool)
        except ValueError as exc:  # NewAllocator fails: the handler errs and writes nothing
            log.info("ippool %s: %s", name, exc)
            return
        status = recounted(pool, ranges)
        if status != pool.get("status"):
            try:
                self._write_pool(pool, status)
            except ApiError as exc:
                log.info("ippool %s: %s", name, exc)
                return
        self.checksums[name] = checksum

    def _write_pool(self, pool: dict, status: dict) -> dict:
        """A plain update of the whole pool: IPPool has no status subresource upstream. Empty maps
        are left out (omitempty)."""
        status = {k: v for k, v in status.items() if v != {} or k not in ("allocated", "allocatedHistory")}
        return self.cl.replace(R.IPPOOLS, {**pool, "status": status})

    def _release(self, pools: list[dict], pool_name: str, applicant: str) -> None:
        for i, pool in enumerate(pools):
            if pool["metadata"]["name"] != pool_name:
                continue
            status = dict(pool.get("status") or {})
            if any(who == applicant for who in (status.get("allocated") or {}).values()):
                release(status, applicant, keep_history=not without_history(pool))
                pools[i] = self._write_pool(pool, status)

    def _sync_lb(self, lb: dict, pools: list[dict]) -> str | None:
        """One OnChange/OnRemove of LB's loadbalancer controller: the resourceVersion handled, or
        None when it failed (Ready False) and is to be retried."""
        meta = lb["metadata"]
        ns, name = meta["namespace"], meta["name"]
        applicant = f"{ns}/{name}"
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if FINALIZER in finalizers:
                allocated = (lb.get("status") or {}).get("allocatedAddress") or {}
                if (lb.get("spec") or {}).get("ipam", "pool") == "pool" and allocated.get("ipPool"):
                    self._release(pools, allocated["ipPool"], applicant)
                patch = {"metadata": {"finalizers": [f for f in finalizers if f != FINALIZER]}}
                self.cl.patch(R.LOADBALANCERS, name, patch, ns)
            return meta["resourceVersion"]
        if FINALIZER not in finalizers:  # wrangler's OnRemove registers its finalizer first
            lb = self.cl.patch(R.LOADBALANCERS, name, {"metadata": {"finalizers": [*finalizers, FINALIZER]}}, ns)
        status = dict(lb.get("status") or {})
        try:
            status["allocatedAddress"] = self._allocated(lb, pools)
            if is_vm_lb(lb):
                if self.harvester < BACKENDS_REQUIRED_SINCE:  # EnsureLoadBalancer writes the slice first
                    self._endpoint_slice(lb)
                status["address"] = self._service_address(lb, status["allocatedAddress"]["ip"])
                servers = self._endpoint_slice(lb)
                status.pop("backendServers", None)  # omitempty
                if servers:
                    status["backendServers"] = servers
                elif self.harvester >= BACKENDS_REQUIRED_SINCE:
                    raise NoBackends(NO_BACKENDS)
            status["conditions"] = _ready("True")
        except NoBackends as exc:
            status["conditions"] = _ready("False", str(exc))
        except LbError as exc:
            status["conditions"] = _ready("False", f"load balancer {applicant}: {exc}")
        if status != (lb.get("status") or {}):  # a plain update: no status subresource upstream
            if status["conditions"][0]["status"] != "True":
                log.info("loadbalancer %s not ready: %s", applicant, status["conditions"][0].get("message", ""))
            lb = self.cl.replace(R.LOADBALANCERS, {**lb, "status": status})
        return lb["metadata"]["resourceVersion"] if status["conditions"][0]["status"] == "True" else None

    def _endpoint_slice(self, lb: dict) -> list[str]:
        """Create or update the load balancer's EndpointSlice; the backend servers' addresses
        (status.backendServers, in the slice's order, without the dummy endpoint)."""
        meta = lb["metadata"]
        current = self.cl.get(ENDPOINT_SLICES, meta["name"], meta["namespace"])
        if current is not None and all(
            o.get("uid") != meta["uid"] for o in current["metadata"].get("ownerReferences") or []
        ):
            self.cl.delete(ENDPOINT_SLICES, meta["name"], meta["namespace"])  # a former LB's, as the GC would
            current = None
        servers = backend_vmis(lb, self.vmis, self.harvester)
        want = lb_endpoint_slice(lb, servers, self.harvester, current)
        if current is None:
            self.cl.create(ENDPOINT_SLICES, want, meta["namespace"])
        elif want != current:
            self.cl.replace(ENDPOINT_SLICES, want)
        return [e["addresses"][0] for e in want["endpoints"] if (e.get("targetRef") or {}).get("uid") != DUMMY_UID]

    def _allocated(self, lb: dict, pools: list[dict]) -> dict:
        """allocateIP: DHCP gives up any pool IP and asks DHCP (0.0.0.0); a pool load balancer
        keeps its address while the selected pool is the one it holds, else moves."""
        applicant = f"{lb['metadata']['namespace']}/{lb['metadata']['name']}"
        current = (lb.get("status") or {}).get("allocatedAddress") or {}
        if (lb.get("spec") or {}).get("ipam") == "dhcp":
            if current.get("ipPool"):
                self._release(pools, current["ipPool"], applicant)
            return {"ip": ASK_DHCP}
        pool = select_pool(pools, lb, self.harvester)
        if pool is None:
            raise LbError(f"no matching IP pool with requirement {requirement(lb)}")
        name = pool["metadata"]["name"]
        if current.get("ipPool") == name:
            return current
        if current.get("ipPool"):
            self._release(pools, current["ipPool"], applicant)
            pool = next(p for p in pools if p["metadata"]["name"] == name)
        try:
            ranges = parse_ranges(pool)
        except ValueError as exc:
            raise LbError(f"could not get the allocator {name}: {exc}") from None
        status = dict(pool.get("status") or {})
        if "total" not in status:
            raise LbError(f"could not get the allocator {name}")
        ip = allocate(status, ranges, applicant, use_history=not without_history(pool))
        if ip is None:
            raise LbError(f"pool {name} is exhausted")
        pools[pools.index(pool)] = self._write_pool(pool, status)
        mask, gw = _netmask(ranges, ip)
        return {"ipPool": name, "ip": ip, "mask": mask, "gateway": gw}

    def _service_address(self, lb: dict, ip: str) -> str:
        """ensureVMLoadBalancer: the LB's Service (created or updated), its ingress set by kube-vip
        (the pool IP, or a DHCP lease for 0.0.0.0), and that ingress IP as the address."""
        meta = lb["metadata"]
        want = lb_service(lb, ip)
        svc = self.cl.get(R.SERVICES, meta["name"], meta["namespace"])
        if svc is not None and all(o.get("uid") != meta["uid"] for o in svc["metadata"].get("ownerReferences") or []):
            self.cl.delete(R.SERVICES, meta["name"], meta["namespace"])  # a former LB's, as the GC would
            raise LbError(f"wait service {meta['namespace']}/{meta['name']} external ip failed, error: timeout")
        if svc is None:
            svc = self.cl.create(R.SERVICES, want, meta["namespace"])
        elif svc["spec"].get("loadBalancerIP") != ip:
            svc = self.cl.patch(R.SERVICES, meta["name"], {"spec": {"loadBalancerIP": ip}}, meta["namespace"])
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if ingress and ingress[0].get("ip") and (ip == ASK_DHCP or ingress[0]["ip"] == ip):
            return ingress[0]["ip"]
        got = ip if ip != ASK_DHCP else dhcp_lease(ingress_ips(self.cl.list(R.SERVICES)))
        if got is None:
            raise LbError("wait service external ip failed, error: no DHCP lease")
        status = {"loadBalancer": {"ingress": [{"ip": got}]}}
        self.cl.patch(R.SERVICES, meta["name"], {"status": status}, meta["namespace"], sub="status")
        return got


def _harvester_release(cl: Cluster) -> tuple[int, ...]:
    """The running release, from Harvester's server-version setting (v0.0.0 when unreadable)."""
    text = str((cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value") or "v0.0.0")
    try:
        return tuple(int(x) for x in text.lstrip("v").split("-")[0].split("."))
    except ValueError:
        return (0, 0, 0)


def _ready(status: str, message: str = "") -> list[dict]:
    return [{"type": "Ready", "status": status, **({"message": message} if message else {})}]


def _netmask(ranges: list[Range], ip: str) -> tuple[str, str]:
    addr = ipaddress.ip_address(ip)
    for r in ranges:
        if addr in r.net:
            return str(r.net.netmask), str(r.gateway or "")
    return "", ""


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
    if old is not None:  # checkAllocated: the new object's allocations must lie in its ranges
        for ip in ((new.get("status") or {}).get("allocated") or {}).keys():
            if not in_ranges(ip, ranges):
                return f"IPPool {name}: allocated IP {ip} is excluded (would fall outside the ranges)"
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
    if op == "UPDATE" and ((request.get("object") or {}).get("metadata") or {}).get("deletionTimestamp"):
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
