"""Version detection: Harvester, KubeVirt, Longhorn, RKE2 and Kubernetes, read once per run."""

from __future__ import annotations

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.cluster.snapshot import Snapshot


def _setting_value(item: dict | None) -> str | None:
    if not item:
        return None
    return item.get("value") or item.get("default") or None


def detect(cluster: Cluster, snap: Snapshot) -> dict[str, str | None]:
    found: dict[str, str | None] = {"kubernetes": cluster.version().get("gitVersion")}
    try:
        found["harvester"] = _setting_value(snap.get(R.HARVESTER_SETTINGS, "server-version"))
    except Exception:  # noqa: BLE001 - absent or unreadable: version unknown, gates do not apply
        found["harvester"] = None
    try:
        kv = snap.get(R.KUBEVIRTS, "kubevirt", "harvester-system") or {}
        found["kubevirt"] = (kv.get("status") or {}).get("observedKubeVirtVersion")
    except Exception:  # noqa: BLE001
        found["kubevirt"] = None
    try:
        kubelets = {n["status"]["nodeInfo"]["kubeletVersion"] for n in snap.list(R.NODES)}
        found["rke2"] = sorted(kubelets)[0] if kubelets else None
    except Exception:  # noqa: BLE001
        found["rke2"] = None
    try:
        found["longhorn"] = _setting_value(snap.get(R.LONGHORN_SETTINGS, "current-longhorn-version", "longhorn-system"))
    except Exception:  # noqa: BLE001
        found["longhorn"] = None
    return found
