"""metrics-server of the emulated cluster: NodeMetrics through the real aggregator (APIService,
front-proxy TLS, delegated RBAC), and the MET-02 fault both ways."""

from __future__ import annotations

import datetime as dt
import ssl
import urllib.error
import urllib.request

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas import all_faults
from harvester_conformance.emulator.areas import harvester_hosts_nodes as nodes_ctl
from harvester_conformance.emulator.areas import metrics_server as ms
from harvester_conformance.waits import wait_for


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def met02_problems(cl: Cluster) -> list[str]:
    """MET-02 read directly: metrics for every node, fresh, usage within capacity."""
    nodes = {n["metadata"]["name"]: n for n in cl.list(R.NODES)}
    metrics = {m["metadata"]["name"]: m for m in cl.list(R.NODE_METRICS)}
    now = dt.datetime.now(dt.UTC)
    problems = [f"{name}: no NodeMetrics" for name in sorted(set(nodes) - set(metrics))]
    for name, m in metrics.items():
        age = (now - _parse_time(m["timestamp"])).total_seconds()
        if age > 3 * ms.RESOLUTION:
            problems.append(f"{name}: sample {age:.0f}s old")
        cap = nodes[name]["status"]["capacity"]
        for res in ("cpu", "memory"):
            if nodes_ctl.parse_quantity(m["usage"][res])[0] > nodes_ctl.parse_quantity(cap[res])[0]:
                problems.append(f"{name}: {res} usage above capacity")
    return problems


def test_apiservice_available_and_metrics_for_every_node(cl):
    svc = cl.get(R.API_SERVICES, ms.APISERVICE)
    assert svc["spec"]["service"] == {
        "name": "metrics-server",
        "namespace": "kube-system",
        "port": svc["spec"]["service"]["port"],
    }
    assert any(c["type"] == "Available" and c["status"] == "True" for c in svc["status"]["conditions"])
    assert met02_problems(cl) == []
    m = cl.get(R.NODE_METRICS, "harvester-node-0")
    assert m["kind"] == "NodeMetrics" and ms.RESOLUTION <= float(m["window"].rstrip("s")) < ms.RESOLUTION + 2
    assert m["metadata"]["labels"]["kubernetes.io/hostname"] == "harvester-node-0"
    assert m["usage"]["cpu"].endswith("n") and m["usage"]["memory"].endswith("Ki")


def test_usage_follows_the_pods_on_the_node(cl):
    def matches() -> bool:  # a scrape may predate a pod that just started: allow the next one
        pods = nodes_ctl.non_terminated_by_node(cl.list(R.PODS))
        return all(m["usage"] == ms.kubelet_usage(pods.get(m["metadata"]["name"], [])) for m in cl.list(R.NODE_METRICS))

    wait_for("cluster-seeded", matches, timeout=3 * ms.RESOLUTION)


def test_label_selector_filters_the_list(cl):
    items = cl.request("GET", ms.PREFIX + "/nodes", query={"labelSelector": "kubernetes.io/hostname=harvester-node-2"})
    assert [i["metadata"]["name"] for i in items["items"]] == ["harvester-node-2"]


def test_rbac_decides_who_reads_metrics(cl, emulated):
    """The aggregator passes the caller's identity on; the simulator asks the apiserver (SAR)."""
    stranger = Cluster.from_kubeconfig(str(emulated("v1.3.1").kubeconfig))
    stranger.api.set_default_header("Impersonate-User", "no-metrics-for-me")
    try:
        with pytest.raises(ApiError) as denied:
            stranger.list(R.NODE_METRICS)
        assert denied.value.status == 403 and "no-metrics-for-me" in str(denied.value)
    finally:
        stranger.close()


def test_direct_requests_without_the_front_proxy_certificate_are_refused(cl, emulated):
    st = emulated("v1.3.1").state
    ctx = ssl.create_default_context(cafile=str(st.dir / "pki" / "ca.crt"))
    url = f"https://127.0.0.1:{st.ports['simulator']}{ms.PREFIX}/nodes"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, context=ctx, timeout=5)  # noqa: S310 - a local https URL
    assert refused.value.code == 401


def test_fault_met02_node_without_metrics(cl):
    fault = all_faults()["MET-02"]
    fault.inject(cl)
    try:
        assert met02_problems(cl) == [f"{ms.MET02_NODE}: no NodeMetrics"]
    finally:
        fault.revert(cl)
    assert met02_problems(cl) == []
