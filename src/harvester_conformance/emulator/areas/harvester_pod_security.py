"""Harvester's `cluster-pod-security-standard` setting controller (v1.8.0+, facts-releases R2.4):
while enabled, every namespace outside the whitelist gets Pod Security Admission's enforce label
(baseline, or restricted / privileged for the namespaces listed so), `enforce-version: latest` and
Harvester's marker; disabling removes the labels from the namespaces carrying the marker. HV
`pkg/controller/master/setting/cluster_pod_security_standard.go`, `pkg/util/pss_setting.go`,
`pkg/util/constants.go` @v1.8.2."""

from __future__ import annotations

import json
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.areas.kubevirt_model import version_tuple

SETTING = "cluster-pod-security-standard"
SINCE = (1, 8, 0)
ENFORCE, ENFORCE_VERSION = "pod-security.kubernetes.io/enforce", "pod-security.kubernetes.io/enforce-version"
MANAGED = "pss.harvesterhci.io/managed"
# DefaultHarvesterNamespaceWhiteList (constants.go @v1.8.2).
WHITELIST = (
    "calico-apiserver", "calico-system", "cattle-alerting", "cattle-csp-adapter-system", "cattle-elemental-system",
    "cattle-epinio-system", "cattle-externalip-system", "cattle-fleet-local-system", "cattle-fleet-system",
    "cattle-gatekeeper-system", "cattle-global-data", "cattle-global-nt", "cattle-impersonation-system",
    "cattle-istio", "cattle-istio-system", "cattle-logging", "cattle-logging-system", "cattle-monitoring-system",
    "cattle-neuvector-system", "cattle-prometheus", "cattle-provisioning-capi-system", "cattle-resources-system",
    "cattle-sriov-system", "cattle-system", "cattle-ui-plugin-system", "cattle-windows-gmsa-system", "cert-manager",
    "cis-operator-system", "fleet-default", "ingress-nginx", "istio-system", "kube-node-lease", "kube-public",
    "kube-system", "longhorn-system", "rancher-alerting-drivers", "security-scan", "tigera-operator",
    "harvester-system", "harvester-public", "rancher-vcluster", "cattle-dashboards", "fleet-local", "local",
    "forklift",
)  # fmt: skip


def policy(setting: dict | None) -> dict | None:
    """The decoded setting (value, else default); None when it does not decode."""
    text = (setting or {}).get("value") or (setting or {}).get("default") or ""
    try:
        doc = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _names(text: object) -> set[str]:
    return {n for n in str(text or "").split(",")}


def labelled(labels: dict[str, str], name: str, doc: dict) -> dict[str, str]:
    """A namespace's labels after the controller's pass (`syncPodSecuritySetting`): a whitelisted
    namespace already marked loses the enforce labels (the marker stays, as upstream leaves it);
    otherwise restricted, privileged or baseline is enforced, in that order of the lists."""
    out = dict(labels)
    if not doc.get("enabled"):
        if out.get(MANAGED) == "true":
            for key in (ENFORCE, ENFORCE_VERSION, MANAGED):
                out.pop(key, None)
        return out
    if name in _names(doc.get("whitelistedNamespacesList")) | set(WHITELIST):
        if MANAGED in out:
            out.pop(ENFORCE, None)
            out.pop(ENFORCE_VERSION, None)
        return out
    if name in _names(doc.get("restrictedNamespacesList")):
        level = "restricted"
    elif name in _names(doc.get("privilegedNamespacesList")):
        level = "privileged"
    else:
        level = "baseline"
    out.update({ENFORCE: level, MANAGED: "true", ENFORCE_VERSION: "latest"})
    return out


def factory(cl: Cluster, state_dir: object) -> Any:
    def reconcile() -> None:
        version = version_tuple((cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value"))
        if version < SINCE:
            return
        doc = policy(cl.get(R.HARVESTER_SETTINGS, SETTING))
        if doc is None:
            return
        for ns in cl.list(R.NAMESPACES):
            meta = ns["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            old = meta.get("labels") or {}
            new = labelled(old, meta["name"], doc)
            if new != old:
                patch = {k: v for k, v in new.items() if old.get(k) != v} | {k: None for k in old if k not in new}
                try:
                    cl.patch(R.NAMESPACES, meta["name"], {"metadata": {"labels": patch}})
                except ApiError as exc:
                    # 403/422: refused by an admission policy (the article's label-rejection policy,
                    # PSS-05); Harvester's controller logs the error and retries, as here.
                    if exc.status not in (403, 404, 409, 422):
                        raise

    return reconcile
