"""Area module (see areas/__init__.py): what goes wrong around upgrades and renewals on the hosts,
the load balancers, the Rancher side and the API endpoint, and the guest cluster's Services.

Seed: the guest cluster's LoadBalancer Services (the emulated apiserver plays the guest cluster
too: pass the same kubeconfig as --guest-kubeconfig), in namespace `rke2-guest`, matching the
guest load balancers of harvester_hosts; the DHCP one prepared for upgrade as the KB says
(`kube-vip.io/hwaddr`, `kube-vip.io/requestedIP`). Each host's `/proc/partitions` (the OS disk as
harvester-installer partitions it, COS_STATE 15360 MiB at 8:4 as /proc/1/mountinfo mounts it),
which the v1.7.x pre-check's COS_STATE size rule reads (UPG-02).
Controller: Rancher's token TTL handling (harvester_hosts_rancher.token_factory).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import urllib.parse
from pathlib import Path
from typing import Any

from cryptography import x509

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import controlplane, pki
from harvester_conformance.emulator.areas import harvester_hosts as hosts
from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
from harvester_conformance.emulator.areas import harvester_hosts_ipam as ipam
from harvester_conformance.emulator.areas import harvester_hosts_rancher as rancher
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, Fault
from harvester_conformance.emulator.faults import ORIGINAL_ANNOTATION as ORIGINAL
from harvester_conformance.waits import wait_for

GUEST_NS = hosts.GUEST_CLUSTER
IPAM_ANN = "cloudprovider.harvesterhci.io/ipam"
HWADDR_ANN, REQUESTED_IP_ANN = "kube-vip.io/hwaddr", "kube-vip.io/requestedIP"
GUEST_DHCP_MAC = "00:16:3e:5a:11:07"


# -- seed: the guest cluster's Services --------------------------------------------------------------
def _guest_service(name: str, ns: str, annotations: dict) -> dict:
    return {
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def seed(cl: Cluster, spec: Any, state_dir: Path, progress: Any) -> None:
    """The guest cluster's kube-vip gives its pool Service the IP Harvester allocated to the guest
    load balancer, and its DHCP Service a lease of its own (the load balancer holds 0.0.0.0)."""
    cl.apply(R.NAMESPACES, {"metadata": {"name": GUEST_NS}}, manager=hosts.MANAGER)
    wait_for("cluster-seeded", lambda: hosts.lb_ip(cl, hosts.GUEST_INGRESS) == ipam.ASK_DHCP)
    pool_ip = wait_for("cluster-seeded", lambda: hosts.lb_ip(cl, hosts.GUEST_NGINX))
    wait_for("cluster-seeded", lambda: all(hosts.lb_settled(lb) for lb in cl.list(R.LOADBALANCERS)))
    dhcp_ip = ipam.dhcp_lease(ipam.ingress_ips(cl.list(R.SERVICES)))
    for name, notes, ip in (
        ("nginx", {IPAM_ANN: "pool"}, pool_ip),
        ("ingress", {IPAM_ANN: "dhcp", HWADDR_ANN: GUEST_DHCP_MAC, REQUESTED_IP_ANN: dhcp_ip}, dhcp_ip),
    ):
        cl.apply(R.SERVICES, _guest_service(name, GUEST_NS, notes), manager=hosts.MANAGER)
        status = {"loadBalancer": {"ingress": [{"ip": ip}]}}
        cl.patch(R.SERVICES, name, {"status": status}, GUEST_NS, sub="status")
    progress("guest cluster Services seeded")
    _seed_partitions(cl, Path(state_dir))


# harvester-installer pkg/config (v1.4.0 … v1.8.0): EFI 64 MiB, COS_OEM 50 MiB, COS_RECOVERY 8192
# MiB, COS_STATE 15360 MiB (DefaultCosStateSizeMiB), COS_PERSISTENT 150 GiB, Longhorn's default
# disk the rest; in 1K blocks as /proc/partitions counts them.
OS_DISK_KIB = 937_692_504  # a 960 GB SSD (BLOCK_DEVICES sda)
COS_STATE_MIB = 15360
OS_PARTITIONS_MIB = (64, 50, 8192, COS_STATE_MIB, 153_600)
PARTITIONS = "proc/partitions"


def partitions_table(cos_state_kib: int = COS_STATE_MIB * 1024) -> str:
    """/proc/partitions of a node: loop0 (the OS image), sda with its six partitions, sdb, sdc."""
    sizes = [mib * 1024 for mib in OS_PARTITIONS_MIB]
    sizes[3] = cos_state_kib
    sizes.append(OS_DISK_KIB - 2048 - sum(sizes))
    rows = [(7, 0, 3_145_728, "loop0"), (8, 0, OS_DISK_KIB, "sda")]
    rows += [(8, i + 1, size, f"sda{i + 1}") for i, size in enumerate(sizes)]
    rows += [(8, 16, 3_750_738_264, "sdb"), (8, 32, 104_857_600, "sdc")]
    return "major minor  #blocks  name\n\n" + "".join(f"{a:4d} {b:7d} {c:10d} {d}\n" for a, b, c, d in rows)


def _seed_partitions(cl: Cluster, state_dir: Path) -> None:
    for node in cl.list(R.NODES):
        hostfs.write(state_dir, node["metadata"]["name"], PARTITIONS, partitions_table())


def ready(cl: Cluster, spec: Any) -> bool:
    return True


CONTROLLERS = [("rancher-tokens", rancher.token_factory, 5.0)]
WEBHOOKS: list[dict] = []
API_GROUPS: list = []


# -- hosts: ISC-01, NIC-02, CSI-05 -----------------------------------------------------------------
# The host these faults change, fixed so that they can declare it: the last of the three nodes every
# release profile has (the one they picked when they searched).
HOST, HOST_INDEX = hosts.LAST_NODE, 2


def _isc01(booted_from_iscsi: bool):
    """A node booted from iSCSI through a boot entry that lost the arguments (or not iSCSI-booted)."""

    def apply(cl: Cluster) -> None:
        state_dir, node, index = hosts.state_dir_of(cl), HOST, HOST_INDEX
        version = (cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value") or "dev"
        if booted_from_iscsi:
            hostfs.write_ibft(state_dir, node, index)
        else:
            hostfs.remove(state_dir, node, "sys/firmware/ibft")
        hostfs.write(state_dir, node, "proc/cmdline", hostfs.kernel_cmdline(iscsi=False))
        hostfs.write(state_dir, node, hostfs.GRUB_CFG, hostfs.grub_cfg(version))

    return apply


NIC02_OLD, NIC02_NEW = hostfs.VM_NET_NIC, "enp3s0f1"


def _nic02(renamed: bool):
    """After the upgrade's kernel, the vm-net uplink comes up under its predictable name."""

    def apply(cl: Cluster) -> None:
        state_dir, node, index = hosts.state_dir_of(cl), HOST, HOST_INDEX
        links = hostfs.nics(index)
        if renamed:
            for link in links:
                if link["name"] == NIC02_OLD:
                    link["name"] = NIC02_NEW
        hostfs.write_links(state_dir, node, links)

    return apply


ROOK_MARKER = "var/lib/rook/rook-ceph/rook-ceph.config"


def _csi05(cl: Cluster) -> None:
    # Rook deployed onto a host without the KB's preparation: no persistent paths, no rbd/nbd.
    state_dir, node = hosts.state_dir_of(cl), HOST
    hostfs.write(state_dir, node, ROOK_MARKER, "[global]\nfsid = 2c5e6d4a-9f1b-4c3e-8d7a-0b1e2f3a4c5d\n")


def _csi05_revert(cl: Cluster) -> None:
    state_dir, node = hosts.state_dir_of(cl), HOST
    hostfs.remove(state_dir, node, "var/lib/rook")


# -- load balancers: IPP-05, IPP-06, IPP-07 ------------------------------------------------------------
def _ipp05(cl: Cluster) -> None:
    # A guest cluster upgraded without the KB's preparation of its DHCP Service.
    svc = cl.get(R.SERVICES, "ingress", GUEST_NS) or {}
    kept = {k: v for k, v in (svc["metadata"].get("annotations") or {}).items() if k.startswith("kube-vip.io/")}
    patch = {ORIGINAL: json.dumps(kept), **dict.fromkeys(kept)}
    cl.patch(R.SERVICES, "ingress", {"metadata": {"annotations": patch}}, GUEST_NS)


def _ipp05_revert(cl: Cluster) -> None:
    svc = cl.get(R.SERVICES, "ingress", GUEST_NS) or {}
    saved = (svc["metadata"].get("annotations") or {}).get(ORIGINAL)
    if saved is not None:
        patch = {ORIGINAL: None, **json.loads(saved)}
        cl.patch(R.SERVICES, "ingress", {"metadata": {"annotations": patch}}, GUEST_NS)


def _mark_pools(cl: Cluster, value: str | None) -> None:
    for pool in cl.list(R.IPPOOLS):
        cl.patch(R.IPPOOLS, pool["metadata"]["name"], {"metadata": {"annotations": {FAULT_ANNOTATION: value}}})


def _recreate_lb(cl: Cluster, name: str, annotations: dict) -> str:
    body = next(lb for lb in hosts.load_balancers() if lb["metadata"]["name"] == name)
    body["metadata"]["annotations"] = {**(body["metadata"].get("annotations") or {}), **annotations}
    hosts.delete_lb(cl, name)
    cl.create(R.LOADBALANCERS, body, hosts.LB_NS)
    return wait_for("cluster-seeded", lambda: hosts.lb_address(cl, name))


IPP06_LB = "vm-web"


def _ipp06(cl: Cluster) -> None:
    # The upgrade's load-balancer controller re-created vm-web's LB before the history was back.
    # Saved for the revert: its address, and the pool's history, of which the new allocation may
    # overwrite another load balancer's entry (the next free IP can be one a deleted LB left).
    old_ip = hosts.lb_address(cl, IPP06_LB)
    pool, _ = hosts.pool_of(cl, f"{hosts.LB_NS}/{IPP06_LB}")
    history = hosts.pool_status(cl, pool).get("allocatedHistory") or {}
    _mark_pools(cl, ipam.NO_HISTORY)
    try:
        _recreate_lb(cl, IPP06_LB, {ORIGINAL: json.dumps({"ip": old_ip or "", "history": history})})
    finally:
        _mark_pools(cl, None)


def _ipp06_revert(cl: Cluster) -> None:
    lb = cl.get(R.LOADBALANCERS, IPP06_LB, hosts.LB_NS) or {}
    saved = json.loads((lb.get("metadata", {}).get("annotations") or {}).get(ORIGINAL) or "{}")
    old_ip = saved.get("ip")
    if not old_ip:
        return
    applicant = f"{hosts.LB_NS}/{IPP06_LB}"
    pool, _ = hosts.pool_of(cl, applicant)
    hosts.delete_lb(cl, IPP06_LB)

    def keep_ip(status: dict) -> None:
        # The article's keep-IP step: the old IP as the load balancer's only history entry (the
        # new IP's entry, left by the delete, would contradict it: IPP-03). The other load
        # balancers' entries the fault's allocation overwrote come back as they were.
        history = {ip: who for ip, who in (status.get("allocatedHistory") or {}).items() if who != applicant}
        taken = set(history) | set(status.get("allocated") or {})
        lost = {ip: who for ip, who in saved["history"].items() if who != applicant and ip not in taken}
        status["allocatedHistory"] = {**history, **lost, old_ip: applicant}

    hosts.replace_pool_status(cl, pool, keep_ip)
    ip = _recreate_lb(cl, IPP06_LB, {})
    assert ip == old_ip, f"{IPP06_LB} came back with {ip}, not {old_ip}"


# -- Rancher: CCR-03 is harvester_hosts_rancher.credential_immutable_fault ----------------------------
# (A renewal capped to minutes by the TTL settings, harvester_hosts_rancher.token_ttl_fault("1"), is
# also what CCR-02 reports: as CCR-03's fault it would reach beyond its ID.)


# -- API endpoint: UPG-04 -------------------------------------------------------------------------------
# The Kubernetes API endpoint as an object: the Service every client reaches the apiserver through.
API_ENDPOINT = "Service default/kubernetes"


def _serving_cert(days_left: float | None):
    """The apiserver's serving certificate rewritten on disk (it reloads it at once), and with it
    each server's copy under /var/lib/rancher/rke2/server/tls that a node probe reads."""

    def apply(cl: Cluster) -> None:
        pki_dir = hosts.state_dir_of(cl) / "pki"
        ca = pki.load((pki_dir / "ca.crt").read_bytes(), (pki_dir / "ca.key").read_bytes())
        end = pki.now() + dt.timedelta(days=days_left) if days_left is not None else None
        pair = controlplane.apiserver_serving(ca, end)
        controlplane.write_file(pki_dir / "apiserver.key", pair.key_pem, private=True)
        controlplane.write_file(pki_dir / "apiserver.crt", pair.cert_pem)
        wait_for("cluster-seeded", lambda: _served_serial(cl) == pair.cert.serial_number)
        for node in (n["metadata"]["name"] for n in cl.list(R.NODES)):  # RKE2 keeps it on every server
            hostfs.write_apiserver_serving(hosts.state_dir_of(cl), node)

    return apply


def _served_serial(cl: Cluster) -> int:
    url = urllib.parse.urlparse(cl.host)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # reading the presented certificate only
    with socket.create_connection((url.hostname, url.port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


FAULTS = [
    Fault(
        "ISC-01",
        "a node booted from iSCSI (iBFT present) through a boot entry without rd.iscsi.firmware/rd.iscsi.ibft",
        _isc01(True),
        _isc01(False),
        objects=(f"Node {HOST}",),
    ),
    Fault(
        "NIC-02",
        f"after the upgrade, the vm-net uplink {NIC02_OLD} of one host is named {NIC02_NEW}",
        _nic02(True),
        _nic02(False),
        objects=(f"Node {HOST}",),
        also_fails=("NIC-01", "OFF-01"),  # OFF-01: the CloudInit's ethtool commands name it too
    ),
    Fault(
        "CSI-05",
        "Rook running on a host without persistent /var/lib/rook, /var/lib/ceph or rbd/nbd",
        _csi05,
        _csi05_revert,
        objects=(f"Node {HOST}",),
    ),
    Fault(
        "IPP-05",
        "the guest cluster's DHCP Service without kube-vip.io/hwaddr and kube-vip.io/requestedIP",
        _ipp05,
        _ipp05_revert,
        objects=(f"Service {GUEST_NS}/ingress",),
    ),
    Fault(
        "IPP-06",
        f"{IPP06_LB}'s load balancer re-created during the upgrade without its history: a new IP",
        _ipp06,
        _ipp06_revert,
        objects=(f"LoadBalancer {hosts.LB_NS}/{IPP06_LB}",),
    ),
    Fault(
        "IPP-07",
        "the IP pools served by a load-balancer controller build without allocation history",
        lambda cl: _mark_pools(cl, ipam.NO_HISTORY),
        lambda cl: _mark_pools(cl, None),
        objects=("IPPool default-pool", "IPPool guest-pool"),
    ),
    Fault(
        "CCR-03",
        "the cloud credential's Secret made immutable, so the article's merge patch is refused",
        rancher.credential_immutable_fault(True),
        rancher.credential_immutable_fault(False),
        objects=(f"Secret {rancher.CC_NS}/{rancher.CC_NAME}",),
    ),
    Fault(
        "UPG-04",
        "the apiserver's serving certificate five days from expiry",
        _serving_cert(5),
        _serving_cert(None),
        objects=(API_ENDPOINT,),
    ),
]
