"""Nodes' kubelet endpoint and cluster readiness follow upstream (issue 9).

- The apiserver's node proxy reaches every emulated node's kubelet at the node's own address and
  kubelet port, over TLS verified against the kubelet CA, with RKE2's kubelet-client flags; the
  kubelet answers `/stats/summary` with the Summary API, consistent with the cluster's objects.
- `cluster up` says ready only once every area has settled, and says what it waits for.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import types
from pathlib import Path

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import controlplane, pki, seed
from harvester_conformance.emulator.areas import all_faults
from harvester_conformance.emulator.areas import harvester_hosts_nodes as nodes_ctl
from harvester_conformance.emulator.areas import metrics_server as ms
from harvester_conformance.emulator.profiles import PROFILES
from harvester_conformance.waits import WaitTimeout, wait_for

RELEASES = ["v1.2.1", "v1.3.1", "v1.4.3", "v1.5.0"]


def go_global_unicast(address: str) -> bool:
    """Go's net.IP.IsGlobalUnicast: not unspecified, loopback, multicast, link-local or broadcast."""
    ip = ipaddress.ip_address(address)
    broadcast = ip == ipaddress.ip_address("255.255.255.255")
    return not (ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.is_link_local or broadcast)


def summary_of(cl: Cluster, node: str, query: str = "") -> dict:
    return cl.request("GET", f"/api/v1/nodes/{node}/proxy/stats/summary{query}")


def _bytes(text: str) -> int:
    return int(nodes_ctl.parse_quantity(text)[0])


# -- pure: what upstream does, without a cluster --------------------------------------------------
def test_seeded_node_addresses_are_ones_the_apiserver_proxies_to() -> None:
    """kube-apiserver refuses node proxying to an address that is not global unicast (loopback,
    link-local): kubernetes `pkg/registry/core/node/strategy.go` isProxyableHostname @v1.34.4. With
    RKE2's `--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname` (rke2
    `pkg/podexecutor/staticpod.go` @v1.27.13+rke2r1) it dials the InternalIP at
    `status.daemonEndpoints.kubeletEndpoint.Port` (`pkg/kubelet/client/kubelet_client.go` @v1.34.4)."""
    spec = PROFILES["v1.3.1"].with_size(nodes=100)
    internal = []
    for i, name in enumerate(seed.node_names(spec)):
        status = seed.node_body(name, i, spec)["status"]
        ip = next(a["address"] for a in status["addresses"] if a["type"] == "InternalIP")
        assert go_global_unicast(ip), ip
        assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == controlplane.KUBELET_PORT == 10250
        internal.append(ip)
    assert len(set(internal)) == len(internal)  # every node has its own address
    assert not go_global_unicast("127.0.0.1") and not go_global_unicast("169.254.1.1")


def test_apiserver_has_the_kubelet_client_flags_rke2_sets(tmp_path: Path) -> None:
    """k3s `pkg/daemons/control/server.go` (vendored by RKE2): kubelet-certificate-authority,
    kubelet-client-certificate/-key (client-kube-apiserver, `system:apiserver` in system:masters per
    k3s `pkg/daemons/control/deps/deps.go`), kubelet-preferred-address-types."""
    ports = dict.fromkeys(controlplane.PORT_NAMES, 1)
    argv = controlplane.component_argv(tmp_path / "bin", tmp_path, ports)["kube-apiserver"]
    flags = dict(a.split("=", 1) for a in argv if a.startswith("--kubelet-"))
    assert flags == {
        "--kubelet-certificate-authority": str(tmp_path / "pki" / "ca.crt"),
        "--kubelet-client-certificate": str(tmp_path / "pki" / "apiserver-kubelet-client.crt"),
        "--kubelet-client-key": str(tmp_path / "pki" / "apiserver-kubelet-client.key"),
        "--kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
    }
    controlplane.write_pki(tmp_path / "pki")
    cert = pki.load(
        (tmp_path / "pki" / "apiserver-kubelet-client.crt").read_bytes(),
        (tmp_path / "pki" / "apiserver-kubelet-client.key").read_bytes(),
    ).cert
    assert cert.subject.rfc4514_string() == "O=system:masters,CN=system:apiserver"
    # only the apiserver goes through the kubelet tunnel, and never for loopback or Service names
    env = controlplane.component_env(ports)
    assert set(env) == {"kube-apiserver"}
    assert env["kube-apiserver"]["HTTPS_PROXY"] == "http://127.0.0.1:1"
    assert {".svc", "127.0.0.1", "localhost"} <= set(env["kube-apiserver"]["NO_PROXY"].split(","))


def test_kubelet_authorises_by_subresource() -> None:
    """kubernetes `pkg/kubelet/server/auth.go` GetRequestAttributes @v1.34.4 (without the
    KubeletFineGrainedAuthz gate, off in the kubelets of these releases)."""
    assert ms.kubelet_attributes("GET", "/stats/summary") == ("get", "stats")
    assert ms.kubelet_attributes("GET", "/stats") == ("get", "stats")
    assert ms.kubelet_attributes("GET", "/metrics/resource") == ("get", "metrics")
    assert ms.kubelet_attributes("GET", "/logs/messages") == ("get", "log")
    assert ms.kubelet_attributes("GET", "/healthz") == ("get", "proxy")
    assert ms.kubelet_attributes("GET", "/pods") == ("get", "proxy")
    assert ms.kubelet_attributes("POST", "/exec/ns/pod/c") == ("create", "proxy")
    assert ms.kubelet_attributes("GET", "/statsx") == ("get", "proxy")


def test_block_volume_stats_carry_only_the_size() -> None:
    """Longhorn `csi/node_server.go` NodeGetVolumeStats @v1.6.2: a block volume reports Total =
    the volume's size and nothing else; the kubelet copies BYTES usage into capacity/available/used
    and leaves inodes at zero (kubernetes `pkg/volume/csi/csi_client.go`,
    `pkg/kubelet/server/stats/volume_stat_calculator.go` @v1.34.4)."""
    claim = {"name": "vm-disk", "namespace": "default"}
    block = ms.claim_stats("t", "disk-0", claim, 10 * 1024**3, True, 5 * 1024**3)
    assert block == {
        "time": "t",
        "availableBytes": 0,
        "capacityBytes": 10 * 1024**3,
        "usedBytes": 0,
        "inodesFree": 0,
        "inodes": 0,
        "inodesUsed": 0,
        "name": "disk-0",
        "pvcRef": claim,
    }
    fs = ms.claim_stats("t", "data", claim, 10 * 1024**3, False, 3 * 1024**3)
    assert fs["usedBytes"] == 3 * 1024**3 and fs["availableBytes"] == 7 * 1024**3
    assert fs["inodes"] == fs["inodesFree"] + fs["inodesUsed"]


def test_launcher_pod_mounts_its_vmi_claims_at_the_longhorn_size() -> None:
    """KubeVirt's virt-launcher pod mounts the VMI's PVC/DataVolume volumes under the VMI's volume
    names (`pkg/virt-controller/services/rendervolumes.go` @v1.1.1); the kubelet reports each bound
    claim with the Longhorn volume's size (Longhorn `csi/node_server.go` @v1.6.2)."""
    pod = {
        "metadata": {
            "name": "virt-launcher-vm-1-abcde",
            "namespace": "default",
            "labels": {"kubevirt.io": "virt-launcher"},
            "ownerReferences": [{"kind": "VirtualMachineInstance", "name": "vm-1"}],
        },
        "spec": {"volumes": [{"name": "private", "emptyDir": {}}]},
    }
    vmi = {"spec": {"volumes": [{"name": "disk-0", "persistentVolumeClaim": {"claimName": "vm-1-disk-0"}}]}}
    pvc = {"spec": {"volumeName": "pvc-1"}, "status": {"phase": "Bound"}}
    pv = {"spec": {"volumeMode": "Block", "csi": {"driver": "driver.longhorn.io", "volumeHandle": "pvc-1"}}}
    storage = ms.Storage(
        pvcs={("default", "vm-1-disk-0"): pvc},
        pvs={"pvc-1": pv},
        longhorn={"pvc-1": {"spec": {"size": "21474836480"}, "status": {"actualSize": 1073741824}}},
        vmis={("default", "vm-1"): vmi},
    )
    assert ms.pod_mounts(pod, storage.vmis) == [("disk-0", "vm-1-disk-0")]
    [disk] = ms.pod_claim_stats(storage, pod, "t")
    assert disk["name"] == "disk-0" and disk["pvcRef"] == {"name": "vm-1-disk-0", "namespace": "default"}
    assert disk["capacityBytes"] == 21474836480 and disk["usedBytes"] == 0
    unbound = ms.Storage(
        pvcs={("default", "vm-1-disk-0"): {"spec": {}, "status": {"phase": "Pending"}}},
        pvs={},
        longhorn={},
        vmis=storage.vmis,
    )
    assert ms.pod_claim_stats(unbound, pod, "t") == []  # nothing mounted, no metrics


def _pod(name: str, node: str, cpu: str, memory: str, phase: str = "Running", volumes: list | None = None) -> dict:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
            "volumes": volumes or [],
        },
        "status": {"phase": phase, "startTime": "2026-01-01T00:00:05Z"},
    }


def test_summary_follows_node_capacity_and_pods() -> None:
    """The Summary API (`k8s.io/kubelet/pkg/apis/stats/v1alpha1` @v0.34.4): node fs = the kubelet's
    root filesystem, whose capacity is the node's ephemeral-storage capacity; imageFs on the same
    device (RKE2's containerd root on COS_PERSISTENT, harvester-installer
    `pkg/config/templates/cos-rootfs.yaml` @v1.3.1); pods = the running pods, their ephemeral storage
    counted into the node's used bytes; `only_cpu_and_memory=true` leaves out everything else
    (`pkg/kubelet/server/stats/handler.go` handleSummary @v1.34.4)."""
    spec = PROFILES["v1.3.1"]
    node = seed.node_body("harvester-node-0", 0, spec)
    node["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    pods = [
        _pod("a", "harvester-node-0", "1", "2Gi", volumes=[{"name": "scratch", "emptyDir": {}}]),
        _pod("b", "harvester-node-0", "500m", "1Gi"),
        _pod("pending", "harvester-node-0", "2", "4Gi", phase="Pending"),
    ]
    now = dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC)
    out = ms.summary(node, pods, {}, now, only_cpu_memory=False)
    fs, image = out["node"]["fs"], out["node"]["runtime"]["imageFs"]
    assert fs["capacityBytes"] == _bytes(node["status"]["capacity"]["ephemeral-storage"])
    assert image["capacityBytes"] == fs["capacityBytes"] and image["availableBytes"] == fs["availableBytes"]
    assert image["usedBytes"] < fs["usedBytes"]
    assert fs["usedBytes"] + fs["availableBytes"] <= fs["capacityBytes"]
    # RKE2's kubelet evicts below 5 % available (k3s `pkg/daemons/agent` eviction-hard): the seeded
    # nodes' DiskPressure False agrees with the figures
    assert fs["availableBytes"] > fs["capacityBytes"] * 0.05
    assert [p["podRef"]["name"] for p in out["pods"]] == ["a", "b"]
    a = out["pods"][0]
    assert [v["name"] for v in a["volume"]] == ["scratch"]
    assert a["ephemeral-storage"]["usedBytes"] == sum(
        c["rootfs"]["usedBytes"] + c["logs"]["usedBytes"] for c in a["containers"]
    ) + sum(v["usedBytes"] for v in a["volume"])
    # node usage = the same kubelet figures metrics-server scrapes, pods within it
    usage = ms.kubelet_usage(pods)
    assert out["node"]["cpu"]["usageNanoCores"] == int(nodes_ctl.parse_quantity(usage["cpu"])[0] * 10**9)
    assert out["node"]["memory"]["workingSetBytes"] == _bytes(usage["memory"])
    assert sum(p["cpu"]["usageNanoCores"] for p in out["pods"]) <= out["node"]["cpu"]["usageNanoCores"]
    assert out["node"]["cpu"]["usageCoreNanoSeconds"] == out["node"]["cpu"]["usageNanoCores"] * 3600
    only = ms.summary(node, pods, {}, now, only_cpu_memory=True)
    assert set(only["node"]) == {"nodeName", "systemContainers", "startTime", "cpu", "memory"}
    assert set(only["pods"][0]) == {"podRef", "startTime", "containers", "cpu", "memory"}


# -- await_ready: what `cluster up` waits for -----------------------------------------------------
class _Nodes:
    def list(self, res: object) -> list[dict]:
        return [{"status": {"conditions": [{"type": "Ready", "status": "True"}]}}]


def _area(name: str, ready, doc: str | None = None) -> types.ModuleType:
    area = types.ModuleType(f"harvester_conformance.emulator.areas.{name}")
    ready.__doc__ = doc
    area.ready = ready
    return area


def test_await_ready_says_what_it_waits_for_and_rechecks_every_area() -> None:
    """The readiness contract of `emulator/areas/__init__.py`: `up` polls each area's `ready()`;
    an area settled early (Longhorn volumes) can be unsettled by a later one (VMs starting), so the
    wait ends only when every area is ready in one pass."""
    state = {"volumes": True, "unsettled_reads": 0, "started": False}

    def volumes_ready(cl: object, spec: object) -> bool:
        if not state["volumes"]:  # settles again on the second look
            state["unsettled_reads"] += 1
            state["volumes"] = state["unsettled_reads"] >= 2
            return False
        return True

    def vms_ready(cl: object, spec: object) -> bool:
        if not state["started"]:  # the VMs starting unsettle the volumes once
            state["started"], state["volumes"] = True, False
        return True

    lines: list[str] = []
    areas = [
        _area("longhorn", volumes_ready, "Every seeded volume attached and healthy."),
        _area("kubevirt_workloads", vms_ready),
    ]
    seed.await_ready(_Nodes(), PROFILES["v1.3.1"], areas, lines.append)
    assert lines[0] == "waiting for 3 nodes to report Ready"
    assert "waiting for longhorn: every seeded volume attached and healthy" in lines
    assert "waiting for kubevirt_workloads to settle" in lines
    assert lines[-1] == "every area settled"
    assert state["unsettled_reads"] == 2 and state["volumes"] is True  # the final pass waited for them


def test_await_ready_names_the_area_that_did_not_settle(monkeypatch) -> None:
    monkeypatch.setenv("HC_TIMEOUT_SCALE", "0.01")
    areas = [_area("longhorn", lambda cl, spec: False, "Volumes attached.")]
    with pytest.raises(WaitTimeout) as late:
        seed.await_ready(_Nodes(), PROFILES["v1.3.1"], areas, lambda _line: None)
    assert late.value.last == "not settled: longhorn"


# -- live: the node proxy of the emulated cluster -------------------------------------------------
@pytest.mark.parametrize("profile", RELEASES)
def test_node_proxy_serves_the_summary_of_every_node(emulated, profile: str) -> None:
    """`GET /api/v1/nodes/NODE/proxy/stats/summary` answers for every node, with the node's
    capacity and the pods it runs (`k8s.io/kubelet/pkg/apis/stats/v1alpha1`, same on every release)."""
    cl = Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))
    try:
        nodes = cl.list(R.NODES)
        assert nodes
        for node in nodes:
            name = node["metadata"]["name"]

            def agrees(name: str = name, node: dict = node) -> list[str]:
                out = summary_of(cl, name)
                running = {
                    p["metadata"]["name"]
                    for p in nodes_ctl.non_terminated_by_node(cl.list(R.PODS)).get(name, [])
                    if p["status"].get("phase") == "Running"
                }
                problems = []
                if out["node"]["nodeName"] != name:
                    problems.append(f"nodeName {out['node']['nodeName']}")
                if out["node"]["fs"]["capacityBytes"] != _bytes(node["status"]["capacity"]["ephemeral-storage"]):
                    problems.append("fs capacity is not the node's ephemeral-storage capacity")
                if {p["podRef"]["name"] for p in out["pods"]} != running:
                    problems.append("pods differ from the running pods on the node")
                return problems

            # a pod may start between the two reads: the next read agrees
            wait_for("cluster-seeded", lambda agrees=agrees: not agrees(), timeout=30, describe=agrees)
            pressure = next(c for c in node["status"]["conditions"] if c["type"] == "DiskPressure")
            fs = summary_of(cl, name)["node"]["fs"]
            assert (fs["availableBytes"] < fs["capacityBytes"] * ms.EVICTION_AVAILABLE) is (
                pressure["status"] == "True"
            )
    finally:
        cl.close()


def test_pod_volumes_carry_the_longhorn_volume_size(cl) -> None:
    """A VM's root disk (Block-mode Longhorn PVC) is in its virt-launcher pod's volume stats with
    the Longhorn volume's `spec.size` as capacity (Longhorn `csi/node_server.go` @v1.6.2)."""
    longhorn = {v["metadata"]["name"]: v for v in cl.list(R.LONGHORN_VOLUMES, "longhorn-system")}
    pvs = {pv["spec"].get("claimRef", {}).get("name"): pv for pv in cl.list(R.PERSISTENT_VOLUMES)}
    seen = 0
    for node in cl.list(R.NODES):
        for pod in summary_of(cl, node["metadata"]["name"])["pods"]:
            for vol in pod.get("volume") or []:
                if "pvcRef" not in vol:
                    continue
                pv = pvs[vol["pvcRef"]["name"]]
                size = int(longhorn[pv["spec"]["csi"]["volumeHandle"]]["spec"]["size"])
                assert vol["capacityBytes"] == size and vol["usedBytes"] == 0, vol
                seen += 1
    assert seen >= 20  # the v1.3.1 profile's 20 VMs, one root disk each


def test_node_usage_is_what_metrics_server_scraped(cl) -> None:
    """One kubelet behind both: the summary's node CPU and working set equal NodeMetrics' usage
    once a scrape has seen the same pods (metrics-server reads the kubelet's resource metrics)."""

    def differing() -> list[str]:
        out = []
        for m in cl.list(R.NODE_METRICS):
            node = summary_of(cl, m["metadata"]["name"], "?only_cpu_and_memory=true")["node"]
            cpu = int(nodes_ctl.parse_quantity(m["usage"]["cpu"])[0] * 10**9)
            if (node["cpu"]["usageNanoCores"], node["memory"]["workingSetBytes"]) != (
                cpu,
                _bytes(m["usage"]["memory"]),
            ):
                out.append(m["metadata"]["name"])
        return out

    wait_for("cluster-seeded", lambda: not differing(), timeout=3 * ms.RESOLUTION, describe=differing)


def _kubelet_tls(st, node: dict, cert: tuple[Path, Path] | None) -> tuple[int, bytes, dict]:
    """Through the same CONNECT tunnel the apiserver uses: (status, body, the served certificate)."""
    ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    ctx = ssl.create_default_context(cafile=str(st.dir / "pki" / "ca.crt"))
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    raw = socket.create_connection(("127.0.0.1", st.ports["kubelet"]), timeout=60)  # a loaded machine
    raw.sendall(f"CONNECT {ip}:10250 HTTP/1.1\r\nHost: {ip}:10250\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:  # the tunnel's answer; TLS starts only after it
        reply += raw.recv(4096)
    assert reply.split()[1] == b"200", reply
    with ctx.wrap_socket(raw, server_hostname=ip) as tls:
        served = tls.getpeercert()
        tls.sendall(f"GET /stats/summary HTTP/1.1\r\nHost: {ip}:10250\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body, served


def test_kubelet_serves_tls_and_authenticates_like_rke2s(cl, emulated, tmp_path: Path) -> None:
    """The kubelet's serving certificate names the node and its address and verifies against the
    CA the apiserver is given (`--kubelet-certificate-authority`); anonymous requests get 401
    (RKE2 runs the kubelet with anonymous-auth=false, k3s `pkg/daemons/agent`), a user without
    nodes/stats 403 with the kubelet's message (`pkg/kubelet/server/server.go` InstallAuthFilter)."""
    st = emulated("v1.3.1").state
    node = cl.get(R.NODES, "harvester-node-0")
    code, body, served = _kubelet_tls(st, node, None)
    assert code == 401 and body == b"Unauthorized"
    sans = {v for _, v in served["subjectAltName"]}
    assert dict(x[0] for x in served["subject"])["commonName"] == "harvester-node-0"
    assert {"harvester-node-0", "192.0.2.11"} <= sans
    code, body, _ = _kubelet_tls(st, node, (st.dir / "pki" / "admin.crt", st.dir / "pki" / "admin.key"))
    assert code == 200 and json.loads(body)["node"]["nodeName"] == "harvester-node-0"
    ca = pki.load((st.dir / "pki" / "ca.crt").read_bytes(), (st.dir / "pki" / "ca.key").read_bytes())
    stranger = pki.issue(ca, "no-stats-for-me", dt.timedelta(hours=1), client=True, server=False)
    (tmp_path / "s.crt").write_bytes(stranger.cert_pem)
    (tmp_path / "s.key").write_bytes(stranger.key_pem)
    code, body, _ = _kubelet_tls(st, node, (tmp_path / "s.crt", tmp_path / "s.key"))
    assert code == 403
    assert body == b"Forbidden (user=no-stats-for-me, verb=get, resource=nodes, subresource(s)=[stats])\n"


def test_node_proxy_follows_rbac_on_nodes_proxy(cl, emulated) -> None:
    """Reading through the node proxy needs `nodes/proxy` (kube-apiserver's RBAC on the subresource)."""
    stranger = Cluster.from_kubeconfig(str(emulated("v1.3.1").kubeconfig))
    stranger.api.set_default_header("Impersonate-User", "no-proxy-for-me")
    try:
        with pytest.raises(ApiError) as denied:
            summary_of(stranger, "harvester-node-0")
        assert denied.value.status == 403 and "nodes/proxy" in str(denied.value)
    finally:
        stranger.close()


def test_met02_kubelet_unreachable_through_the_node_proxy(cl) -> None:
    """MET-02 (a kubelet that stopped answering) is the same kubelet the node proxy reaches: its
    node's proxy fails with 503, as the apiserver reports an unreachable kubelet, until reverted."""
    fault = all_faults()["MET-02"]
    assert ms.kubelet_answers(cl, ms.MET02_NODE)
    fault.inject(cl)
    try:
        with pytest.raises(ApiError) as unreachable:
            cl.request("GET", f"/api/v1/nodes/{ms.MET02_NODE}/proxy/healthz", text=True, attempts=1)
        assert unreachable.value.status == 503
        assert all(ms.kubelet_answers(cl, n) for n in ("harvester-node-0", "harvester-node-2"))
    finally:
        fault.revert(cl)
    assert ms.kubelet_answers(cl, ms.MET02_NODE)
