"""The emulated cluster itself: lifecycle, kubectl access, CRDs and seed objects, simulator."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import controlplane, lifecycle, manage, seed, versions
from harvester_conformance.waits import wait_for

PROFILES = ["v1.2.1", "v1.3.1", "v1.4.3", "v1.5.0", "v1.6.1", "v1.7.3", "v1.8.2"]


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_comes_up_with_its_versions(emulated, profile: str) -> None:
    c = emulated(profile)
    st = manage.status(c.name)
    assert st["state"] == "running", st
    assert st["profile"] == profile and st["kubeconfig"] == str(c.kubeconfig)
    assert all(comp["healthy"] for comp in st["components"].values())
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    assert cl.version()["gitVersion"] == versions.KUBERNETES
    server_version = cl.get(R.HARVESTER_SETTINGS, "server-version")
    assert server_version["value"] == profile
    nodes = cl.list(R.NODES)
    assert len(nodes) == 3
    for n in nodes:
        assert n["status"]["allocatable"]["devices.kubevirt.io/kvm"] == "1k"
        assert any(a["type"] == "InternalIP" for a in n["status"]["addresses"])
    has_auto_rotate = cl.get(R.HARVESTER_SETTINGS, "auto-rotate-rke2-certs") is not None
    assert has_auto_rotate is (profile != "v1.2.1")  # the setting exists from v1.3.0


def test_kubectl_works_with_the_written_kubeconfig(emulated) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    c = emulated("v1.3.1")
    out = subprocess.run(
        ["kubectl", "--kubeconfig", str(c.kubeconfig), "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert len(json.loads(out.stdout)["items"]) == 3


def test_every_crd_is_established_and_rejects_invalid_objects(emulated) -> None:
    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    names = {d["metadata"]["name"] for d in seed.crd_documents()}
    served = {crd["metadata"]["name"] for crd in cl.list(R.CRDS)}
    assert names <= served and len(names) >= 40
    bad = {
        "apiVersion": "loadbalancer.harvesterhci.io/v1beta1",
        "kind": "LoadBalancer",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"ipam": "static"},
    }
    with pytest.raises(ApiError) as err:
        cl.create(R.LOADBALANCERS, bad, "default")
    assert err.value.status == 422


def test_up_on_a_running_cluster_reports_it(emulated) -> None:
    c = emulated("v1.3.1")
    st, started = manage.up("v1.3.1", name=c.name, progress=lambda _: None)
    assert not started and st.kubeconfig == c.kubeconfig


def test_virt_operator_pod_is_scheduled_by_the_real_scheduler(emulated) -> None:
    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    pods = cl.list(R.PODS, "harvester-system", label_selector="kubevirt.io=virt-operator")
    assert pods and all(p["spec"].get("nodeName", "").startswith("harvester-node-") for p in pods)
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_simulator_runs_with_its_own_rbac_identity(emulated) -> None:
    c = emulated("v1.3.1")
    sim = Cluster.from_kubeconfig(str(c.state.dir / "kubeconfigs" / "simulator.kubeconfig"))
    with pytest.raises(ApiError) as err:
        sim.create(R.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nope"}})
    assert err.value.forbidden


def test_certificates_are_real_x509_with_the_documented_validity(emulated) -> None:
    from cryptography import x509

    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    ca = x509.load_pem_x509_certificate(
        base64.b64decode(cl.get(R.SECRETS, "kubevirt-ca", "harvester-system")["data"]["tls.crt"])
    )
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).total_seconds() == 168 * 3600


def test_status_names_a_dead_component_and_its_log(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HC_STATE_DIR", str(tmp_path))
    name = "dies"
    st, _ = manage.up("v1.3.1", name=name, progress=lambda _: None)
    try:
        os.kill(st.pids["kube-scheduler"], 9)
        # SIGKILL is delivered asynchronously: wait until the process is gone before asking status
        wait_for("process-exit", lambda: not lifecycle.pid_alive(st.pids["kube-scheduler"]))
        status = manage.status(name)
        assert status["state"] == "degraded"
        comp = status["components"]["kube-scheduler"]
        assert not comp["alive"] and comp["log"].endswith("kube-scheduler.log")
        out = subprocess.run(
            [sys.executable, "-m", "harvester_conformance.cli", "cluster", "status"],
            capture_output=True,
            text=True,
            env={**os.environ, "HC_STATE_DIR": str(tmp_path)},
        )
        assert out.returncode != 0
    finally:
        pids = list(st.pids.values())
        assert manage.down(name) == []
    assert not any(lifecycle.pid_alive(p) for p in pids)
    assert manage.down(name) == []  # idempotent


def test_down_leaves_no_process_or_port(tmp_path, monkeypatch) -> None:
    import socket

    monkeypatch.setenv("HC_STATE_DIR", str(tmp_path))
    st, _ = manage.up("v1.2.1", name="gone", progress=lambda _: None)
    pids, ports, pgid = list(st.pids.values()), dict(st.ports), st.pgid
    assert manage.down("gone") == []
    assert not any(lifecycle.pid_alive(p) for p in pids)
    assert lifecycle._group_members(pgid) == []
    for port in ports.values():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))  # free again


def _watch_cache_metrics(kubeconfig) -> list[str]:
    cl = Cluster.from_kubeconfig(str(kubeconfig))
    try:
        text = cl.request("GET", "/metrics", text=True)
    finally:
        cl.close()
    return [line for line in text.splitlines() if line.startswith("apiserver_watch_cache_initializations_total{")]


def test_the_scale_profile_runs_its_apiserver_without_a_watch_cache(emulated, tmp_path, monkeypatch) -> None:
    """A release profile keeps kube-apiserver's watch cache (each served type initialises one); the
    scale profile's has none, and a restarted apiserver keeps the command line it started with."""
    assert _watch_cache_metrics(emulated("v1.3.1").kubeconfig)
    monkeypatch.setenv("HC_STATE_DIR", str(tmp_path))
    st, _ = manage.up("scale", name="nocache", bare=True, progress=lambda _: None)
    try:
        assert lifecycle.State.load("nocache").options["watch_cache"] is False
        assert _watch_cache_metrics(st.kubeconfig) == []
        argv = lifecycle.component_argv(lifecycle.State.load("nocache"), versions.bin_dir())["kube-apiserver"]
        os.kill(st.pids["kube-apiserver"], 9)  # as a crash would: SIGTERM takes 60 s to end it
        lifecycle.restart_component(st, "kube-apiserver", argv)
        assert "--watch-cache=false" in argv and _watch_cache_metrics(st.kubeconfig) == []
    finally:
        assert manage.down("nocache") == []


def test_a_failed_start_up_shows_what_this_simulator_logged(tmp_path) -> None:
    """Only this start-up's lines (a reused cluster directory keeps earlier ones), without the
    interpreter's warnings and their source lines, the last ones kept."""
    st = lifecycle.State(name="t", dir=tmp_path)
    st.log("simulator").parent.mkdir(parents=True)
    earlier = ["2026-12-05 09:00:00,000 simulator simulator running: ipam", "2026-12-05 09:00:01,000 old line"]
    now = [f"2026-12-05 10:00:{i:02d},000 simulator.ipam loadbalancer default/vm-{i} not ready" for i in range(40)]
    noise = ["/x/pki.py:127: CryptographyDeprecationWarning: Parsed a serial number", "  return x509.load(...)"]
    text = [*earlier, "2026-12-05 10:00:00,000 simulator simulator running: ipam", *noise, *now]
    st.log("simulator").write_text("\n".join(text) + "\n")
    assert manage.simulator_log_tail(st) == now[-manage.LOG_TAIL :]
    assert manage.simulator_log_tail(lifecycle.State(name="none", dir=tmp_path / "none")) == []


def test_a_start_up_killed_mid_seed_is_not_taken_for_a_running_cluster(tmp_path, monkeypatch) -> None:
    """Its processes run, but the process that seeded them died before the end: `up` must start
    it anew, not report it running; one whose start-up is still going is left to it."""
    monkeypatch.setenv("HC_STATE_DIR", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    st = lifecycle.State(name="half", dir=tmp_path / "half", pids={"kube-apiserver": os.getpid()})
    st.dir.mkdir()
    st.starter = dead.pid
    st.save()
    assert lifecycle.half_started(lifecycle.State.load("half"))
    st.starter = os.getpid()  # still starting
    st.save()
    assert not lifecycle.half_started(lifecycle.State.load("half"))
    st.starter, st.ready = dead.pid, True
    st.save()
    assert not lifecycle.half_started(lifecycle.State.load("half"))
    legacy = json.loads(st.file.read_text())
    del legacy["ready"]  # written before the field existed: its start-up had finished
    st.file.write_text(json.dumps(legacy))
    assert lifecycle.State.load("half").ready


def test_ports_are_chosen_below_the_ephemeral_range_and_apart_from_other_clusters() -> None:
    """No outgoing connection can take a chosen port before its component binds it, and a
    cluster starting beside another never picks the ports that one holds."""
    ceiling = controlplane._port_ceiling()
    taken = set(range(controlplane.PORT_FLOOR, controlplane.PORT_FLOOR + (ceiling - controlplane.PORT_FLOOR) // 2))
    for _ in range(20):
        ports = controlplane.free_ports(taken=taken)
        assert len(set(ports.values())) == len(controlplane.PORT_NAMES)
        assert all(controlplane.PORT_FLOOR <= p < ceiling and p not in taken for p in ports.values())


PROXY_MISSING_NODES = '{"httpProxy":"http://192.0.2.200:3128","noProxy":"localhost,127.0.0.1"}'
PROXY_COVERING_NODES = '{"httpProxy":"http://192.0.2.200:3128","noProxy":"localhost,192.0.2.0/24"}'


def _set(cl: Cluster, name: str, value: str | None) -> None:
    """Write a setting's value; None leaves it unset (no `value` field, as Harvester writes it)."""
    cl.patch(R.HARVESTER_SETTINGS, name, {"value": value})


def _value(cl: Cluster, name: str) -> str | None:
    return cl.get(R.HARVESTER_SETTINGS, name).get("value")


@pytest.mark.parametrize("profile,rejects", [("v1.3.1", True), ("v1.2.1", False)])
def test_setting_webhook_checks_no_proxy_from_v1_3_1(emulated, profile: str, rejects: bool) -> None:
    """The apiserver calls the simulator's webhook over TLS; the noProxy rule exists from v1.3.1."""
    cl = Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))
    try:
        before = _value(cl, "http-proxy")
        if rejects:
            with pytest.raises(ApiError) as err:
                _set(cl, "http-proxy", PROXY_MISSING_NODES)
            assert err.value.status == 400
            assert _value(cl, "http-proxy") == before
        else:
            _set(cl, "http-proxy", PROXY_MISSING_NODES)
        _set(cl, "http-proxy", PROXY_COVERING_NODES)
    finally:
        _set(cl, "http-proxy", None)


@pytest.mark.parametrize(
    "name,value",
    [
        ("overcommit-config", '{"cpu":50,"memory":150,"storage":200}'),
        ("overcommit-config", "not json"),
        ("auto-rotate-rke2-certs", '{"enable":true,"expiringInHours":8760}'),
        ("ssl-parameters", '{"protocols":"TLSv1.2 TLSv9"}'),
        ("kubeconfig-default-token-ttl-minutes", "-1"),
    ],
)
def test_setting_webhook_rejects_what_harvester_rejects(emulated, name: str, value: str) -> None:
    cl = Cluster.from_kubeconfig(str(emulated("v1.3.1").kubeconfig))
    before = _value(cl, name)
    with pytest.raises(ApiError) as err:
        _set(cl, name, value)
    assert err.value.status == 400
    assert _value(cl, name) == before


def test_down_stops_everything_even_when_state_json_is_lost(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HC_STATE_DIR", str(tmp_path))
    st, _ = manage.up("v1.3.1", name="lost", progress=lambda _: None)
    pids = list(st.pids.values())
    st.file.unlink()
    assert manage.down("lost") == []
    assert not any(lifecycle.pid_alive(p) for p in pids)
    assert lifecycle._referencing(st.dir) == []


def test_lpc02_has_no_failing_state_on_a_real_apiserver(emulated) -> None:
    """Why LPC-02 has no fault: the apiserver keeps the system priority class as it is."""
    from harvester_conformance.cluster import resources as R
    from harvester_conformance.cluster.client import ApiError, Cluster

    cl = Cluster.from_kubeconfig(str(emulated("v1.3.1").kubeconfig))
    try:
        with pytest.raises(ApiError) as deleting:
            cl.delete(R.PRIORITY_CLASSES, "system-cluster-critical")
        assert deleting.value.status == 403 and "system priority class" in deleting.value.message
        with pytest.raises(ApiError) as changing:
            cl.patch(R.PRIORITY_CLASSES, "system-cluster-critical", {"value": 1000})
        assert changing.value.status == 422
        assert cl.get(R.PRIORITY_CLASSES, "system-cluster-critical")["value"] == 2_000_000_000
    finally:
        cl.close()
