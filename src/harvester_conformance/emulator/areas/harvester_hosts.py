"""Area: Harvester hosts, nodes, networks, load balancers and the Rancher side (facts §0.2, §2, §3,
§4, §6, §11, §12, §13, §16).

- seed: simulated host files (harvester_hosts_fs), networks, IP pools and load balancers (with a
  released and a re-acquired address in the history), Trident, Rancher/CAPI/Fleet objects.
- controllers: `harvester-node-resources` (pod-requests/-limits annotations), `ipam` (pools, load
  balancers, the VM load balancers' Services and their kube-vip ingress), `harvester-network`
  (VlanStatus, LinkMonitor, ClusterNetwork readiness).
- webhooks: IPPool validator and mutator (harvester_hosts_ipam).
- faults: MET-01, IPP-01..04, NIC-01, SEC-01, SEC-04, NTA-02, NTA-03, CCR-01, ISC-02, UPG-05, UPG-07.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.cluster.resources import Resource
from harvester_conformance.emulator import clock, lifecycle, pki
from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
from harvester_conformance.emulator.areas import harvester_hosts_ipam as ipam
from harvester_conformance.emulator.areas import harvester_hosts_nodes as nodes_ctl
from harvester_conformance.emulator.areas import harvester_hosts_rancher as rancher
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, SETTING_WEBHOOK, Fault, admitted, webhook_down
from harvester_conformance.emulator.profiles import STORAGE_NETWORK, STORAGE_NETWORK_NAD, ProfileSpec
from harvester_conformance.emulator.seed import grant_simulator, node_names
from harvester_conformance.emulator.simulator.informers import ON_CHANGE
from harvester_conformance.waits import wait_for

MANAGER = "harvester-conformance-emulator"
LB_NS = "default"
GUEST_CLUSTER = "rke2-guest"


def guest_lb_name(cluster: str, ns: str, svc: str, uid: str) -> str:
    """cloud-provider-harvester's name: <cluster>-<ns>-<svc>-<crc32(prefix + svc UID)> (facts §12.2)."""
    prefix = f"{cluster}-{ns}-{svc}"
    return f"{prefix}-{zlib.crc32((prefix + uid).encode()):08x}"[:63]


GUEST_NGINX = guest_lb_name(GUEST_CLUSTER, "default", "nginx", "5f0c7d6e-3b7a-4d1e-9a61-2f4b8c0e1a11")
GUEST_INGRESS = guest_lb_name(GUEST_CLUSTER, "kube-system", "ingress", "a3d9e2b4-71c5-4f08-8e6d-0b2c9f7a5d34")


# -- seed -----------------------------------------------------------------------------------
def _nodes(spec: ProfileSpec) -> list[str]:
    return node_names(spec)


def _networks(cl: Cluster) -> None:
    cl.apply(R.CLUSTER_NETWORKS, {"metadata": {"name": "mgmt"}}, manager=MANAGER)
    cl.apply(R.CLUSTER_NETWORKS, {"metadata": {"name": "vm-net"}}, manager=MANAGER)
    cl.apply(R.VLAN_CONFIGS, vlan_config(), manager=MANAGER)
    cl.apply(
        R.LINK_MONITORS,
        {"metadata": {"name": "nic"}, "spec": {"targetLinkRule": {"typeRule": "device"}}},
        manager=MANAGER,
    )
    ns, name = STORAGE_NETWORK_NAD
    cl.apply(
        R.NADS,
        {
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": {"storagenetwork.settings.harvesterhci.io": "true"},
                "annotations": {"storage-network.settings.harvesterhci.io/hash": "emulated"},
            },
            "spec": {
                "config": json.dumps(
                    {
                        "cniVersion": "0.3.1",
                        "type": "bridge",
                        "bridge": f"{STORAGE_NETWORK['clusterNetwork']}-br",
                        "promiscMode": True,
                        "vlan": STORAGE_NETWORK["vlan"],
                        "ipam": {"type": "whereabouts", "range": STORAGE_NETWORK["range"]},
                    }
                )
            },
        },
        manager=MANAGER,
    )
    cl.apply(
        R.NADS,
        {
            "metadata": {
                "name": "vlan100",
                "namespace": "default",
                "labels": {
                    "network.harvesterhci.io/clusternetwork": "vm-net",
                    "network.harvesterhci.io/ready": "true",
                    "network.harvesterhci.io/type": "L2VlanNetwork",
                    "network.harvesterhci.io/vlan-id": "100",  # NC manager/nad ensureLabels
                },
            },
            "spec": {
                "config": json.dumps(
                    {
                        "cniVersion": "0.3.1",
                        "name": "vlan100",
                        "type": "bridge",
                        "bridge": "vm-net-br",
                        "promiscMode": True,
                        "vlan": 100,
                        "ipam": {},
                    }
                )
            },
        },
        manager=MANAGER,
    )


VLAN_CONFIG = "vm-net-vc"
# network-controller 1.8.0 (Harvester v1.8+): host IPs on a VLAN of a cluster network (CH
# templates/crds/network.harvesterhci.io_hostnetworkconfigs.yaml); the suite's table lacks it.
HOST_NETWORK_CONFIGS = Resource("network.harvesterhci.io", "v1beta1", "hostnetworkconfigs", "HostNetworkConfig", False)
HOST_NETWORK_CONFIG = "vm-net-vlan100-hosts"
HNC_SINCE = (1, 8, 0)


def host_network_config() -> dict:
    """One HostNetworkConfig a v1.8 administrator creates: DHCP host addresses on vm-net's VLAN 100.
    Only its spec (the controller's status conditions are not read from source: left unset)."""
    return {
        "apiVersion": "network.harvesterhci.io/v1beta1",
        "kind": "HostNetworkConfig",
        "metadata": {"name": HOST_NETWORK_CONFIG},
        "spec": {
            "clusterNetwork": "vm-net",
            "vlanID": 100,
            "mode": "dhcp",
            "underlay": False,
            "description": "host addresses on vm-net VLAN 100",
        },
    }


def _host_network_configs(cl: Cluster, spec: ProfileSpec) -> None:
    if tuple(int(x) for x in spec.harvester.lstrip("v").split(".")) >= HNC_SINCE:
        cl.apply(HOST_NETWORK_CONFIGS, host_network_config(), manager=MANAGER)


def vlan_config(nics: tuple[str, ...] = (hostfs.VM_NET_NIC,)) -> dict:
    return {
        "metadata": {"name": VLAN_CONFIG, "labels": {"network.harvesterhci.io/clusternetwork": "vm-net"}},
        "spec": {
            "clusterNetwork": "vm-net",
            "nodeSelector": {},
            "uplink": {
                "nics": list(nics),
                "linkAttributes": {"mtu": 1500, "txQLen": -1},
                "bondOptions": {"mode": "active-backup", "miimon": -1},
            },
        },
    }


POOLS = [
    {
        "metadata": {"name": "default-pool"},
        "spec": {
            "description": "global pool for VM and guest-cluster load balancers",
            "ranges": [
                {
                    "subnet": "192.0.2.128/26",
                    "rangeStart": "192.0.2.129",
                    "rangeEnd": "192.0.2.190",
                    "gateway": "192.0.2.129",
                }
            ],
            "selector": {"scope": [{"project": "*", "namespace": "*", "guestCluster": "*"}]},
        },
    },
    {
        "metadata": {"name": "guest-pool"},
        "spec": {
            "description": "guest clusters of namespace default on vlan 100",
            "ranges": [{"subnet": "198.51.100.0/24"}],
            "selector": {
                "priority": 10,
                "network": "default/vlan100",
                "scope": [{"project": "*", "namespace": "default", "guestCluster": "*"}],
            },
        },
    },
]


WEB_VM, DNS_VM = "vm-000", "vm-001"  # seeded VMs (kubevirt_seed.vm_name) the VM load balancers serve


def _lb(name: str, workload: str, mode: str, annotations: dict | None = None, backend: str = "web") -> dict:
    return {
        "apiVersion": R.LOADBALANCERS.api_version,
        "kind": R.LOADBALANCERS.kind,
        "metadata": {"name": name, "namespace": LB_NS, **({"annotations": annotations} if annotations else {})},
        "spec": {
            "description": f"{workload} load balancer ({mode})",
            "workloadType": workload,
            "ipam": mode,
            "listeners": [{"name": "http", "port": 80, "protocol": "TCP", "backendPort": 8080}],
            "backendServerSelector": {"harvesterhci.io/vmName": [backend]},
            "healthCheck": {
                "port": 8080,
                "successThreshold": 1,
                "failureThreshold": 3,
                "periodSeconds": 5,
                "timeoutSeconds": 3,
            },
        },
    }


def guest_annotations(ns: str) -> dict:
    return {
        ipam.ANN_CLUSTER: GUEST_CLUSTER,
        ipam.ANN_NAMESPACE: ns,
        ipam.ANN_PROJECT: "*",
        ipam.ANN_NETWORK: "default/vlan100",
    }


def load_balancers() -> list[dict]:
    return [
        _lb("vm-web", "vm", "pool", backend=WEB_VM),
        _lb("vm-temp", "vm", "pool", backend="temp"),
        _lb("vm-dns", "vm", "dhcp", backend=DNS_VM),
        _lb(GUEST_NGINX, "cluster", "pool", guest_annotations("default"), backend="nginx"),
        _lb(GUEST_INGRESS, "cluster", "dhcp", {ipam.ANN_CLUSTER: GUEST_CLUSTER}, backend="ingress"),
    ]


def lb_address(cl: Cluster, name: str) -> str | None:
    """A VM load balancer's address (from its Service's ingress); cluster ones have none."""
    return ((cl.get(R.LOADBALANCERS, name, LB_NS) or {}).get("status") or {}).get("address")


def lb_ip(cl: Cluster, name: str) -> str | None:
    """The allocated IP of a pool load balancer (0.0.0.0 for a DHCP one), whatever its workload."""
    status = (cl.get(R.LOADBALANCERS, name, LB_NS) or {}).get("status") or {}
    return (status.get("allocatedAddress") or {}).get("ip")


def pool_status(cl: Cluster, name: str) -> dict:
    return (cl.get(R.IPPOOLS, name) or {}).get("status") or {}


def delete_lb(cl: Cluster, name: str) -> None:
    cl.delete(R.LOADBALANCERS, name, LB_NS)
    wait_for("object-deleted", lambda: cl.get(R.LOADBALANCERS, name, LB_NS) is None)


def _create_lbs(cl: Cluster) -> None:
    for pool in POOLS:
        cl.apply(R.IPPOOLS, pool, manager=MANAGER)
    for lb in load_balancers():
        cl.create(R.LOADBALANCERS, lb, LB_NS)


def _lb_seen(cl: Cluster, *names: str) -> dict:
    """What a seeding wait on load balancers last saw: their status and the global pool's maps."""
    seen: dict = {n: (cl.get(R.LOADBALANCERS, n, LB_NS) or {}).get("status") for n in names}
    status = pool_status(cl, POOLS[0]["metadata"]["name"])
    seen["pool"] = {k: status.get(k) for k in ("allocated", "allocatedHistory", "lastAllocated")}
    return seen


def _lb_history(cl: Cluster) -> None:
    """vm-temp was deleted for good; vm-web was deleted and created again, and got its IP back (IPP-07)."""
    wait_for(
        "cluster-seeded",
        lambda: lb_address(cl, "vm-temp") and lb_address(cl, "vm-web"),
        describe=lambda: _lb_seen(cl, "vm-temp", "vm-web"),
    )
    web_ip = lb_address(cl, "vm-web")
    cl.delete(R.LOADBALANCERS, "vm-temp", LB_NS)
    delete_lb(cl, "vm-web")
    wait_for("object-deleted", lambda: cl.get(R.LOADBALANCERS, "vm-temp", LB_NS) is None)
    cl.create(R.LOADBALANCERS, next(lb for lb in load_balancers() if lb["metadata"]["name"] == "vm-web"), LB_NS)
    wait_for(
        "cluster-seeded",
        lambda: lb_address(cl, "vm-web") == web_ip,
        describe=lambda: {"want": web_ip, **_lb_seen(cl, "vm-web")},
    )


KUBE_VIP_RULES = [{"apiGroups": [""], "resources": ["services/status"], "verbs": ["get", "update", "patch"]}]
# LB's servicelb manager: the EndpointSlice beside each VM load balancer's Service.
SERVICELB_RULES = [
    {
        "apiGroups": ["discovery.k8s.io"],
        "resources": ["endpointslices"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    }
]


def seed(cl: Cluster, spec: ProfileSpec, state_dir: Path, progress: Callable[[str], None]) -> None:
    started = time.monotonic()
    names = _nodes(spec)
    # kube-vip's part: the ingress of the VM load balancers' Services (their status).
    grant_simulator(cl, "harvester-simulator-kube-vip", KUBE_VIP_RULES)
    grant_simulator(cl, "harvester-simulator-servicelb", SERVICELB_RULES)
    hostfs.write_hosts(Path(state_dir), spec, names)
    progress(f"simulated hosts written for {len(names)} nodes")
    _networks(cl)
    _host_network_configs(cl, spec)
    _create_lbs(cl)  # the ipam controller allocates while Trident and Rancher are seeded
    rancher.seed_trident(cl)
    rancher.seed_rancher(cl, spec, names, (Path(state_dir) / "pki" / "ca.crt").read_bytes())
    _lb_history(cl)
    progress(f"hosts, networks, load balancers, Trident and Rancher objects seeded ({time.monotonic() - started:.1f}s)")


def ready(cl: Cluster, spec: ProfileSpec) -> bool:
    for node in cl.list(R.NODES):
        ann = node["metadata"].get("annotations") or {}
        if nodes_ctl.REQUESTS_ANN not in ann or nodes_ctl.LIMITS_ANN not in ann:
            return False
    if not all(lb_settled(lb) for lb in cl.list(R.LOADBALANCERS)):
        return False
    return all("total" in (p.get("status") or {}) and "available" in p["status"] for p in cl.list(R.IPPOOLS))


def lb_settled(lb: dict) -> bool:
    """Ready with an allocated address, and an address when it is a VM load balancer; from LB
    v0.4.x a VM load balancer selecting no running VMI stays not Ready, which is settled too."""
    status = lb.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and (c.get("status") == "True" or c.get("message") == ipam.NO_BACKENDS)
        for c in status.get("conditions") or []
    )
    has_ip = bool((status.get("allocatedAddress") or {}).get("ip"))
    return ready and has_ip and (not ipam.is_vm_lb(lb) or bool(status.get("address")))


NODE_RESOURCES_PERIOD = 3.0  # seconds between the pod-resources agent's passes
MET01_POD_AGE = dt.timedelta(seconds=45)  # the missing pod has run for at least this long
MET01_SETTLED = dt.timedelta(seconds=30)  # and every other pod of the node for this long

CONTROLLERS = [
    ("harvester-node-resources", nodes_ctl.node_resources_factory, NODE_RESOURCES_PERIOD, ON_CHANGE),
    ("ipam", ipam.ipam_factory, 1.0, ON_CHANGE),
    ("harvester-network", nodes_ctl.network_factory, 3.0),
]
WEBHOOKS = ipam.WEBHOOKS
API_GROUPS: list = []


# -- fault helpers --------------------------------------------------------------------------
def state_dir_of(cl: Cluster) -> Path:
    return lifecycle.State.serving(cl.host).dir


def replace_pool_status(cl: Cluster, name: str, change: Callable[[dict], None]) -> None:
    def attempt() -> bool:
        pool = cl.get(R.IPPOOLS, name)
        assert pool is not None, f"IPPool {name} missing"
        status = dict(pool.get("status") or {})
        change(status)
        cl.replace(R.IPPOOLS, {**pool, "status": status})  # IPPool has no status subresource
        return True

    wait_for("cluster-seeded", attempt, timeout=30)


def pool_of(cl: Cluster, applicant: str) -> tuple[str, str]:
    for pool in cl.list(R.IPPOOLS):
        for ip, who in ((pool.get("status") or {}).get("allocated") or {}).items():
            if who == applicant:
                return pool["metadata"]["name"], ip
    raise RuntimeError(f"{applicant} holds no IP")


# -- faults ---------------------------------------------------------------------------------
# Each fault's node, fixed so that the objects it breaks can be declared: the last and the second
# of the three nodes every release profile has (the ones the faults picked when they searched).
LAST_NODE = "harvester-node-2"  # MET-01, NTA-03
SECOND_NODE, SECOND_INDEX = "harvester-node-1", 1  # SEC-04, ISC-02


def _met01(cl: Cluster) -> None:
    # The agent stopped on one node, and its last write is from before the node's longest-running
    # workload pod was counted: the annotations lack a pod that has run for long, which no event
    # lag explains (a pod created for the fault would be seconds old, within any honest lag).
    node = LAST_NODE
    cl.patch(R.NODES, node, {"metadata": {"annotations": {FAULT_ANNOTATION: nodes_ctl.STALE_POD_RESOURCES}}})
    # A reconcile that read the node before the stop may still land: write until the stale
    # values have held for longer than the agent's resync period (another omitted pod means other
    # stale values, written again, so the hold starts over).
    state: dict[str, float] = {}

    def held() -> bool:
        pods = nodes_ctl.non_terminated_by_node(cl.list(R.PODS)).get(node, [])
        oldest = _oldest_requesting(pods)
        # The omitted pod long-running (older than any lag a check may allow), and no pod of the
        # node in flight: a young pod with the omitted one's requests would make the stale totals
        # right for a check that may or may not count it yet (the revert before this fault had
        # just replaced a csi-resizer pod, requesting what the omitted one did).
        young = oldest is not None and _age(oldest) <= MET01_POD_AGE
        if young or any(p["metadata"].get("deletionTimestamp") or _age(p) <= MET01_SETTLED for p in pods):
            state.pop("since", None)
            return False
        requests, limits = nodes_ctl.pod_resources([p for p in pods if p is not oldest])
        stale = {nodes_ctl.REQUESTS_ANN: requests, nodes_ctl.LIMITS_ANN: limits}
        ann = (cl.get(R.NODES, node) or {})["metadata"].get("annotations") or {}
        if any(ann.get(k) != v for k, v in stale.items()):
            cl.patch(R.NODES, node, {"metadata": {"annotations": stale}})
            state.pop("since", None)
            return False
        state.setdefault("since", time.monotonic())
        return time.monotonic() - state["since"] > 2 * NODE_RESOURCES_PERIOD

    wait_for("cluster-seeded", held)


def _age(pod: dict) -> dt.timedelta:
    return clock.now() - dt.datetime.fromisoformat(pod["metadata"]["creationTimestamp"].replace("Z", "+00:00"))


def _oldest_requesting(pods: list[dict]) -> dict | None:
    """The node's oldest VM (virt-launcher pod) that requests CPU and is not on its way out; else
    its oldest such pod. A VM's pod stays while the other faults' reverts roll Longhorn's
    components out again (a csi-resizer pod replaced under the fault made its totals right)."""
    requesting = [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(
            ((c.get("resources") or {}).get("requests") or {}).get("cpu") for c in p["spec"].get("containers") or []
        )
    ]
    launchers = [p for p in requesting if (p["metadata"].get("labels") or {}).get("kubevirt.io") == "virt-launcher"]
    return min(launchers or requesting, key=lambda p: p["metadata"]["creationTimestamp"], default=None)


def _met01_revert(cl: Cluster) -> None:
    cl.patch(R.NODES, LAST_NODE, {"metadata": {"annotations": {FAULT_ANNOTATION: None}}})
    wait_for("object-restored", lambda: _pod_resources_current(cl, LAST_NODE))


def _pod_resources_current(cl: Cluster, node: str) -> bool:
    pods = nodes_ctl.non_terminated_by_node(cl.list(R.PODS)).get(node, [])
    requests, limits = nodes_ctl.pod_resources(pods)
    ann = (cl.get(R.NODES, node) or {})["metadata"].get("annotations") or {}
    return ann.get(nodes_ctl.REQUESTS_ANN) == requests and ann.get(nodes_ctl.LIMITS_ANN) == limits


def _ipp01(cl: Cluster) -> None:
    pool = {
        "apiVersion": R.IPPOOLS.api_version,
        "kind": R.IPPOOLS.kind,
        "metadata": {"name": "ipp01-stale"},
        "spec": {
            "description": "written while the IPPool webhook was down",
            "ranges": [{"subnet": "203.0.113.0/28", "rangeStart": "203.0.113.20", "rangeEnd": "203.0.113.14"}],
            "selector": {"scope": [{"project": "*", "namespace": "ipp01", "guestCluster": "*"}]},
        },
    }
    with webhook_down(cl, ipam.WEBHOOKS[0]["name"]):
        admitted(lambda: cl.create(R.IPPOOLS, pool))


def _ipp01_revert(cl: Cluster) -> None:
    cl.delete(R.IPPOOLS, "ipp01-stale")
    wait_for("object-deleted", lambda: cl.get(R.IPPOOLS, "ipp01-stale") is None)


def _ipp02(cl: Cluster) -> None:
    """An old controller's status write on guest-pool still lists vm-web's address from
    default-pool; the IPPool webhook refuses an allocation outside the ranges, so it was written
    while the webhook was down."""
    _, ip = pool_of(cl, f"{LB_NS}/vm-web")

    def change(status: dict) -> None:
        status.setdefault("allocated", {})[ip] = f"{LB_NS}/vm-web"
        status["available"] = int(status.get("available", 0)) - 1

    with webhook_down(cl, ipam.WEBHOOKS[0]["name"]):
        replace_pool_status(cl, "guest-pool", change)  # retried until the registration is gone


def _ipp02_revert(cl: Cluster) -> None:
    applicant = f"{LB_NS}/vm-web"

    def change(status: dict) -> None:
        stale = [ip for ip, who in (status.get("allocated") or {}).items() if who == applicant]
        for ip in stale:
            del status["allocated"][ip]
        status["available"] = int(status.get("available", 0)) + len(stale)

    replace_pool_status(cl, "guest-pool", change)


def _guest_lb_body(cl: Cluster) -> dict:
    lb = cl.get(R.LOADBALANCERS, GUEST_NGINX, LB_NS)
    assert lb is not None, f"LoadBalancer {LB_NS}/{GUEST_NGINX} missing"
    return {
        "apiVersion": R.LOADBALANCERS.api_version,
        "kind": R.LOADBALANCERS.kind,
        "metadata": {
            "name": GUEST_NGINX,
            "namespace": LB_NS,
            "annotations": lb["metadata"].get("annotations") or {},
            "labels": lb["metadata"].get("labels") or {},
        },
        "spec": lb["spec"],
    }


def _ipp03(cl: Cluster) -> None:
    """The KB's keep-IP step done too late: the guest cluster's LB came back under its name before
    allocatedHistory was patched, so it took a new IP and the history names it for the old one."""
    applicant = f"{LB_NS}/{GUEST_NGINX}"
    body = _guest_lb_body(cl)
    pool, old_ip = pool_of(cl, applicant)
    delete_lb(cl, GUEST_NGINX)
    wait_for("cluster-seeded", lambda: pool_status(cl, pool).get("allocatedHistory", {}).get(old_ip) == applicant)
    # The upgrade renamed the guest cluster's service LB: the history holds it under the old name.
    replace_pool_status(cl, pool, lambda s: s["allocatedHistory"].__setitem__(old_ip, applicant + "-pre-upgrade"))
    cl.create(R.LOADBALANCERS, body, LB_NS)
    wait_for("cluster-seeded", lambda: lb_ip(cl, GUEST_NGINX))
    replace_pool_status(cl, pool, lambda s: s["allocatedHistory"].__setitem__(old_ip, applicant))


def _ipp03_revert(cl: Cluster) -> None:
    applicant = f"{LB_NS}/{GUEST_NGINX}"
    body = _guest_lb_body(cl)
    pool, new_ip = pool_of(cl, applicant)
    history = pool_status(cl, pool).get("allocatedHistory", {})
    old_ip = next(ip for ip, who in history.items() if who == applicant)
    delete_lb(cl, GUEST_NGINX)
    wait_for("cluster-seeded", lambda: pool_status(cl, pool).get("allocatedHistory", {}).get(new_ip) == applicant)
    replace_pool_status(cl, pool, lambda s: s["allocatedHistory"].pop(new_ip, None))
    cl.create(R.LOADBALANCERS, body, LB_NS)
    wait_for("cluster-seeded", lambda: lb_ip(cl, GUEST_NGINX) == old_ip)


def _ipp04(cl: Cluster) -> None:
    # Counters left behind by a controller that counted releases twice.
    replace_pool_status(cl, "default-pool", lambda s: s.__setitem__("available", int(s.get("available", 0)) + 3))


def _ipp04_revert(cl: Cluster) -> None:
    replace_pool_status(
        cl, "default-pool", lambda s: s.__setitem__("available", int(s["total"]) - len(s.get("allocated") or {}))
    )


def _nic01(cl: Cluster) -> None:
    cl.apply(R.VLAN_CONFIGS, vlan_config(("eno9",)), manager=MANAGER)


def _nic01_revert(cl: Cluster) -> None:
    cl.apply(R.VLAN_CONFIGS, vlan_config(), manager=MANAGER)


SEC01_PROXY = {
    "httpProxy": "http://192.0.2.5:3128",
    "httpsProxy": "http://192.0.2.5:3128",
    "noProxy": "localhost,127.0.0.1,0.0.0.0,10.0.0.0/8,.svc,.cluster.local,192.0.2.11",
}


def _sec01(cl: Cluster) -> None:
    value = json.dumps(SEC01_PROXY, separators=(",", ":"))
    with webhook_down(cl, SETTING_WEBHOOK):
        admitted(lambda: cl.patch(R.HARVESTER_SETTINGS, "http-proxy", {"value": value}))


def _sec01_revert(cl: Cluster) -> None:
    cl.patch(R.HARVESTER_SETTINGS, "http-proxy", {"value": None})


SEC04_LEAF = "serving-kube-apiserver"


def _sec04_node(cl: Cluster) -> tuple[str, str]:
    node = cl.get(R.NODES, SECOND_NODE)
    assert node is not None, f"Node {SECOND_NODE} does not exist; is the cluster seeded?"
    ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    return SECOND_NODE, ip


def _rewrite_leaf(cl: Cluster, days_left: float) -> None:
    state_dir = state_dir_of(cl)
    node, ip = _sec04_node(cl)
    cas = {name: hostfs.load_ca(state_dir, node, name) for name in ("server-ca", "client-ca")}
    end = pki.now() + dt.timedelta(days=days_left)
    start = end - dt.timedelta(days=hostfs.RKE2_LEAF_DAYS)
    hostfs.write_rke2_leaf(
        state_dir, node, SEC04_LEAF, hostfs.issue_rke2_leaf(cas, SEC04_LEAF, node, ip, not_before=start, not_after=end)
    )


def _sec04(cl: Cluster) -> None:
    # A server that has not restarted for a year: RKE2 renews only on restart (facts §2.4).
    _rewrite_leaf(cl, 2)


def _sec04_revert(cl: Cluster) -> None:
    # Restarted: the server's file is again the certificate the apiserver serves.
    hostfs.write_apiserver_serving(state_dir_of(cl), SECOND_NODE)


def _nta02(cl: Cluster) -> None:
    # The operator chart's role applied without the KB's authorisation step.
    cl.apply(R.CLUSTER_ROLES, rancher.trident_psa_role(("get", "list", "watch")), manager=MANAGER)


def _nta02_revert(cl: Cluster) -> None:
    cl.apply(R.CLUSTER_ROLES, rancher.trident_psa_role(), manager=MANAGER)


def _nta03(cl: Cluster) -> None:
    """A node set up from the article before its 2026-02-17 revision, then rebooted: its
    /oem/99_multipathd.yaml enables multipathd in stage `default`, which no boot runs, so the
    multipathd the admin had started by hand came back disabled and stopped (Harvester's default)."""
    state_dir, node = state_dir_of(cl), LAST_NODE
    hostfs.write(state_dir, node, "services.json", json.dumps(hostfs.services(False), indent=2, sort_keys=True) + "\n")
    hostfs.write(state_dir, node, "oem/99_multipathd.yaml", hostfs.OEM_MULTIPATHD_UNREVISED)


def _nta03_revert(cl: Cluster) -> None:
    state_dir, node = state_dir_of(cl), LAST_NODE
    hostfs.write(state_dir, node, "services.json", json.dumps(hostfs.services(True), indent=2, sort_keys=True) + "\n")
    hostfs.write(state_dir, node, "oem/99_multipathd.yaml", hostfs.OEM_MULTIPATHD)


def _isc02(cl: Cluster) -> None:
    """An iSCSI-booted node after an upgrade: still running with the arguments, but the upgrade
    rewrote grub.cfg without them (the KB's warning)."""
    state_dir, node, index = state_dir_of(cl), SECOND_NODE, SECOND_INDEX
    version = (cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value") or "dev"
    hostfs.write_ibft(state_dir, node, index)
    hostfs.write(state_dir, node, "proc/cmdline", hostfs.kernel_cmdline(iscsi=True))
    hostfs.write(state_dir, node, hostfs.GRUB_CFG, hostfs.grub_cfg(version))


def _isc02_revert(cl: Cluster) -> None:
    state_dir, node = state_dir_of(cl), SECOND_NODE
    version = (cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value") or "dev"
    hostfs.remove(state_dir, node, "sys/firmware/ibft")
    hostfs.write(state_dir, node, "proc/cmdline", hostfs.kernel_cmdline(iscsi=False))
    hostfs.write(state_dir, node, hostfs.GRUB_CFG, hostfs.grub_cfg(version))


def _renew_credential(cl: Cluster, ttl_minutes: int, created: dt.datetime | None) -> None:
    secret = cl.get(R.SECRETS, rancher.CC_NAME, rancher.CC_NS)
    assert secret is not None, f"Secret {rancher.CC_NS}/{rancher.CC_NAME} does not exist; is the cluster seeded?"
    kubeconfig = yaml.safe_load(base64.b64decode(secret["data"][rancher.CC_KEY]))
    old_name = kubeconfig["users"][0]["user"]["token"].split(":", 1)[0]
    token = cl.get(rancher.TOKENS, old_name) or {}
    user = token.get("userId") or "u-" + old_name.removeprefix("kubeconfig-u-")[:5]
    cluster = kubeconfig["clusters"][0]["cluster"]
    bearer = rancher.new_token(cl, user, ttl_minutes, created)
    new = rancher.kubeconfig_for(cluster["server"], base64.b64decode(cluster["certificate-authority-data"]), bearer)
    # The KB's renewal: a merge patch of the kubeconfig data key.
    cl.patch(
        R.SECRETS,
        secret["metadata"]["name"],
        {"data": {rancher.CC_KEY: base64.b64encode(new.encode()).decode()}},
        rancher.CC_NS,
    )


def _ccr01(cl: Cluster) -> None:
    # Issued 31 days ago under Rancher 2.8's default TTL of 30 days.
    _renew_credential(cl, 43200, clock.now() - dt.timedelta(days=31))


def _ccr01_revert(cl: Cluster) -> None:
    setting = cl.get(R.RANCHER_SETTINGS, rancher.TTL_SETTING) or {}
    _renew_credential(cl, int(setting.get("value") or setting.get("default") or 0), None)


UPG07_NAME = "hvst-upgrade-upg07"


def _upg07(cl: Cluster) -> None:
    current = (cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value") or ""
    target = rancher.NEXT_RELEASE.get(current, current)
    cl.create(
        R.UPGRADES,
        {
            "apiVersion": R.UPGRADES.api_version,
            "kind": R.UPGRADES.kind,
            "metadata": {
                "name": UPG07_NAME,
                "namespace": "harvester-system",
                "labels": {
                    "harvesterhci.io/latestUpgrade": "true",
                    "harvesterhci.io/upgradeState": "UpgradingSystemService",
                },
            },
            "spec": {"version": target, "logEnabled": True},
            "status": {
                "previousVersion": current,
                "conditions": [
                    {"type": "ImageReady", "status": "True"},
                    {"type": "RepoReady", "status": "True"},
                    {"type": "SystemServicesUpgraded", "status": "Unknown"},
                ],
            },
        },
        "harvester-system",
    )


def _upg07_revert(cl: Cluster) -> None:
    cl.delete(R.UPGRADES, UPG07_NAME, "harvester-system")


UPG05_NAME = "upg05-backup"


def _upg05(cl: Cluster) -> None:
    vms = cl.list(R.VMS, "default")
    vm = vms[0]["metadata"]["name"] if vms else "vm-0"
    cl.create(
        R.VM_BACKUPS,
        {
            "apiVersion": R.VM_BACKUPS.api_version,
            "kind": R.VM_BACKUPS.kind,
            "metadata": {"name": UPG05_NAME, "namespace": "default"},
            "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": vm}, "type": "backup"},
            "status": {"readyToUse": False, "progress": 35},
        },
        "default",
    )


def _upg05_revert(cl: Cluster) -> None:
    cl.delete(R.VM_BACKUPS, UPG05_NAME, "default")


FAULTS = [
    Fault(
        "MET-01",
        "the pod-resources agent stuck on one node since before its longest-running pod was counted",
        _met01,
        _met01_revert,
        objects=(f"Node {LAST_NODE}",),
    ),
    Fault(
        "IPP-01",
        "an IPPool with rangeStart outside its subnet, written while the IPPool webhook was down",
        _ipp01,
        _ipp01_revert,
        objects=("IPPool ipp01-stale",),
        creates=("IPPool ipp01-stale",),
    ),
    Fault(
        "IPP-02",
        "a stale guest-pool status from an old controller also allocating vm-web's IP",
        _ipp02,
        _ipp02_revert,
        objects=("IPPool guest-pool",),
    ),
    Fault(
        "IPP-03",
        "a guest-cluster LB recreated before its history was patched: new IP, history names the old one",
        _ipp03,
        _ipp03_revert,
        objects=(f"LoadBalancer {LB_NS}/{GUEST_NGINX}",),
    ),
    Fault(
        "IPP-04",
        "default-pool counters out of sync (available != total - allocated)",
        _ipp04,
        _ipp04_revert,
        objects=("IPPool default-pool",),
    ),
    Fault(
        "NIC-01",
        "vm-net-vc's uplink renamed to eno9, a NIC the hosts do not have",
        _nic01,
        _nic01_revert,
        objects=(f"VlanConfig {VLAN_CONFIG}",),
    ),
    Fault(
        "SEC-01",
        "http-proxy with a proxy and a noProxy missing node IPs, written while the webhook was down",
        _sec01,
        _sec01_revert,
        objects=("Setting http-proxy",),
    ),
    Fault(
        "SEC-04",
        "an RKE2 serving certificate on one host two days from expiry",
        _sec04,
        _sec04_revert,
        objects=(f"Node {SECOND_NODE}",),
    ),
    Fault(
        "NTA-02",
        "trident-operator-psa ClusterRole without the updatepsa verb",
        _nta02,
        _nta02_revert,
        objects=("ClusterRole trident-operator-psa",),
    ),
    Fault(
        "NTA-03",
        "one node set up from the unrevised article (/oem stage `default`) and rebooted: multipathd disabled",
        _nta03,
        _nta03_revert,
        objects=(f"Node {LAST_NODE}",),
    ),
    Fault(
        "CCR-01",
        "the cloud credential's token expired (30-day TTL, issued 31 days ago)",
        _ccr01,
        _ccr01_revert,
        objects=(f"Secret {rancher.CC_NS}/{rancher.CC_NAME}",),
    ),
    Fault(
        "ISC-02",
        "an iSCSI-booted node whose grub.cfg an upgrade rewrote without the iSCSI arguments",
        _isc02,
        _isc02_revert,
        objects=(f"Node {SECOND_NODE}",),
    ),
    Fault(
        "UPG-05",
        "a VirtualMachineBackup in progress",
        _upg05,
        _upg05_revert,
        objects=(f"VirtualMachineBackup default/{UPG05_NAME}",),
        creates=(f"VirtualMachineBackup default/{UPG05_NAME}",),
    ),
    Fault(
        "UPG-07",
        "an Upgrade in progress (upgradeState UpgradingSystemService)",
        _upg07,
        _upg07_revert,
        objects=(f"Upgrade harvester-system/{UPG07_NAME}",),
        creates=(f"Upgrade harvester-system/{UPG07_NAME}",),
    ),
]
