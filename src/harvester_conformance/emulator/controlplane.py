"""Files the control plane needs before it starts: PKI, kubeconfigs, free ports."""

from __future__ import annotations

import datetime as dt
import random
import socket
from collections.abc import Collection
from pathlib import Path

import yaml

from harvester_conformance.emulator import pki

YEAR = dt.timedelta(days=365)
# Harvester's default service CIDR (facts.md §2.3); pods use its pod CIDR.
SERVICE_CIDR = "10.53.0.0/16"
POD_CIDR = "10.52.0.0/16"

# identity name -> (CN, organisation); organisations map to the bootstrap RBAC groups.
IDENTITIES = {
    "admin": ("hc-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", None),
    "scheduler": ("system:kube-scheduler", None),
    "kwok": ("hc-kwok", "system:masters"),
    "simulator": ("harvester-simulator", None),
}
# "kubelet": where the simulator answers for every node's kubelet (see `component_env`).
PORT_NAMES = ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok", "simulator", "kubelet")

# What a kubelet's endpoint is in the nodes' status (`pkg/cluster/ports` KubeletPort).
KUBELET_PORT = 10250
# The apiserver's kubelet client as RKE2 (k3s `pkg/daemons/control/deps`) issues it:
# client-kube-apiserver, user system:apiserver in system:masters.
KUBELET_CLIENT = ("system:apiserver", "system:masters")
# RKE2's kube-apiserver argument (`pkg/podexecutor/staticpod.go`): the kubelet is reached at the
# node's InternalIP first, not at its Hostname (the apiserver's own default order).
KUBELET_ADDRESS_TYPES = "InternalIP,ExternalIP,Hostname"
# The apiserver's outbound HTTPS that is not for a kubelet (webhooks, aggregated APIs on loopback or
# Service names) bypasses the kubelet tunnel.
NO_PROXY = "localhost,127.0.0.1,0.0.0.0,10.0.0.0/8,.svc,.cluster.local"


# Where the control plane's ports are chosen: below the kernel's ephemeral range (Linux:
# net.ipv4.ip_local_port_range, 32768-60999 by default). A port chosen there and released until its
# component binds it could meanwhile become the local end of any outgoing connection; below the
# range only another listener can take it, and `free_ports` skips the ports other clusters hold.
PORT_FLOOR = 20000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _port_ceiling() -> int:
    try:
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return low if low > PORT_FLOOR + 1000 else 65536


def free_ports(names: tuple[str, ...] = PORT_NAMES, taken: Collection[int] = ()) -> dict[str, int]:
    """Free loopback ports for the components, none of them in `taken` (other clusters' ports);
    all sockets are held open until every port is chosen."""
    ceiling, rng = _port_ceiling(), random.SystemRandom()
    socks, ports = [], {}
    try:
        for name in names:
            while name not in ports:
                port = rng.randrange(PORT_FLOOR, ceiling)
                if port in taken or port in ports.values():
                    continue
                s = socket.socket()
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    s.close()
                    continue
                socks.append(s)
                ports[name] = port
    finally:
        for s in socks:
            s.close()
    return ports


def write_file(path: Path, data: bytes, private: bool = False) -> None:
    """Atomic, so that a component reloading its certificate never reads half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    if private:
        tmp.chmod(0o600)
    tmp.replace(path)


APISERVER_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
APISERVER_IPS = ("127.0.0.1", "10.53.0.1")


def apiserver_serving(ca: pki.KeyPair, not_after: dt.datetime | None = None) -> pki.KeyPair:
    """The apiserver's serving pair: one year, or one year ending at `not_after`."""
    start = not_after - YEAR if not_after else None
    return pki.issue(
        ca, "kube-apiserver", YEAR, dns=APISERVER_DNS, ips=APISERVER_IPS, not_before=start, not_after=not_after
    )


def write_pki(pki_dir: Path) -> None:
    pki_dir.mkdir(parents=True, exist_ok=True)
    ca = pki.make_ca("harvester-conformance-emulated-ca", 10 * YEAR)
    write_file(pki_dir / "ca.crt", ca.cert_pem)
    write_file(pki_dir / "ca.key", ca.key_pem, private=True)
    server = apiserver_serving(ca)
    write_file(pki_dir / "apiserver.crt", server.cert_pem)
    write_file(pki_dir / "apiserver.key", server.key_pem, private=True)
    for ident, (cn, org) in IDENTITIES.items():
        pair = pki.issue(ca, cn, YEAR, org=org, client=True, server=False)
        write_file(pki_dir / f"{ident}.crt", pair.cert_pem)
        write_file(pki_dir / f"{ident}.key", pair.key_pem, private=True)
    # The simulator serves admission webhooks and an aggregated API over TLS with this pair.
    webhook = pki.issue(
        ca, "harvester-simulator", YEAR, dns=("localhost", "metrics-server.kube-system.svc"), ips=("127.0.0.1",)
    )
    write_file(pki_dir / "simulator-serving.crt", webhook.cert_pem)
    write_file(pki_dir / "simulator-serving.key", webhook.key_pem, private=True)
    cn, org = KUBELET_CLIENT
    kubelet_client = pki.issue(ca, cn, YEAR, org=org, client=True, server=False)
    write_file(pki_dir / "apiserver-kubelet-client.crt", kubelet_client.cert_pem)
    write_file(pki_dir / "apiserver-kubelet-client.key", kubelet_client.key_pem, private=True)
    front = pki.make_ca("front-proxy-ca", 10 * YEAR)
    write_file(pki_dir / "front-proxy-ca.crt", front.cert_pem)
    proxy = pki.issue(front, "front-proxy-client", YEAR, client=True, server=False)
    write_file(pki_dir / "front-proxy-client.crt", proxy.cert_pem)
    write_file(pki_dir / "front-proxy-client.key", proxy.key_pem, private=True)
    pub, priv = pki.rsa_public_private_pem()
    write_file(pki_dir / "sa.pub", pub)
    write_file(pki_dir / "sa.key", priv, private=True)


def kubelet_serving(ca: pki.KeyPair, node: str, ips: tuple[str, ...]) -> pki.KeyPair:
    """A node's kubelet serving pair as RKE2's supervisor issues serving-kubelet.crt (k3s
    `pkg/server/router.go` servingKubeletCert): CN the node, SANs its name, localhost, 127.0.0.1 and
    its addresses; the apiserver verifies it against --kubelet-certificate-authority."""
    return pki.issue(ca, node, YEAR, dns=(node, "localhost"), ips=("127.0.0.1", *ips))


def component_env(ports: dict[str, int]) -> dict[str, dict[str, str]]:
    """Environment per component. The apiserver reaches kubelets at the nodes' own addresses (no
    machine interface has them) through an HTTP CONNECT proxy that the simulator serves: Go's
    ProxyFromEnvironment, which the apiserver's kubelet transport uses (client-go `transport/cache.go`),
    tunnels each TLS connection to the simulator, which answers as that node's kubelet. Loopback is
    never proxied by Go; both spellings are set so that a proxy in the caller's environment does not
    leak in."""
    if "kubelet" not in ports:
        return {}
    proxy = f"http://127.0.0.1:{ports['kubelet']}"
    env = {"HTTPS_PROXY": proxy, "NO_PROXY": NO_PROXY, "HTTP_PROXY": "", "ALL_PROXY": ""}
    return {"kube-apiserver": {**env, **{k.lower(): v for k, v in env.items()}}}


def write_kubeconfig(path: Path, server: str, pki_dir: Path, ident: str, context: str) -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": server, "certificate-authority": str(pki_dir / "ca.crt")}}
        ],
        "users": [
            {
                "name": ident,
                "user": {
                    "client-certificate": str(pki_dir / f"{ident}.crt"),
                    "client-key": str(pki_dir / f"{ident}.key"),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": ident}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)


def component_argv(
    bin_dir: Path, state: Path, ports: dict[str, int], *, watch_cache: bool = True
) -> dict[str, list[str]]:
    p, k = state / "pki", state / "kubeconfigs"
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
    common_auth = lambda ident: [  # noqa: E731 - small local builder
        f"--kubeconfig={k / f'{ident}.kubeconfig'}",
        f"--authentication-kubeconfig={k / f'{ident}.kubeconfig'}",
        f"--authorization-kubeconfig={k / f'{ident}.kubeconfig'}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
    ]
    return {
        "etcd": [
            str(bin_dir / "etcd"),
            "--name=hc",
            f"--data-dir={state / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=hc={peer_url}",
            "--listen-metrics-urls=",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            f"--secure-port={ports['apiserver']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={state / 'apiserver-certs'}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={p / 'front-proxy-client.key'}",
            "--enable-aggregator-routing=false",  # route by Service: ExternalName reaches the simulator
            "--endpoint-reconciler-type=none",
            f"--kubelet-certificate-authority={p / 'ca.crt'}",
            f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
            f"--kubelet-preferred-address-types={KUBELET_ADDRESS_TYPES}",
            *([] if watch_cache else ["--watch-cache=false"]),
            "--v=1",
        ],
        "kube-controller-manager": [
            str(bin_dir / "kube-controller-manager"),
            *common_auth("controller-manager"),
            f"--secure-port={ports['controller-manager']}",
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--root-ca-file={p / 'ca.crt'}",
            f"--cluster-signing-cert-file={p / 'ca.crt'}",
            f"--cluster-signing-key-file={p / 'ca.key'}",
            "--use-service-account-credentials=true",
            f"--cluster-cidr={POD_CIDR}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
            "--v=1",
        ],
        "kube-scheduler": [
            str(bin_dir / "kube-scheduler"),
            *common_auth("scheduler"),
            f"--secure-port={ports['scheduler']}",
            "--v=1",
        ],
        "kwok": [
            str(bin_dir / "kwok"),
            f"--kubeconfig={k / 'kwok.kubeconfig'}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--server-address=127.0.0.1:{ports['kwok']}",
            "--node-lease-duration-seconds=40",
        ],
    }


def bin_packing_scheduler_config(state: Path) -> Path:
    """A KubeSchedulerConfiguration as an operator might leave it after tuning for density:
    NodeResourcesFit scoring MostAllocated with weight 10, and the InterPodAffinity plugin disabled
    (so pod (anti-)affinity is no longer honoured)."""
    doc = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(state / "kubeconfigs" / "scheduler.kubeconfig")},
        "leaderElection": {"leaderElect": False},
        "profiles": [
            {
                "schedulerName": "default-scheduler",
                "plugins": {
                    "multiPoint": {"disabled": [{"name": "InterPodAffinity"}]},
                    "score": {"enabled": [{"name": "NodeResourcesFit", "weight": 10}]},
                },
                "pluginConfig": [
                    {
                        "name": "NodeResourcesFit",
                        "args": {
                            "scoringStrategy": {
                                "type": "MostAllocated",
                                "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}],
                            }
                        },
                    }
                ],
            }
        ],
    }
    path = state / "kube-scheduler-bin-packing.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
