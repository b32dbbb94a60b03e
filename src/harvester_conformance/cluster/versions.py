"""Version detection: Harvester, KubeVirt, Longhorn, RKE2 and Kubernetes, read once per run from
the snapshot's core reads (`reads.CORE`). A version that cannot be found is None: version gates
then do not apply, and checks that depend on it say which rule they used instead."""

from __future__ import annotations

from harvester_conformance.checks import kubevirt_certificates as kc
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.snapshot import Snapshot
from harvester_conformance.verdict import Broken


def _setting_value(item: dict | None) -> str | None:
    if not item:
        return None
    return item.get("value") or item.get("default") or None


def _kubevirt(snap: Snapshot) -> str | None:
    return kc.kubevirt_version(
        snap.get(R.KUBEVIRTS, "kubevirt", kc.NAMESPACE), snap.get(R.DEPLOYMENTS, "virt-operator", kc.NAMESPACE)
    )


def detect(snap: Snapshot, kubernetes: str | None) -> dict[str, str | None]:
    """`kubernetes`: the apiserver's gitVersion, read when the run checked that it is reachable."""
    found: dict[str, str | None] = {"kubernetes": kubernetes}
    probes = {
        "harvester": lambda: _setting_value(snap.get(R.HARVESTER_SETTINGS, "server-version")),
        "kubevirt": lambda: _kubevirt(snap),
        "rke2": lambda: min((n["status"]["nodeInfo"]["kubeletVersion"] for n in snap.list(R.NODES)), default=None),
        "longhorn": lambda: _setting_value(
            snap.get(R.LONGHORN_SETTINGS, "current-longhorn-version", "longhorn-system")
        ),
    }
    for component, probe in probes.items():
        try:
            found[component] = probe()
        except (Broken, KeyError, TypeError):  # unreadable: unknown, and gates do not apply
            found[component] = None
    return found
