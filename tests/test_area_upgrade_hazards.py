"""Faults around upgrades and renewals (hosts, load balancers, Rancher tokens, the API endpoint),
each shown both ways with direct reads of the objects, host files and TLS handshake."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import secrets
import socket
import ssl
import urllib.parse

import pytest
import yaml
from cryptography import x509

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import all_faults
from harvester_conformance.emulator.areas import harvester_hosts as hosts
from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
from harvester_conformance.emulator.areas import harvester_hosts_rancher as rancher
from harvester_conformance.waits import wait_for
from tests.test_area_harvester_hosts import TOKENS, _credential, _token_valid

from .conftest import injected


@pytest.fixture(scope="module")
def sd(emulated):
    return emulated("v1.3.1").state.dir


def nodes(cl: Cluster) -> list[str]:
    return sorted(n["metadata"]["name"] for n in cl.list(R.NODES))


# -- hosts --------------------------------------------------------------------------------------------
def test_isc01_iscsi_boot_without_kernel_arguments(cl, sd):
    def problems() -> list[str]:
        return [
            n
            for n in nodes(cl)
            if hostfs.exists(sd, n, "/sys/firmware/ibft")
            and not all(a in hostfs.read(sd, n, "/proc/cmdline").decode().split() for a in hostfs.ISCSI_ARGS)
        ]

    with injected(cl, "ISC-01", problems) as found:
        assert found == [nodes(cl)[-1]], found


def referenced_nics(cl: Cluster) -> set[str]:
    return {nic for vc in cl.list(R.VLAN_CONFIGS) for nic in vc["spec"]["uplink"]["nics"]}


def test_nic02_uplink_renamed_across_upgrade(cl, sd):
    wanted = referenced_nics(cl)
    before = {n: {link["name"] for link in json.loads(hostfs.read(sd, n, "nics.json"))} for n in nodes(cl)}
    assert all(wanted <= names for names in before.values())

    def problems() -> list[str]:
        out = []
        for n in nodes(cl):
            names = {link["name"] for link in json.loads(hostfs.read(sd, n, "nics.json"))}
            out += [f"{n}/{nic}" for nic in sorted(wanted & before[n] - names)]
            assert hostfs.exists(sd, n, f"/sys/class/net/{next(iter(names - {'lo'}))}/address")
        return out

    with injected(cl, "NIC-02", problems) as found:
        assert found == [f"{nodes(cl)[-1]}/eno2"], found


def test_csi05_rook_host_without_preparation(cl, sd):
    def problems() -> list[str]:
        out = []
        for n in nodes(cl):
            if not hostfs.exists(sd, n, "/var/lib/rook"):
                continue
            modules = {line.split()[0] for line in hostfs.read(sd, n, "/proc/modules").decode().splitlines()}
            oem = "".join(hostfs.read(sd, n, f"/oem/{f}").decode() for f in hostfs.listdir(sd, n, "/oem"))
            if not {"rbd", "nbd"} <= modules or "/var/lib/rook" not in oem:
                out.append(n)
        return out

    with injected(cl, "CSI-05", problems) as found:
        assert found == [nodes(cl)[-1]], found


# -- load balancers -----------------------------------------------------------------------------------
def test_ipp05_dhcp_service_not_prepared(cl):
    def problems() -> list[str]:
        out = []
        for svc in cl.list(R.SERVICES):
            ann = svc["metadata"].get("annotations") or {}
            if svc["spec"]["type"] == "LoadBalancer" and ann.get("cloudprovider.harvesterhci.io/ipam") == "dhcp":
                if not ann.get("kube-vip.io/hwaddr") or not ann.get("kube-vip.io/requestedIP"):
                    out.append(f"{svc['metadata']['namespace']}/{svc['metadata']['name']}")
        return out

    svc = cl.get(R.SERVICES, "ingress", "rke2-guest")
    assert (
        svc["metadata"]["annotations"]["kube-vip.io/requestedIP"] == svc["status"]["loadBalancer"]["ingress"][0]["ip"]
    )
    with injected(cl, "IPP-05", problems) as found:
        assert found == ["rke2-guest/ingress"], found


def lb_ips(cl: Cluster) -> dict[str, str]:
    return {lb["metadata"]["name"]: lb["status"].get("address") for lb in cl.list(R.LOADBALANCERS, "default")}


def test_ipp06_lb_ip_changed_across_upgrade(cl):
    before = lb_ips(cl)

    def problems() -> list[str]:
        now = lb_ips(cl)
        return sorted(n for n in before if now.get(n) != before[n])

    with injected(cl, "IPP-06", problems) as found:
        assert found == ["vm-web"], found


def test_ipp06_revert_gives_back_the_history_entry_its_allocation_took(cl):
    """vm-web, re-created without history, takes the next free IP after lastAllocated; when that is
    the IP a deleted load balancer left in the history (vm-temp's, as when the seeding allocated
    vm-web first), the allocation overwrites its entry: the revert gives it back (CI, stop 35)."""
    pool = "default-pool"
    before = hosts.pool_status(cl, pool)
    temp_ip = next(ip for ip, who in before["allocatedHistory"].items() if who == "default/vm-temp")
    just_before = str(ipaddress.ip_address(temp_ip) - 1)
    hosts.replace_pool_status(cl, pool, lambda s: s.__setitem__("lastAllocated", just_before))
    try:
        fault = all_faults()["IPP-06"]
        fault.inject(cl)
        try:
            assert hosts.pool_status(cl, pool).get("allocatedHistory", {}).get(temp_ip) != "default/vm-temp"
        finally:
            fault.revert(cl)
        assert hosts.pool_status(cl, pool)["allocatedHistory"] == before["allocatedHistory"]
    finally:
        last = before.get("lastAllocated")
        hosts.replace_pool_status(cl, pool, lambda s: s.__setitem__("lastAllocated", last))


def _recreated_ip(cl: Cluster, name: str) -> str:
    lb = cl.get(R.LOADBALANCERS, name, "default")
    body = {k: lb[k] for k in ("apiVersion", "kind", "spec")}
    body["metadata"] = {k: lb["metadata"][k] for k in ("name", "namespace") if k in lb["metadata"]}
    body["metadata"]["annotations"] = lb["metadata"].get("annotations") or {}
    cl.delete(R.LOADBALANCERS, name, "default")
    wait_for("object-deleted", lambda: cl.get(R.LOADBALANCERS, name, "default") is None)
    cl.create(R.LOADBALANCERS, body, "default")
    return wait_for(
        "cluster-seeded", lambda: (cl.get(R.LOADBALANCERS, name, "default") or {}).get("status", {}).get("address")
    )


def _restore_ip(cl: Cluster, name: str, ip: str) -> None:
    """Put `ip` back as the load balancer's only history entry, then re-create it (the KB's keep-IP step)."""
    applicant = f"default/{name}"
    lb = cl.get(R.LOADBALANCERS, name, "default")
    pool_name = lb["status"]["allocatedAddress"]["ipPool"]
    cl.delete(R.LOADBALANCERS, name, "default")
    wait_for("object-deleted", lambda: cl.get(R.LOADBALANCERS, name, "default") is None)
    pool = cl.get(R.IPPOOLS, pool_name)
    history = {k: v for k, v in (pool["status"].get("allocatedHistory") or {}).items() if v != applicant}
    cl.replace(R.IPPOOLS, {**pool, "status": {**pool["status"], "allocatedHistory": {**history, ip: applicant}}})
    body = {k: lb[k] for k in ("apiVersion", "kind", "spec")}
    body["metadata"] = {"name": name, "namespace": "default", "annotations": lb["metadata"].get("annotations") or {}}
    cl.create(R.LOADBALANCERS, body, "default")
    got = wait_for("cluster-seeded", lambda: lb_ips(cl).get(name))
    assert got == ip


def test_ipp07_recreated_lb_keeps_its_ip_only_with_history(cl):
    """IPP-07's own procedure, run against the healthy and the faulty IPAM."""
    before = lb_ips(cl)["vm-web"]
    assert _recreated_ip(cl, "vm-web") == before
    fault = all_faults()["IPP-07"]
    fault.inject(cl)
    try:
        assert _recreated_ip(cl, "vm-web") != before
    finally:
        fault.revert(cl)
        _restore_ip(cl, "vm-web", before)
    assert _recreated_ip(cl, "vm-web") == before


# -- Rancher ---------------------------------------------------------------------------------------------
def renew(cl: Cluster) -> dict:
    """The KB's renewal: a new kubeconfig token merged into the credential secret. The emulated
    Rancher's token API is the Token object itself."""
    secret, kc, old = _credential(cl)
    name = f"kubeconfig-{old['userId']}{secrets.token_hex(3)}"
    value = secrets.token_urlsafe(40)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    token = {
        "apiVersion": TOKENS.api_version,
        "kind": TOKENS.kind,
        "metadata": {"name": name, "annotations": {"emulator.harvester-conformance.io/created": now}},
        "userId": old["userId"],
        "authProvider": "local",
        "description": "Kubeconfig token",
        "token": hashlib.sha256(value.encode()).hexdigest(),
        "ttl": 0,
        "isDerived": True,
        "clusterName": "local",
    }
    cl.create(TOKENS, token)
    kc["users"][0]["user"]["token"] = f"{name}:{value}"
    data = base64.b64encode(yaml.safe_dump(kc).encode()).decode()
    cl.patch(
        R.SECRETS,
        secret["metadata"]["name"],
        {"data": {"harvestercredentialConfig-kubeconfigContent": data}},
        secret["metadata"]["namespace"],
    )
    return wait_for("cluster-seeded", lambda: (t := cl.get(TOKENS, name)) and "expiresAt" in t and t)


def test_ccr03_renewal_leaves_a_valid_credential_only_without_the_cap(cl):
    """A renewal under a 1-minute cap (both TTL settings at 1) leaves a credential that expires."""
    assert _token_valid(renew(cl))
    rancher.token_ttl_fault("1")(cl)
    try:
        token = renew(cl)
        token = wait_for(
            "cluster-seeded", lambda: (t := cl.get(TOKENS, token["metadata"]["name"])) and t["ttl"] == 60_000 and t
        )
        assert not _token_valid(token)
    finally:
        rancher.token_ttl_fault(None)(cl)
    assert _token_valid(renew(cl))


def test_ccr03_fault_makes_the_credential_refuse_the_merge_patch(cl):
    """CCR-03's fault: the credential Secret immutable, so the article's merge patch is refused
    (core validation of Secrets: immutable data)."""
    patch = {"data": {"harvestercredentialConfig-kubeconfigContent": base64.b64encode(b"x").decode()}}
    cl.patch(R.SECRETS, "cc-hvstr", patch, "cattle-global-data", dry_run=True)
    fault = all_faults()["CCR-03"]
    fault.inject(cl)
    try:
        with pytest.raises(ApiError) as refused:
            cl.patch(R.SECRETS, "cc-hvstr", patch, "cattle-global-data", dry_run=True)
        assert refused.value.status == 422, refused.value
    finally:
        fault.revert(cl)
    cl.patch(R.SECRETS, "cc-hvstr", patch, "cattle-global-data", dry_run=True)


# -- the API endpoint ----------------------------------------------------------------------------------
def served_not_after(cl: Cluster) -> dt.datetime:
    url = urllib.parse.urlparse(cl.host)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((url.hostname, url.port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).not_valid_after_utc


def test_upg04_serving_certificate_near_expiry(cl):
    def problems() -> list[str]:
        left = served_not_after(cl) - dt.datetime.now(dt.UTC)
        return [] if left > dt.timedelta(days=7) else [f"{cl.host}: {left.days} days left"]

    with injected(cl, "UPG-04", problems) as found:
        assert len(found) == 1 and "4 days" in found[0], found
    # the restored certificate is trusted by the kubeconfig's CA, with its SANs
    assert cl.get(R.NAMESPACES, "default") is not None


@pytest.mark.parametrize("profile", ["v1.3.1", "v1.2.1"])
def test_token_ttl_fault_sets_the_external_ranchers_settings(emulated, profile: str):
    """CCR-02 sets the TTL where it governs cloud credentials, the external Rancher's settings, on
    every release; Harvester's own setting (v1.3.1+) feeds only its embedded Rancher (HV v1.3.1
    pkg/controller/master/setting/kubeconfigttl.go; facts §17.8)."""
    c = Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))
    names = ("kubeconfig-default-token-ttl-minutes", "auth-token-max-ttl-minutes")
    try:
        own_before = c.get(R.HARVESTER_SETTINGS, names[0])
        fault = all_faults()["CCR-02"]
        fault.inject(c)
        try:
            assert [c.get(R.RANCHER_SETTINGS, n)["value"] for n in names] == ["43200", "43200"]
            own = c.get(R.HARVESTER_SETTINGS, names[0])
            assert (own or {}).get("value") == (own_before or {}).get("value")
        finally:
            fault.revert(c)
        # The healthy seed sets both to 0 where Rancher's default is finite (2.8+: 43200 and 129600).
        healthy = ["0", "0"] if profile == "v1.3.1" else ["", ""]
        assert [c.get(R.RANCHER_SETTINGS, n)["value"] for n in names] == healthy
    finally:
        c.close()
