"""Issue 9, networks part: the emulated cluster's load balancers, IP pools, networks, node
annotations, cloud credentials and RKE2 serving certificate follow upstream (facts §17.5, §17.6,
§17.8, §12, §13).

Each test names its upstream source (project, file, tag). Pure model functions are tested
without a cluster; the rest on the release profiles concerned. Expectations are written out here
(plain values, or independent arithmetic), not computed with the simulator's functions.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import re
import socket
import ssl
import urllib.parse

import pytest
import yaml
from cryptography import x509

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import all_faults, upgrade_hazards
from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
from harvester_conformance.emulator.areas import harvester_hosts_ipam as ipam
from harvester_conformance.emulator.areas import harvester_hosts_rancher as rancher_area
from harvester_conformance.emulator.areas.harvester_hosts_nodes import pod_resources, vlan_status_name
from harvester_conformance.waits import wait_for
from tests.test_area_upgrade_hazards import renew

PROFILE = "v1.3.1"
ASK_DHCP = "0.0.0.0"  # noqa: S104 - LB utils.Address4AskDHCP, an address, not a bind


# -- pool selection (pure) ------------------------------------------------------------------------------
def _pool(name: str, scope: list[dict], priority: int = 0, network: str = "", is_global: bool = False) -> dict:
    labels = {"loadbalancer.harvesterhci.io/global-ip-pool": "true" if is_global else "false"}
    selector: dict = {"scope": scope}
    if priority:
        selector["priority"] = priority
    if network:
        selector["network"] = network
    return {"metadata": {"name": name, "labels": labels}, "spec": {"ranges": [], "selector": selector}}


def _lb(annotations: dict, ns: str = "default") -> dict:
    return {"metadata": {"name": "lb", "namespace": ns, "annotations": annotations}, "spec": {"ipam": "pool"}}


STAR = {"project": "*", "namespace": "*", "guestCluster": "*"}
NET = "loadbalancer.harvesterhci.io/network"
NS = "loadbalancer.harvesterhci.io/namespace"
PROJECT = "loadbalancer.harvesterhci.io/project"
CLUSTER = "loadbalancer.harvesterhci.io/cluster"


def test_global_pool_is_the_fallback_whatever_network_is_requested():
    """LB pkg/ipam/selector.go (v0.4.0, unchanged at v1.5.0) `Select`: when no pool matches, the
    global pool is returned, with no check of the requested network."""
    pools = [_pool("global", [STAR], is_global=True), _pool("other", [{**STAR, "namespace": "x"}], 5, "default/vlan1")]
    got = ipam.select_pool(pools, _lb({NET: "default/vlan100"}))
    assert got is not None and got["metadata"]["name"] == "global"


def test_requested_star_matches_any_scope_value():
    """LB pkg/ipam/selector.go v0.4.0 / v1.5.0 `isMatch`: a `*` in the requirement matches any
    value of the pool's tuple (and an empty field matches only an empty one)."""
    scoped = _pool("scoped", [{"project": "p-1", "namespace": "team-a", "guestCluster": "c-1"}], 3, "default/vlan100")
    pools = [_pool("global", [STAR], is_global=True), scoped]
    wildcard = _lb({NET: "default/vlan100", PROJECT: "*", NS: "*", CLUSTER: "*"})
    assert ipam.select_pool(pools, wildcard)["metadata"]["name"] == "scoped"
    # No project/cluster annotations: "" does not match p-1 / c-1, so the global pool is used.
    plain = _lb({NET: "default/vlan100", NS: "team-a"})
    assert ipam.select_pool(pools, plain)["metadata"]["name"] == "global"


def test_equal_priority_the_pool_listed_later_wins():
    """LB pkg/ipam/selector.go v0.4.0 / v1.5.0: `pool.Spec.Selector.Priority >= priority`, so among
    matching pools of the same priority the one listed last is selected; a higher one still wins."""
    scope = [{**STAR, "namespace": "default"}]
    a, b = _pool("a-pool", scope, 0, "default/vlan100"), _pool("b-pool", scope, 0, "default/vlan100")
    lb = _lb({NET: "default/vlan100"})
    assert ipam.select_pool([a, b], lb)["metadata"]["name"] == "b-pool"
    assert ipam.select_pool([b, a], lb)["metadata"]["name"] == "a-pool"
    high = _pool("high", scope, 7, "default/vlan100")
    assert ipam.select_pool([high, a, b], lb)["metadata"]["name"] == "high"


# -- the ipam controller on a fake API (pure) --------------------------------------------------------
class FakeApi:
    """Just enough of Cluster for the ipam controller: objects by (kind, namespace, name)."""

    def __init__(self, objs: list[dict]) -> None:
        self.objs = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objs}
        self.rv = 1
        self.writes: list[tuple[str, str]] = []

    def _bump(self, obj: dict) -> dict:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        obj["metadata"].setdefault("uid", f"uid-{obj['metadata']['name']}")
        return copy.deepcopy(obj)

    def list(self, res, namespace=None, label_selector=None) -> list[dict]:
        return [copy.deepcopy(o) for (k, _, _), o in sorted(self.objs.items()) if k == res.kind]

    def get(self, res, name, namespace=None):
        o = self.objs.get((res.kind, namespace, name))
        return copy.deepcopy(o) if o else None

    def replace(self, res, body, sub=None):
        assert sub is None, "no status subresource upstream"
        self.writes.append((res.kind, body["metadata"]["name"]))
        key = (res.kind, body["metadata"].get("namespace"), body["metadata"]["name"])
        self.objs[key] = copy.deepcopy(body)
        return self._bump(self.objs[key])

    def create(self, res, body, namespace=None):
        body = {**copy.deepcopy(body), "kind": res.kind}
        self.objs[(res.kind, namespace, body["metadata"]["name"])] = body
        return self._bump(body)

    def patch(self, res, name, body, namespace=None, sub=None):
        obj = self.objs[(res.kind, namespace, name)]
        for key, value in body.items():
            if isinstance(value, dict) and isinstance(obj.get(key), dict):
                obj[key].update(value)
            else:
                obj[key] = value
        return self._bump(obj)

    def delete(self, res, name, namespace=None):
        return self.objs.pop((res.kind, namespace, name), None) is not None


def _fake_pool(status: dict) -> dict:
    return {
        "apiVersion": "loadbalancer.harvesterhci.io/v1beta1",
        "kind": "IPPool",
        "metadata": {
            "name": "p",
            "resourceVersion": "1",
            "labels": {"loadbalancer.harvesterhci.io/global-ip-pool": "true"},
        },
        "spec": {"ranges": [{"subnet": "10.9.0.0/29"}], "selector": {"scope": [STAR]}},
        "status": status,
    }


def test_ippool_counters_are_recounted_when_the_controller_starts():
    """LB pkg/controller/ippool/controller.go v0.4.0 `OnChange`: with no allocator yet (controller
    start) the allocator is built and `updateStatus` writes total, available = total - allocated
    and the history pruned to the ranges; later events with the same ranges write nothing."""
    stale = {
        "total": 99,
        "available": 42,
        "lastAllocated": "10.9.0.3",
        "allocated": {"10.9.0.3": "default/a"},
        "allocatedHistory": {"10.9.0.4": "default/b", "192.0.2.77": "default/gone"},
    }
    api = FakeApi([_fake_pool(stale)])
    controller = ipam.Ipam(api)  # type: ignore[arg-type]
    controller.reconcile()
    status = api.get(R.IPPOOLS, "p")["status"]
    # /29: .1-.6 usable, gateway .1 inside the range: 6 - 1 = 5.
    assert (status["total"], status["available"], status["lastAllocated"]) == (5, 4, "10.9.0.3")
    assert status["allocatedHistory"] == {"10.9.0.4": "default/b"}
    api.replace(R.IPPOOLS, {**api.get(R.IPPOOLS, "p"), "status": {**status, "available": 0}})
    api.writes.clear()
    controller.reconcile()  # same ranges: the allocator is not rebuilt, the stale count stays
    assert api.writes == [] and api.get(R.IPPOOLS, "p")["status"]["available"] == 0


def test_dhcp_load_balancer_asks_dhcp_and_keeps_no_pool():
    """LB pkg/controller/loadbalancer/controller.go v0.4.0 `allocatedIPFromDHCP`: a DHCP load
    balancer releases any pool IP and gets `allocatedAddress: {ip: 0.0.0.0}` (utils.Address4AskDHCP)."""
    pool = _fake_pool({"total": 5, "available": 4, "lastAllocated": "10.9.0.2", "allocated": {"10.9.0.2": "default/x"}})
    lb = {
        "apiVersion": "loadbalancer.harvesterhci.io/v1beta1",
        "kind": "LoadBalancer",
        "metadata": {"name": "x", "namespace": "default", "resourceVersion": "1", "uid": "u-x"},
        "spec": {"workloadType": "cluster", "ipam": "dhcp"},
        "status": {"allocatedAddress": {"ipPool": "p", "ip": "10.9.0.2", "mask": "255.255.255.248"}},
    }
    api = FakeApi([pool, lb])
    ipam.Ipam(api).reconcile()  # type: ignore[arg-type]
    got = api.get(R.LOADBALANCERS, "x", "default")["status"]
    assert got["allocatedAddress"] == {"ip": ASK_DHCP} and "address" not in got
    assert api.get(R.IPPOOLS, "p")["status"]["allocatedHistory"] == {"10.9.0.2": "default/x"}


# -- node annotations, VlanStatus names (pure) --------------------------------------------------------
def test_node_without_pods_has_pods_zero_in_requests():
    """HV v1.3.1 pkg/controller/master/rancher/pod_resources.go: the pod list is never nil, so
    `requests[pods]` is always set ("0" for no pod); limits never carry `pods`."""
    assert pod_resources([]) == ('{"pods":"0"}', "{}")


def test_vlan_status_name_is_nc_utils_name():
    """NC pkg/utils/name.go (v0.3.3, v0.4.0, v0.5.1): `Name("", clusterNetwork, node)` =
    `<cn>-<node>` cut to 63 - 1 - 8 characters, `-`, CRC-32 IEEE of the uncut name in hex."""
    assert vlan_status_name("vm-net", "harvester-node-0") == (
        "vm-net-harvester-node-0-" + f"{binascii.crc32(b'vm-net-harvester-node-0'):08x}"
    )
    long_node = "n" * 80
    name = vlan_status_name("vm-net", long_node)
    assert len(name) == 63 and name.endswith(f"-{binascii.crc32(('vm-net-' + long_node).encode()):08x}")


def test_no_controller_copies_harvesters_ttl_into_rancher():
    """HV v1.3.1 pkg/controller/master/setting/kubeconfigttl.go updates only the Rancher embedded in
    Harvester; the external Rancher's settings, which govern cloud credentials, are its own."""
    assert [name for name, _, _ in upgrade_hazards.CONTROLLERS] == ["rancher-tokens"]


# -- live: load balancers --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cl(emulated):
    c = Cluster.from_kubeconfig(str(emulated(PROFILE).kubeconfig))
    yield c
    c.close()


def _lbs(cl: Cluster) -> dict[str, dict]:
    return {lb["metadata"]["name"]: lb for lb in cl.list(R.LOADBALANCERS, "default")}


def test_load_balancer_statuses_by_workload_and_ipam(cl):
    """LB pkg/controller/loadbalancer/controller.go (v0.4.0 = v1.5.0; v0.2.0/v0.3.0 the same):
    `address` only for VM load balancers, from their Service's ingress (`waitServiceExternalIP`);
    DHCP ones hold `ip: 0.0.0.0` and no pool; guest-cluster ones carry the IP in allocatedAddress."""
    lbs = wait_for("cluster-seeded", lambda: (got := _lbs(cl)) and all(ipam_ready(lb) for lb in got.values()) and got)
    for name, lb in lbs.items():
        spec, status = lb["spec"], lb["status"]
        if spec["ipam"] == "dhcp":
            assert status["allocatedAddress"] == {"ip": ASK_DHCP}, name
        else:
            assert status["allocatedAddress"]["ipPool"] and status["allocatedAddress"]["ip"] != ASK_DHCP, name
        if spec["workloadType"] == "vm":
            svc = cl.get(R.SERVICES, name, "default")
            assert svc["spec"]["type"] == "LoadBalancer"
            assert svc["metadata"]["labels"]["loadbalancer.harvesterhci.io/servicelb"] == "true"
            assert svc["metadata"]["ownerReferences"][0]["uid"] == lb["metadata"]["uid"]
            assert svc["spec"]["loadBalancerIP"] == status["allocatedAddress"]["ip"]
            assert status["address"] == svc["status"]["loadBalancer"]["ingress"][0]["ip"] != ASK_DHCP
            if spec["ipam"] == "pool":
                assert status["address"] == status["allocatedAddress"]["ip"]
        else:
            assert "address" not in status, name
    assert {lb["spec"]["workloadType"] for lb in lbs.values()} == {"vm", "cluster"}


def ipam_ready(lb: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (lb.get("status") or {}).get("conditions", []))


def test_ippool_and_loadbalancer_have_no_status_subresource(cl):
    """LB crds/loadbalancer.harvesterhci.io_{ippools,loadbalancers}.yaml v0.4.0 / v1.5.0:
    `subresources: {}`; IPPool status requires available, lastAllocated and total."""
    for res, name, ns in ((R.IPPOOLS, "default-pool", None), (R.LOADBALANCERS, "vm-web", "default")):
        with pytest.raises(ApiError) as err:
            cl.request("GET", res.path(ns, name, "status"))
        assert err.value.status == 404
    pool = cl.get(R.IPPOOLS, "default-pool")
    broken = {**pool, "status": {k: v for k, v in pool["status"].items() if k != "lastAllocated"}}
    with pytest.raises(ApiError) as err:
        cl.request("PUT", R.IPPOOLS.path(None, "default-pool"), body=broken, query={"dryRun": "All"})
    assert err.value.status == 422 and "lastAllocated" in str(err.value)


def test_v1alpha1_load_balancer_has_its_own_fields(cl):
    """LB pkg/apis/loadbalancer.harvesterhci.io/v1alpha1/type.go (v0.2.0 ... v1.5.0):
    `spec.backendServers`, `healthCheck.PeriodSeconds`, `ipam` required; v1beta1 fields refused."""
    base = "/apis/loadbalancer.harvesterhci.io/v1alpha1/namespaces/default/loadbalancers"
    query = {"dryRun": "All", "fieldValidation": "Strict"}
    lb = {
        "apiVersion": "loadbalancer.harvesterhci.io/v1alpha1",
        "kind": "LoadBalancer",
        "metadata": {"name": "legacy", "namespace": "default"},
        "spec": {
            "ipam": "pool",
            "listeners": [{"name": "http", "port": 80, "protocol": "TCP", "backendPort": 8080}],
            "backendServers": ["10.52.0.10"],
            "healthCheck": {
                "port": 8080,
                "successThreshold": 1,
                "failureThreshold": 3,
                "PeriodSeconds": 5,
                "timeoutSeconds": 3,
            },
        },
    }
    cl.request("POST", base, body=lb, query=query)
    beta_only = copy.deepcopy(lb)
    beta_only["spec"]["workloadType"] = "vm"
    with pytest.raises(ApiError) as err:
        cl.request("POST", base, body=beta_only, query=query)
    assert err.value.status in (400, 422) and "workloadType" in str(err.value)


# -- live: networks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["v1.2.1", PROFILE])
def test_nodenetwork_is_not_served(emulated, profile):
    """NC v0.3.3 (Harvester v1.2.0) removed NodeNetwork (NC pkg/apis/network.harvesterhci.io/v1beta1
    at v0.3.3 has ClusterNetwork, VlanConfig, VlanStatus, LinkMonitor only): a v1.2+ cluster
    answers 404 for it."""
    c = Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))
    try:
        kinds = {r["kind"] for r in c.request("GET", "/apis/network.harvesterhci.io/v1beta1")["resources"]}
        assert kinds == {"ClusterNetwork", "VlanConfig", "VlanStatus", "LinkMonitor"}
        with pytest.raises(ApiError) as err:
            c.request("GET", "/apis/network.harvesterhci.io/v1beta1/nodenetworks")
        assert err.value.status == 404
    finally:
        c.close()


def test_clusternetwork_has_only_a_status(cl):
    """NC pkg/apis/network.harvesterhci.io/v1beta1/clusternetwork.go (v0.3.3, v0.4.0, v0.5.1):
    ClusterNetwork has only `status.conditions`; the legacy `enable`/`description`/`config`
    (NC <= v0.2.x) are refused under strict validation."""
    body = {
        "apiVersion": "network.harvesterhci.io/v1beta1",
        "kind": "ClusterNetwork",
        "metadata": {"name": "legacy-vlan"},
        "enable": True,
        "description": "legacy",
        "config": {"defaultPhysicalNIC": "eno2"},
    }
    with pytest.raises(ApiError) as err:
        cl.request(
            "POST", R.CLUSTER_NETWORKS.path(None), body=body, query={"dryRun": "All", "fieldValidation": "Strict"}
        )
    assert err.value.status in (400, 422)
    assert all(k not in cn for cn in cl.list(R.CLUSTER_NETWORKS) for k in ("enable", "description", "config"))


def test_vlan_status_names_on_the_cluster(cl):
    """NC pkg/controller/agent/vlanconfig/controller.go v0.4.0 `statusName`: `utils.Name("",
    clusterNetwork, nodeName)`, computed here with binascii's CRC-32."""

    def names() -> set[str]:
        return {v["metadata"]["name"] for v in cl.list(R.VLAN_STATUSES)}

    nodes = sorted(n["metadata"]["name"] for n in cl.list(R.NODES))
    want = {f"vm-net-{n}-{binascii.crc32(f'vm-net-{n}'.encode()):08x}" for n in nodes}
    assert wait_for("cluster-seeded", lambda: names() == want and names())


# -- live: cloud credentials -------------------------------------------------------------------------
def _credential_token(c: Cluster) -> dict:
    secret = c.get(R.SECRETS, "cc-hvstr", "cattle-global-data")
    kubeconfig = yaml.safe_load(base64.b64decode(secret["data"]["harvestercredentialConfig-kubeconfigContent"]))
    return c.get(R.RANCHER_TOKENS, kubeconfig["users"][0]["user"]["token"].split(":", 1)[0])


def _reissue_credential(c: Cluster) -> None:
    """The credential as the external Rancher issues it now (CCR-01's undo renews it that way):
    the clusters are shared, and earlier tests renew the credential under other settings."""
    all_faults()["CCR-01"].revert(c)


@pytest.mark.parametrize(("profile", "default"), [("v1.3.1", "43200"), ("v1.2.1", "0")])
def test_cloud_credential_ttl_is_the_external_ranchers(emulated, profile, default):
    """HV v1.3.1 pkg/controller/master/setting/kubeconfigttl.go copies Harvester's TTL only into
    its embedded Rancher; the credential's token comes from the external Rancher, whose default
    kubeconfig-default-token-ttl-minutes is 43200 from Rancher v2.8 (v1.3.1 ships v2.8.3) and 0
    before (v1.2.1 ships v2.7.5) (facts §3, §17.8). The healthy seed sets a finite default to 0, as
    the article's remediation does; left at 43200 (CCR-02's fault) the credential gets 30 days."""
    c = Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))
    try:
        _reissue_credential(c)
        token = _credential_token(c)
        assert token["ttl"] == 0 and token["expiresAt"] == "" and token["expired"] is False
        setting = c.get(R.RANCHER_SETTINGS, "kubeconfig-default-token-ttl-minutes")
        assert (setting["default"], setting["value"]) == (default, "" if default == "0" else "0")
        rancher_area.token_ttl_fault("43200")(c)
        try:
            _reissue_credential(c)
            token = _credential_token(c)
            assert token["ttl"] == 43200 * 60_000
            created = dt.datetime.fromisoformat(token["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
            expires = dt.datetime.fromisoformat(token["expiresAt"].replace("Z", "+00:00"))
            assert abs(expires - created - dt.timedelta(days=30)) < dt.timedelta(minutes=2)
            assert token["expired"] is False
        finally:
            rancher_area.token_ttl_fault(None)(c)
            _reissue_credential(c)
    finally:
        c.close()


# -- live: the RKE2 serving certificate on the hosts ------------------------------------------------------
def _served(c: Cluster) -> x509.Certificate:
    url = urllib.parse.urlparse(c.host)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # reading the presented certificate
    with socket.create_connection((url.hostname, url.port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def _host_serials(c: Cluster, sd) -> set[int]:
    out = set()
    for node in (n["metadata"]["name"] for n in c.list(R.NODES)):
        pem = hostfs.read(sd, node, f"{hostfs.RKE2_TLS}/serving-kube-apiserver.crt")
        out.add(x509.load_pem_x509_certificate(pem).serial_number)
    return out


def test_host_serving_certificate_is_the_apiservers_and_follows_upg04(emulated, cl):
    """The file RKE2 keeps at /var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt is the
    certificate kube-apiserver serves (RKE2 passes it as --tls-cert-file); UPG-04's near-expiry
    certificate is therefore on the hosts too (issue 9)."""
    sd = emulated(PROFILE).state.dir
    assert _host_serials(cl, sd) == {_served(cl).serial_number}
    fault = all_faults()["UPG-04"]
    fault.inject(cl)
    try:
        served = _served(cl)
        assert served.not_valid_after_utc - dt.datetime.now(dt.UTC) < dt.timedelta(days=6)
        assert _host_serials(cl, sd) == {served.serial_number}
    finally:
        fault.revert(cl)
    assert _host_serials(cl, sd) == {_served(cl).serial_number}
    ca = x509.load_pem_x509_certificate(hostfs.read(sd, "harvester-node-0", f"{hostfs.RKE2_TLS}/server-ca.crt"))
    _served(cl).verify_directly_issued_by(ca)


def test_ccr03_renewal_is_capped_by_the_external_ranchers_maximum(cl):
    """A cap reaches renewals the way a real cluster's would: the external Rancher's
    auth-token-max-ttl-minutes caps the tokens it issues from then on (facts §17.8); Harvester's
    own setting is untouched, and the credential issued before keeps its TTL."""
    own = (cl.get(R.HARVESTER_SETTINGS, "kubeconfig-default-token-ttl-minutes") or {}).get("value")
    _reissue_credential(cl)
    before = _credential_token(cl)["metadata"]["name"]
    rancher_area.token_ttl_fault("1")(cl)
    try:
        renewed = renew(cl)  # the KB's renewal: a kubeconfig token from the external Rancher
        capped = wait_for(
            "cluster-seeded",
            lambda: (t := cl.get(R.RANCHER_TOKENS, renewed["metadata"]["name"])) and t["ttl"] == 60_000 and t,
        )
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", capped["expiresAt"])
        assert cl.get(R.RANCHER_TOKENS, before)["ttl"] == 0
        assert (cl.get(R.HARVESTER_SETTINGS, "kubeconfig-default-token-ttl-minutes") or {}).get("value") == own
    finally:
        rancher_area.token_ttl_fault(None)(cl)
    fresh = renew(cl)
    assert fresh["ttl"] == 0 and fresh["expiresAt"] == ""


def test_host_serving_files_are_the_apiservers_pair(tmp_path):
    """RKE2 serves kube-apiserver with /var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt
    (signed by server-ca.crt): the simulated hosts carry the emulated apiserver's own pair, and a
    re-issued leaf (SEC-04) is signed by that CA too. Without a cluster."""
    from harvester_conformance.emulator import controlplane
    from harvester_conformance.emulator.profiles import PROFILES

    controlplane.write_pki(tmp_path / "pki")
    nodes = ["harvester-node-0", "harvester-node-1"]
    hostfs.write_hosts(tmp_path, PROFILES[PROFILE], nodes)
    served = (tmp_path / "pki" / "apiserver.crt").read_bytes()
    ca = x509.load_pem_x509_certificate((tmp_path / "pki" / "ca.crt").read_bytes())
    for node in nodes:
        assert hostfs.read(tmp_path, node, f"{hostfs.RKE2_TLS}/serving-kube-apiserver.crt") == served
        assert (
            hostfs.read(tmp_path, node, f"{hostfs.RKE2_TLS}/server-ca.crt")
            == (tmp_path / "pki" / "ca.crt").read_bytes()
        )
    cas = {name: hostfs.load_ca(tmp_path, nodes[1], name) for name in ("server-ca", "client-ca")}
    leaf = hostfs.issue_rke2_leaf(cas, "serving-kube-apiserver", nodes[1], "192.0.2.12")
    leaf.cert.verify_directly_issued_by(ca)


# -- VM load balancers' backend servers (LB pkg/lb/servicelb, pkg/controller/loadbalancer) -------------
def _lb_vmi(name: str, ip: str, ns: str = "default", deleting: bool = False) -> dict:
    meta: dict = {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": {"harvesterhci.io/vmName": name}}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"interfaces": [{"name": "default", "ipAddress": ip}]}}


_VM_LB = {
    "apiVersion": "loadbalancer.harvesterhci.io/v1beta2",
    "kind": "LoadBalancer",
    "metadata": {"name": "web", "namespace": "default", "uid": "lb-uid"},
    "spec": {
        "listeners": [{"name": "http", "port": 80, "protocol": "TCP", "backendPort": 8080}],
        "backendServerSelector": {"harvesterhci.io/vmName": ["a", "b", "c"]},
    },
}


@pytest.mark.parametrize("harvester", [(1, 2, 1), (1, 3, 1), (1, 4, 3), (1, 5, 0)])
def test_lb_backend_servers_are_the_selected_vmis(harvester: tuple[int, ...]) -> None:
    """LB servicelb/manager.go matchBackendServers (v0.2.1 = HV v1.2.1, v0.3.0 = v1.3.1) and
    getServiceBackendServers (v0.4.4 = v1.4.3, v1.5.0): VMIs of the LB's namespace matching
    backendServerSelector (`key in values`), by their first IPv4 address (backendserver.go
    GetAddress); another namespace's or an IPv6-only VMI is no backend; from v0.4.x one being
    deleted neither. The EndpointSlice carries the listeners' backend ports."""
    vmis = [
        _lb_vmi("a", "10.52.0.10"),
        _lb_vmi("b", "fd00::1"),
        _lb_vmi("c", "10.52.0.12", deleting=True),
        _lb_vmi("a", "10.52.0.13", ns="other"),
    ]
    servers = ipam.backend_vmis(_VM_LB, vmis, harvester)
    expected = ["a"] if harvester >= (1, 4, 0) else ["a", "c"]
    assert [v["metadata"]["name"] for v in servers] == expected
    eps = ipam.lb_endpoint_slice(_VM_LB, servers, harvester, None)
    assert eps["metadata"]["labels"] == {
        "loadbalancer.harvesterhci.io/servicelb": "true",
        "kubernetes.io/service-name": "web",
    }
    assert eps["addressType"] == "IPv4"
    assert eps["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080}]
    assert [e["addresses"] for e in eps["endpoints"]] == [[ipam.backend_address(v)] for v in servers]


@pytest.mark.parametrize(
    ("harvester", "dummy"), [((1, 2, 1), False), ((1, 3, 1), False), ((1, 4, 3), True), ((1, 5, 0), True)]
)
def test_lb_without_backends(harvester: tuple[int, ...], dummy: bool) -> None:
    """LB v0.4.x/v1.5.0 manager.go appendDummyEndpoint: with no backend the slice gets the dummy
    endpoint 10.52.0.255 (and controller.go errNoRunningBackendServer keeps the LB not Ready);
    v0.2.1/v0.3.0 leave the slice empty and the LB Ready."""
    eps = ipam.lb_endpoint_slice(_VM_LB, [], harvester, None)
    assert [e["addresses"] for e in eps["endpoints"]] == ([["10.52.0.255"]] if dummy else [])
    assert ipam.NO_BACKENDS == "no running backend servers"


# -- Rancher tokens (rancher pkg/apis/management.cattle.io/v3/authn_types.go) --------------------------
@pytest.mark.parametrize(
    ("rancher", "last_update"), [((2, 7, 5), True), ((2, 8, 3), True), ((2, 10, 1), False), ((2, 11, 0), False)]
)
def test_rancher_token_fields(rancher: tuple[int, ...], last_update: bool) -> None:
    """authn_types.go Token at v2.7.5/v2.8.3/v2.10.1/v2.11.0 and usermanager.go EnsureClusterToken:
    the fields without omitempty at their zero values, `lastUpdateTime` only before v2.10, no
    clusterName for a kubeconfig token (EnsureToken), no lastUsedAt/enabled until set."""
    token = rancher_area.token_object("kubeconfig-u-abcdeffghi", "u-abcde", 0, rancher, "x")
    assert token["metadata"]["labels"] == {
        "authn.management.cattle.io/token-userId": "u-abcde",
        "authn.management.cattle.io/kind": "kubeconfig",
    }
    fields = {
        "token",
        "userPrincipal",
        "userId",
        "authProvider",
        "ttl",
        "isDerived",
        "description",
        "expired",
        "expiresAt",
        "current",
    } | ({"lastUpdateTime"} if last_update else set())
    assert set(token) - {"apiVersion", "kind", "metadata"} == fields
    assert token["isDerived"] is True and token["expired"] is False and token["current"] is False
