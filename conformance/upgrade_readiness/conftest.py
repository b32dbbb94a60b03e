"""What the upgrade gate reads besides the snapshot, once per run: each node's kubelet stats and
configuration through the API server's node proxy (the gate asks the kubelets directly), and the
certificate the Kubernetes API serves."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from cryptography import x509

from harvester_conformance.checks import upgrade_readiness as ur
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, ClusterUnreachable
from harvester_conformance.cluster.tls import HandshakeError, served_certificate
from harvester_conformance.context import RunContext
from harvester_conformance.upgrade_baseline import baseline, upgrade_changes  # noqa: F401 - UPG-08's fixtures


@pytest.fixture(scope="session")
def gate(hc: RunContext) -> ur.Gate:
    return ur.Gate(hc.release.release.key)


@dataclass(frozen=True)
class KubeletDisk:
    fs: ur.NodeFs | None
    threshold: float
    threshold_read: bool
    error: str | None = None


# Kubelets read at once through the API server's node proxy: enough to hide each answer's latency
# on a hundred nodes, few enough not to crowd the API server.
KUBELET_READERS = 8


def _threshold(hc: RunContext, node: str) -> tuple[float, bool]:
    """imageGCHighThresholdPercent from the kubelet's /configz, else the kubelet default (85)."""
    try:
        doc = hc.cluster.request("GET", f"/api/v1/nodes/{node}/proxy/configz", attempts=2)
    except (ApiError, ClusterUnreachable):
        return ur.IMAGE_GC_HIGH_DEFAULT, False
    value = ((doc or {}).get("kubeletconfig") or {}).get("imageGCHighThresholdPercent")
    return (float(value), True) if isinstance(value, int | float) else (ur.IMAGE_GC_HIGH_DEFAULT, False)


def _read_kubelet(hc: RunContext, name: str) -> dict:
    """One node's root filesystem (node.fs of /stats/summary) and GC threshold, as plain data."""
    try:
        summary = hc.cluster.request("GET", f"/api/v1/nodes/{name}/proxy/stats/summary", attempts=2)
    except (ApiError, ClusterUnreachable) as exc:
        return {"fs": None, "threshold": ur.IMAGE_GC_HIGH_DEFAULT, "threshold_read": False, "error": str(exc)[:200]}
    fs = ur.node_fs(summary or {})
    threshold, read = _threshold(hc, name)
    error = None if fs else "the kubelet's summary has no node.fs used/capacity/available figures"
    fs_figures = [fs.used, fs.capacity] if fs else None
    return {"fs": fs_figures, "threshold": threshold, "threshold_read": read, "error": error}


@pytest.fixture(scope="session")
def kubelet_disks(hc: RunContext) -> dict[str, KubeletDisk]:
    """Per node: its root filesystem from /stats/summary, or why it could not be read. Read once for
    the run (every worker judges the same answers) and several nodes at a time."""

    def read_all() -> dict[str, dict]:
        names = [node["metadata"]["name"] for node in hc.snapshot.list(R.NODES)]
        with ThreadPoolExecutor(KUBELET_READERS) as pool:
            return dict(zip(names, pool.map(lambda n: _read_kubelet(hc, n), names), strict=True))

    read = hc.read_once("kubelet-disks", read_all)
    return {
        name: KubeletDisk(ur.NodeFs(*d["fs"]) if d["fs"] else None, d["threshold"], d["threshold_read"], d["error"])
        for name, d in read.items()
    }


@pytest.fixture(scope="session")
def served_api_certificate(hc: RunContext) -> tuple[str, x509.Certificate | str]:
    """(address, the certificate the API server presents there, or why it could not be read)."""
    host = hc.cluster.host
    try:
        return host, served_certificate(host)
    except HandshakeError as exc:
        return host, str(exc)
