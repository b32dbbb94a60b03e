"""Area harvester_hosts on a real emulated cluster: simulated hosts, node annotations, networks,
IPAM and its webhooks, Trident, the Rancher side, and every fault of the area both ways.

The expectations are computed here independently (plain arithmetic on the objects), never with
the simulator's own functions, except the Quantity formatter's unit test.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
from fractions import Fraction

import pytest
import yaml
from cryptography import x509

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.cluster.resources import Resource
from harvester_conformance.emulator import areas as faults
from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
from harvester_conformance.emulator.areas.harvester_hosts_nodes import format_quantity, parse_quantity
from harvester_conformance.waits import wait_for

PROFILE = "v1.3.1"
TOKENS = Resource("management.cattle.io", "v3", "tokens", "Token", False)
REQ, LIM = "management.cattle.io/pod-requests", "management.cattle.io/pod-limits"


@pytest.fixture(scope="module")
def env(emulated):
    c = emulated(PROFILE)
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    yield c, cl
    cl.close()


@pytest.fixture(scope="module")
def cl(env) -> Cluster:
    return env[1]


@pytest.fixture(scope="module")
def sd(env):
    return env[0].state.dir


def node_names(cl: Cluster) -> list[str]:
    return sorted(n["metadata"]["name"] for n in cl.list(R.NODES))


# -- independent arithmetic ----------------------------------------------------------------
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": Fraction(1, 1000), "k": 1000, "M": 10**6, "G": 10**9}


def qty(text: str) -> Fraction:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(text))
    assert m, text
    return Fraction(m.group(1)) * _UNITS.get(m.group(2), 1)


def expected_sums(cl: Cluster, node: str) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    req: dict[str, Fraction] = {}
    lim: dict[str, Fraction] = {}
    pods = [
        p
        for p in cl.list(R.PODS)
        if p["spec"].get("nodeName") == node and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    ]
    for p in pods:
        preq: dict[str, Fraction] = {}
        plim: dict[str, Fraction] = {}
        for c in p["spec"].get("containers", []):
            for k, v in c.get("resources", {}).get("requests", {}).items():
                preq[k] = preq.get(k, 0) + qty(v)
            for k, v in c.get("resources", {}).get("limits", {}).items():
                plim[k] = plim.get(k, 0) + qty(v)
        for c in p["spec"].get("initContainers", []):
            for k, v in c.get("resources", {}).get("requests", {}).items():
                preq[k] = max(preq.get(k, 0), qty(v))
            for k, v in c.get("resources", {}).get("limits", {}).items():
                plim[k] = max(plim.get(k, 0), qty(v))
        for k, v in preq.items():
            req[k] = req.get(k, 0) + v
        for k, v in plim.items():
            lim[k] = lim.get(k, 0) + v
    req["pods"] = Fraction(len(pods))  # "0" on a node without pods (HV pod_resources.go)
    return req, lim


def annotated(cl: Cluster, node: str) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    ann = cl.get(R.NODES, node)["metadata"]["annotations"]
    return (
        {k: qty(v) for k, v in json.loads(ann[REQ]).items()},
        {k: qty(v) for k, v in json.loads(ann[LIM]).items()},
    )


def annotations_match(cl: Cluster, node: str) -> bool:
    return annotated(cl, node) == expected_sums(cl, node)


# -- hosts ------------------------------------------------------------------------------------
def test_hosts_layout_and_release_file(cl, sd):
    names = node_names(cl)
    assert (sd / "hosts" / "README.md").read_text().startswith("# Simulated hosts")
    for i, node in enumerate(names):
        iscsi = i == hostfs.ISCSI_NODE_INDEX  # one node booted from iSCSI, the article's steps done
        release = yaml.safe_load(hostfs.read(sd, node, "/etc/harvester-release.yaml"))
        assert set(release) == {
            "harvester",
            "harvesterChart",
            "os",
            "kubernetes",
            "rancher",
            "monitoringChart",
            "loggingChart",
            "kubevirt",
            "minUpgradableVersion",
        }
        assert (release["harvester"], release["kubernetes"], release["rancher"]) == (
            "v1.3.1",
            "v1.27.13+rke2r1",
            "v2.8.3",
        )
        assert release["kubevirt"] == "1.1.1-150500.8.15.1"
        cmdline = hostfs.read(sd, node, "/proc/cmdline").decode()
        assert "root=LABEL=COS_STATE" in cmdline and ("rd.iscsi.ibft" in cmdline) == iscsi
        grub = hostfs.read(sd, node, hostfs.GRUB_CFG).decode()
        assert grub.count("menuentry ") >= 3
        assert grub.count("rd.iscsi.ibft") == (grub.count("menuentry ") if iscsi else 0)
        assert hostfs.exists(sd, node, "/sys/firmware/ibft") == iscsi  # no iBFT: ISC not applicable there
        units = json.loads(hostfs.read(sd, node, "services.json"))
        assert units["rke2-server.service"]["active"] == "active"
        assert units["multipathd.service"] == {"enabled": "enabled", "active": "active", "sub": "running"}
        assert hostfs.exists(sd, node, "/oem/99_multipathd.yaml")
        assert 'vendor "!NETAPP"' in hostfs.read(sd, node, "/etc/multipath.conf").decode()
        modules = [line.split()[0] for line in hostfs.read(sd, node, "/proc/modules").decode().splitlines()]
        assert {"kvm", "vhost_net", "tun", "dm_multipath"} <= set(modules)
    assert hostfs.read(sd, names[0], "/no/such/file") is None


def test_rke2_certificates_are_real_and_one_year(cl, sd):
    now = dt.datetime.now(dt.UTC)
    for node in node_names(cl):
        files = hostfs.listdir(sd, node, hostfs.RKE2_TLS)
        crts = [f for f in files if f.endswith(".crt")]
        assert {"server-ca.crt", "client-ca.crt", "serving-kube-apiserver.crt", "client-admin.crt"} <= set(crts)
        cas = {
            n: x509.load_pem_x509_certificate(hostfs.read(sd, node, f"{hostfs.RKE2_TLS}/{n}.crt"))
            for n in ("server-ca", "client-ca")
        }
        for f in crts:
            cert = x509.load_pem_x509_certificate(hostfs.read(sd, node, f"{hostfs.RKE2_TLS}/{f}"))
            assert cert.not_valid_after_utc > now + dt.timedelta(days=300), (node, f)
            if f.removesuffix(".crt") in cas:
                continue
            assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=365)
            issuer = cas["server-ca" if f.startswith("serving") else "client-ca"]
            cert.verify_directly_issued_by(issuer)


# -- node annotations -------------------------------------------------------------------------
def test_quantity_format_like_kubernetes():
    cases = [("5657m", "5657m"), ("1.5Gi", "1536Mi"), ("3072Mi", "3Gi"), ("50M", "50M"), ("2000m", "2"), ("1000", "1k")]
    for text, canonical in cases:
        assert format_quantity(*parse_quantity(text)) == canonical
    assert format_quantity(Fraction(9155862208), "BinarySI") == "9155862208"


def test_pod_resources_annotations_follow_pods(cl):
    names = node_names(cl)
    for node in names:
        wait_for("cluster-seeded", lambda n=node: annotations_match(cl, n), timeout=30)
    node = names[0]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hh-test-pod", "namespace": "default"},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {"name": "a", "image": "x", "resources": {"requests": {"cpu": "300m", "memory": "700Mi"}}},
            ],
            "initContainers": [{"name": "i", "image": "x", "resources": {"requests": {"cpu": "2"}}}],
        },
    }
    before = annotated(cl, node)[0]
    cl.create(R.PODS, pod, "default")
    try:
        wait_for("cluster-seeded", lambda: annotated(cl, node)[0] != before and annotations_match(cl, node))
        after = annotated(cl, node)[0]
        assert after["cpu"] - before["cpu"] == 2  # the init container's maximum wins over 300m
        assert after["memory"] - before["memory"] == 700 * 2**20
        assert after["pods"] - before["pods"] == 1
    finally:
        cl.delete(R.PODS, "hh-test-pod", "default")
    wait_for("cluster-seeded", lambda: cl.get(R.PODS, "hh-test-pod", "default") is None and annotations_match(cl, node))


# -- networks ---------------------------------------------------------------------------------
def test_networks_agree_with_hosts(cl, sd):
    assert {c["metadata"]["name"] for c in cl.list(R.CLUSTER_NETWORKS)} >= {"mgmt", "vm-net"}
    vc = cl.get(R.VLAN_CONFIGS, "vm-net-vc")
    assert vc["spec"]["uplink"]["nics"] == ["eno2"] and vc["spec"]["clusterNetwork"] == "vm-net"
    lm = cl.get(R.LINK_MONITORS, "nic")
    statuses = {v["status"]["node"]: v for v in cl.list(R.VLAN_STATUSES)}
    for node in node_names(cl):
        host_nics = {link["name"]: link for link in json.loads(hostfs.read(sd, node, "nics.json"))}
        assert {"eno1", "eno2", "eno3", "eno4"} <= set(host_nics)
        assert all(n in host_nics for n in vc["spec"]["uplink"]["nics"])
        listed = {e["name"]: e for e in lm["status"]["linkStatus"][node]}
        assert set(listed) == {"eno1", "eno2", "eno3", "eno4"}
        for name, entry in listed.items():
            assert entry["state"] == "up"
            assert entry["mac"] == hostfs.read(sd, node, f"/sys/class/net/{name}/address").decode().strip()
        conds = statuses[node]["status"]["conditions"]
        assert conds == [{"type": "ready", "status": "True"}]
    nad = cl.get(R.NADS, "vlan100", "default")
    cfg = json.loads(nad["spec"]["config"])
    assert (cfg["type"], cfg["vlan"], cfg["bridge"]) == ("bridge", 100, "vm-net-br")


# -- IPAM -----------------------------------------------------------------------------------
def _ranges(pool: dict) -> list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address, object]]:
    out = []
    for r in pool["spec"]["ranges"]:
        net = ipaddress.ip_network(r["subnet"])
        start = ipaddress.ip_address(r.get("rangeStart") or str(net.network_address + 1))
        end = ipaddress.ip_address(r.get("rangeEnd") or str(net.broadcast_address - 1))
        gw = ipaddress.ip_address(r.get("gateway") or str(net.network_address + 1))
        out.append((start, end, gw))
    return out


def _inside(ip: str, pool: dict) -> bool:
    return any(s <= ipaddress.ip_address(ip) <= e for s, e, _ in _ranges(pool))


def test_ippools_counters_allocations_and_history(cl):
    pools = {p["metadata"]["name"]: p for p in cl.list(R.IPPOOLS)}
    assert pools["default-pool"]["status"]["total"] == 62 - 1  # .129-.190 minus the gateway inside it
    assert pools["guest-pool"]["status"]["total"] == 253  # a bare /24
    assert pools["default-pool"]["metadata"]["labels"]["loadbalancer.harvesterhci.io/global-ip-pool"] == "true"
    assert pools["guest-pool"]["metadata"]["labels"]["loadbalancer.harvesterhci.io/vid"] == "100"
    lbs = {f"{lb['metadata']['namespace']}/{lb['metadata']['name']}": lb for lb in cl.list(R.LOADBALANCERS)}
    seen: dict[str, str] = {}
    history = 0
    for pool in pools.values():
        st = pool["status"]
        assert st["available"] == st["total"] - len(st.get("allocated", {}))
        for ip, who in st.get("allocated", {}).items():
            assert _inside(ip, pool) and ip not in seen and who in lbs
            seen[ip] = who
            assert lbs[who]["status"]["allocatedAddress"]["ip"] == ip
            assert lbs[who]["status"]["allocatedAddress"]["ipPool"] == pool["metadata"]["name"]
            if lbs[who]["spec"]["workloadType"] == "vm":
                assert lbs[who]["status"]["address"] == ip
        for ip, who in st.get("allocatedHistory", {}).items():
            history += 1
            assert _inside(ip, pool)
            assert who not in lbs or lbs[who]["status"]["allocatedAddress"]["ip"] == ip
    assert history >= 1
    assert all(lb["status"].get("address") for lb in lbs.values() if lb["spec"]["workloadType"] == "vm")
    guest = next(k for k, lb in lbs.items() if lb["spec"]["workloadType"] == "cluster" and lb["spec"]["ipam"] == "pool")
    assert re.fullmatch(r"default/rke2-guest-default-nginx-[0-9a-f]{8}", guest)
    assert lbs[guest]["status"]["allocatedAddress"]["ipPool"] == "guest-pool"


def test_recreated_lb_gets_its_ip_back(cl):
    lb = {
        "apiVersion": R.LOADBALANCERS.api_version,
        "kind": "LoadBalancer",
        "metadata": {"name": "hh-ipp07", "namespace": "default"},
        "spec": {
            "workloadType": "vm",
            "ipam": "pool",
            "listeners": [{"name": "p", "port": 22, "protocol": "TCP", "backendPort": 22}],
        },
    }
    cl.create(R.LOADBALANCERS, lb, "default")
    ip = wait_for(
        "cluster-seeded", lambda: cl.get(R.LOADBALANCERS, "hh-ipp07", "default").get("status", {}).get("address")
    )
    cl.delete(R.LOADBALANCERS, "hh-ipp07", "default")
    wait_for("object-deleted", lambda: cl.get(R.LOADBALANCERS, "hh-ipp07", "default") is None)
    pool = cl.get(R.IPPOOLS, "default-pool")
    assert pool["status"]["allocatedHistory"][ip] == "default/hh-ipp07" and ip not in pool["status"]["allocated"]
    cl.create(R.LOADBALANCERS, lb, "default")
    try:
        again = wait_for(
            "cluster-seeded", lambda: cl.get(R.LOADBALANCERS, "hh-ipp07", "default").get("status", {}).get("address")
        )
        assert again == ip
        assert ip not in cl.get(R.IPPOOLS, "default-pool")["status"].get("allocatedHistory", {})
    finally:
        cl.delete(R.LOADBALANCERS, "hh-ipp07", "default")
        wait_for("object-deleted", lambda: cl.get(R.LOADBALANCERS, "hh-ipp07", "default") is None)


def _pool(name: str, ranges: list[dict], scope: list[dict], priority: int = 0, network: str = "") -> dict:
    sel: dict = {"scope": scope, "priority": priority}
    if network:
        sel["network"] = network
    return {
        "apiVersion": R.IPPOOLS.api_version,
        "kind": "IPPool",
        "metadata": {"name": name},
        "spec": {"ranges": ranges, "selector": sel},
    }


def _denied(fn) -> str:
    with pytest.raises(ApiError) as exc:
        fn()
    assert exc.value.status in (400, 403, 422)
    return exc.value.message


def test_ippool_webhooks(cl):
    ns_scope = [{"project": "*", "namespace": "hh-test", "guestCluster": "*"}]
    all_scope = [{"project": "*", "namespace": "*", "guestCluster": "*"}]
    assert "no ranges" in _denied(lambda: cl.create(R.IPPOOLS, _pool("hh-empty", [], ns_scope, 20)))
    assert "overlaps pool default-pool" in _denied(
        lambda: cl.create(R.IPPOOLS, _pool("hh-ovl", [{"subnet": "192.0.2.128/27"}], ns_scope, 20))
    )
    assert "global pool already exists" in _denied(
        lambda: cl.create(R.IPPOOLS, _pool("hh-glob", [{"subnet": "203.0.113.0/28"}], all_scope))
    )
    assert "priority 10" in _denied(
        lambda: cl.create(R.IPPOOLS, _pool("hh-prio", [{"subnet": "203.0.113.0/28"}], ns_scope, 10))
    )
    assert "not in subnet" in _denied(
        lambda: cl.create(
            R.IPPOOLS, _pool("hh-out", [{"subnet": "203.0.113.0/28", "rangeStart": "203.0.113.20"}], ns_scope, 20)
        )
    )
    assert "cannot be deleted" in _denied(lambda: cl.delete(R.IPPOOLS, "default-pool"))
    pool = cl.get(R.IPPOOLS, "default-pool")
    pool["spec"]["ranges"] = [{"subnet": "192.0.2.128/26", "rangeStart": "192.0.2.180", "rangeEnd": "192.0.2.190"}]
    assert "would fall outside" in _denied(lambda: cl.replace(R.IPPOOLS, pool))
    ok = cl.create(R.IPPOOLS, _pool("hh-ok", [{"subnet": "203.0.113.0/28"}], ns_scope, 20, network="default/vlan100"))
    try:
        labels = ok["metadata"]["labels"]
        assert labels == {
            "loadbalancer.harvesterhci.io/global-ip-pool": "false",
            "loadbalancer.harvesterhci.io/vid": "100",
        }
        st = wait_for("cluster-seeded", lambda: cl.get(R.IPPOOLS, "hh-ok").get("status", {}).get("total"))
        assert st == 13  # .1-.14 minus the default gateway .1
    finally:
        cl.delete(R.IPPOOLS, "hh-ok")


# -- CSI, Rancher, upgrade prerequisites ------------------------------------------------------
def test_trident_csi(cl):
    assert cl.get(R.CSI_DRIVERS, "csi.trident.netapp.io") is not None
    assert cl.get(R.STORAGE_CLASSES, "ontap-san-economy")["provisioner"] == "csi.trident.netapp.io"
    vsc = cl.get(R.VOLUME_SNAPSHOT_CLASSES, "trident-snapshotclass")
    assert (vsc["driver"], vsc["deletionPolicy"]) == ("csi.trident.netapp.io", "Delete")
    setting = cl.get(R.HARVESTER_SETTINGS, "csi-driver-config")
    assert json.loads(setting["default"]) == (
        {
            "driver.longhorn.io": {
                "volumeSnapshotClassName": "longhorn-snapshot",
                "backupVolumeSnapshotClassName": "longhorn",
            }
        }
    )
    value = json.loads(setting["value"])
    assert value["csi.trident.netapp.io"] == {
        "volumeSnapshotClassName": "trident-snapshotclass",
        "backupVolumeSnapshotClassName": "trident-snapshotclass",
    }
    assert "driver.longhorn.io" in value
    role = cl.get(R.CLUSTER_ROLES, "trident-operator-psa")
    assert role["rules"] == [{"apiGroups": ["management.cattle.io"], "resources": ["projects"], "verbs": ["updatepsa"]}]
    binding = cl.get(R.CLUSTER_ROLE_BINDINGS, "trident-operator-psa")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "trident-operator", "namespace": "trident"}]
    assert cl.get(R.SERVICE_ACCOUNTS, "trident-operator", "trident") is not None


def _credential(cl: Cluster) -> tuple[dict, dict, dict]:
    secrets = [
        s
        for s in cl.list(R.SECRETS, "cattle-global-data")
        if s["metadata"].get("annotations", {}).get("provisioning.cattle.io/driver") == "harvester"
    ]
    assert len(secrets) == 1
    kc = yaml.safe_load(base64.b64decode(secrets[0]["data"]["harvestercredentialConfig-kubeconfigContent"]))
    token_name = kc["users"][0]["user"]["token"].split(":", 1)[0]
    return secrets[0], kc, cl.get(TOKENS, token_name)


def _token_valid(token: dict, margin: dt.timedelta = dt.timedelta(days=1)) -> bool:
    if token.get("expired"):
        return False
    if not token.get("expiresAt"):
        return True
    return dt.datetime.fromisoformat(token["expiresAt"].replace("Z", "+00:00")) > dt.datetime.now(dt.UTC) + margin


def test_rancher_side_and_upgrade_prerequisites(cl):
    secret, kc, token = _credential(cl)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["harvestercredentialConfig-clusterType"] == "imported"
    assert data["harvestercredentialConfig-clusterId"].startswith("c-m-")
    assert kc["clusters"][0]["cluster"]["server"] == cl.host
    assert re.fullmatch(r"kubeconfig-u-[a-z0-9]+:[a-z0-9]{54}", kc["users"][0]["user"]["token"])
    assert token is not None and _token_valid(token)
    ttl = cl.get(R.RANCHER_SETTINGS, "kubeconfig-default-token-ttl-minutes")
    # The external Rancher's own setting: Rancher 2.8's default 43200, set to 0 as the article's
    # remediation does (a healthy cluster); Harvester's copy never reaches it.
    assert (ttl["default"], ttl["value"]) == ("43200", "0")
    prov = cl.get(R.PROVISIONING_CLUSTERS, "local", "fleet-local")
    assert prov["status"]["ready"] is True
    capi = cl.get(R.CAPI_CLUSTERS, "local", "fleet-local")
    assert capi["status"]["phase"] == "Provisioned" and capi["spec"]["paused"] is False
    machines = cl.list(R.CAPI_MACHINES, "fleet-local")
    assert sorted(m["status"]["nodeRef"]["name"] for m in machines) == node_names(cl)
    assert all(m["status"]["phase"] == "Running" for m in machines)
    charts = {m["metadata"]["name"]: m for m in cl.list(R.MANAGED_CHARTS, "fleet-local")}
    assert set(charts) == {"harvester", "harvester-crd"}
    for chart in charts.values():
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in chart["status"]["conditions"])
    bundles = cl.list(R.FLEET_BUNDLES, "fleet-local")
    assert bundles and all(b["status"]["summary"]["ready"] == b["status"]["summary"]["desiredReady"] for b in bundles)
    assert cl.get(R.VERSIONS, "v1.3.2", "harvester-system") is not None
    assert cl.list(R.UPGRADES, "harvester-system") == []
    assert [b for b in cl.list(R.VM_BACKUPS) if not b.get("status", {}).get("readyToUse")] == []


# -- faults, both ways ------------------------------------------------------------------------
def inject(env, fid: str) -> None:
    faults.inject(fid, env[0].kubeconfig)


def revert(env, fid: str) -> None:
    faults.revert(fid, env[0].kubeconfig)


def test_fault_met01(env, cl):
    node = node_names(cl)[-1]
    assert annotations_match(cl, node)
    inject(env, "MET-01")
    try:
        assert not annotations_match(cl, node)
        assert expected_sums(cl, node)[0]["cpu"] != annotated(cl, node)[0]["cpu"]
    finally:
        revert(env, "MET-01")
    wait_for("cluster-seeded", lambda: annotations_match(cl, node))


def _ipp_violations(cl: Cluster) -> list[str]:
    """IPP-01..04 in plain terms, naming the object."""
    out = []
    pools = cl.list(R.IPPOOLS)
    lbs = {f"{lb['metadata']['namespace']}/{lb['metadata']['name']}": lb for lb in cl.list(R.LOADBALANCERS)}
    seen: dict[str, str] = {}
    for pool in pools:
        name = pool["metadata"]["name"]
        for r in pool["spec"]["ranges"]:
            net = ipaddress.ip_network(r["subnet"], strict=False)
            for f in ("rangeStart", "rangeEnd"):
                if r.get(f) and ipaddress.ip_address(r[f]) not in net:
                    out.append(f"IPP-01 {name} {f}")
        st = pool.get("status") or {}
        for ip, who in (st.get("allocated") or {}).items():
            if ip in seen or not _inside(ip, pool) or who not in lbs:
                out.append(f"IPP-02 {name} {ip}")
            seen[ip] = who
        for ip, who in (st.get("allocatedHistory") or {}).items():
            lb = lbs.get(who)
            held = ((lb or {}).get("status", {}).get("allocatedAddress") or {}).get("ip")
            if lb and lb["spec"].get("ipam") == "pool" and held != ip:
                out.append(f"IPP-03 {name} {who}")
        if "total" in st and st.get("available") != st["total"] - len(st.get("allocated") or {}):
            out.append(f"IPP-04 {name}")
    return out


@pytest.mark.parametrize("fid", ["IPP-01", "IPP-02", "IPP-03", "IPP-04"])
def test_fault_ipp(env, cl, fid):
    assert _ipp_violations(cl) == []
    inject(env, fid)
    try:
        found = _ipp_violations(cl)
        assert found and all(v.startswith(fid) for v in found), found
    finally:
        revert(env, fid)
    assert _ipp_violations(cl) == []
    if fid == "IPP-01":  # the webhook is back: the same write is refused again
        bad = _pool("hh-bad", [{"subnet": "203.0.113.0/28", "rangeStart": "203.0.113.20"}], [{"namespace": "x"}], 30)
        _denied(lambda: cl.create(R.IPPOOLS, bad))


def _missing_nics(cl: Cluster, sd) -> list[str]:
    out = []
    for vc in cl.list(R.VLAN_CONFIGS):
        for node in node_names(cl):
            names = {link["name"] for link in json.loads(hostfs.read(sd, node, "nics.json"))}
            out += [
                f"{vc['metadata']['name']}/{node}/{nic}" for nic in vc["spec"]["uplink"]["nics"] if nic not in names
            ]
    return out


def test_fault_nic01(env, cl, sd):
    assert _missing_nics(cl, sd) == []
    inject(env, "NIC-01")
    try:
        assert _missing_nics(cl, sd) and all(m.endswith("/eno9") for m in _missing_nics(cl, sd))
        wait_for(
            "cluster-seeded",
            lambda: all(v["status"]["conditions"][0]["status"] == "False" for v in cl.list(R.VLAN_STATUSES)),
        )
    finally:
        revert(env, "NIC-01")
    assert _missing_nics(cl, sd) == []
    wait_for(
        "cluster-seeded",
        lambda: all(v["status"]["conditions"][0]["status"] == "True" for v in cl.list(R.VLAN_STATUSES)),
    )


def _uncovered_node_ips(cl: Cluster) -> list[str]:
    s = cl.get(R.HARVESTER_SETTINGS, "http-proxy")
    cfg = json.loads(s.get("value") or s.get("default") or "{}")
    if not (cfg.get("httpProxy") or cfg.get("httpsProxy")):
        return []
    entries = [e.strip() for e in cfg.get("noProxy", "").split(",") if e.strip()]
    nets = []
    for e in entries:
        try:
            nets.append(ipaddress.ip_network(e, strict=False))
        except ValueError:
            pass
    ips = [a["address"] for n in cl.list(R.NODES) for a in n["status"]["addresses"] if a["type"] == "InternalIP"]
    return [ip for ip in ips if ip not in entries and not any(ipaddress.ip_address(ip) in n for n in nets)]


def test_fault_sec01(env, cl):
    assert _uncovered_node_ips(cl) == []
    inject(env, "SEC-01")
    try:
        assert _uncovered_node_ips(cl) == ["192.0.2.12", "192.0.2.13"]
        hooks = cl.get(R.VALIDATING_WEBHOOKS, "harvester-simulator-validating")["webhooks"]
        assert any(h["name"] == "validator.harvesterhci.io" for h in hooks)  # registration restored
    finally:
        revert(env, "SEC-01")
    assert _uncovered_node_ips(cl) == []


def _days_left(sd, node: str) -> float:
    cert = x509.load_pem_x509_certificate(hostfs.read(sd, node, f"{hostfs.RKE2_TLS}/serving-kube-apiserver.crt"))
    return (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds() / 86400


def test_fault_sec04(env, cl, sd):
    node = node_names(cl)[1]
    assert _days_left(sd, node) > 300
    inject(env, "SEC-04")
    try:
        assert 1 < _days_left(sd, node) < 3
        assert all(_days_left(sd, n) > 300 for n in node_names(cl) if n != node)
    finally:
        revert(env, "SEC-04")
    assert _days_left(sd, node) > 300


def test_fault_nta02(env, cl):
    def grants() -> bool:
        rules = cl.get(R.CLUSTER_ROLES, "trident-operator-psa")["rules"]
        return any(
            "updatepsa" in r.get("verbs", [])
            and "projects" in r.get("resources", [])
            and "management.cattle.io" in r.get("apiGroups", [])
            for r in rules
        )

    assert grants()
    inject(env, "NTA-02")
    try:
        assert not grants()
    finally:
        revert(env, "NTA-02")
    assert grants()


def test_fault_nta03(env, cl, sd):
    def ok(node: str) -> bool:
        unit = json.loads(hostfs.read(sd, node, "services.json"))["multipathd.service"]
        return (
            unit["enabled"] == "enabled"
            and unit["active"] == "active"
            and hostfs.exists(sd, node, "/oem/99_multipathd.yaml")
        )

    assert all(ok(n) for n in node_names(cl))
    inject(env, "NTA-03")
    try:
        assert [n for n in node_names(cl) if not ok(n)] == [node_names(cl)[-1]]
    finally:
        revert(env, "NTA-03")
    assert all(ok(n) for n in node_names(cl))


def test_fault_ccr01(env, cl):
    _, _, token = _credential(cl)
    assert _token_valid(token)
    inject(env, "CCR-01")
    try:
        _, kc, token = _credential(cl)
        assert token["expired"] is False and not _token_valid(token)  # stored false: Rancher computes it
        assert kc["clusters"][0]["cluster"]["server"] == cl.host
    finally:
        revert(env, "CCR-01")  # the KB's renewal (CCR-03)
    _, _, token = _credential(cl)
    assert _token_valid(token)


def test_fault_isc02(env, cl, sd):
    def broken(node: str) -> bool:
        if not hostfs.exists(sd, node, "/sys/firmware/ibft"):
            return False
        grub = hostfs.read(sd, node, hostfs.GRUB_CFG).decode()
        linux = [line for line in grub.splitlines() if line.strip().startswith("linux ")]
        return any("rd.iscsi.firmware" not in line or "rd.iscsi.ibft" not in line for line in linux)

    assert not any(broken(n) for n in node_names(cl))
    inject(env, "ISC-02")
    try:
        node = node_names(cl)[1]
        assert [n for n in node_names(cl) if broken(n)] == [node]
        assert "rd.iscsi.ibft" in hostfs.read(sd, node, "/proc/cmdline").decode()
    finally:
        revert(env, "ISC-02")
    assert not any(broken(n) for n in node_names(cl))
    iscsi = [n for n in node_names(cl) if hostfs.exists(sd, n, "/sys/firmware/ibft")]
    assert iscsi == [node_names(cl)[hostfs.ISCSI_NODE_INDEX]]


def test_fault_upg05_upg07(env, cl):
    def upgrading() -> list[str]:
        return [
            u["metadata"]["name"]
            for u in cl.list(R.UPGRADES)
            if u["metadata"].get("labels", {}).get("harvesterhci.io/upgradeState") not in ("Succeeded", "Failed")
        ]

    def backing_up() -> list[str]:
        return [b["metadata"]["name"] for b in cl.list(R.VM_BACKUPS) if not b.get("status", {}).get("readyToUse")]

    assert upgrading() == [] and backing_up() == []
    inject(env, "UPG-07")
    inject(env, "UPG-05")
    try:
        assert upgrading() == ["hvst-upgrade-upg07"]
        assert backing_up() == ["upg05-backup"]
    finally:
        revert(env, "UPG-07")
        revert(env, "UPG-05")
    assert upgrading() == [] and backing_up() == []
