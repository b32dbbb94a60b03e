"""CVE-2025-1974 (article 2025-03-25): on affected releases the `rke2-ingress-nginx`
HelmChartConfig disables the admission webhooks and enables annotation validation, and RKE2 has
removed the `rke2-ingress-nginx-admission` webhook configuration (ING-01); on fixed releases the
override is not left behind (ING-02); and the HelmChartConfig keeps Harvester's own values (ING-06).

The override also keeps the controller's validating webhook server from running, which is the one
thing that protects a release affected by CVE-2026-24514 (the February 2026 advisory, which has
no other mitigation, checks/ingress_nginx_cves_2026_02.py): so it counts as left behind only from
v1.7.1, where that CVE is fixed too.
"""

from __future__ import annotations

from harvester_conformance.checks import ingress_nginx as ing
from harvester_conformance.checks.findings import Finding

# Harvester's values the article says to retain (harvester-installer rancherd-10-harvester.yaml).
RETAINED = {
    "controller.publishService.pathOverride": "kube-system/ingress-expose",
    "controller.extraArgs.default-ssl-certificate": "cattle-system/tls-rancher-internal",
    "controller.config.proxy-body-size": "0",
    "controller.config.proxy-request-buffering": "off",
}


def check_mitigation(release: ing.Version, hcc: dict | None, webhook: dict | None) -> list[Finding]:
    """ING-01: on an affected release, the article's two values are set and the webhook is gone."""
    if not ing.affected_by_cve_2025_1974(release):
        return []
    if hcc is None:
        return [Finding(ing.HCC_OBJECT, "absent: the admission webhooks run with the chart's defaults (enabled)")]
    vals, bad = ing.parsed_or_finding(hcc)
    if bad is not None:
        return [bad]
    assert vals is not None
    missing = []
    if ing.webhooks_enabled(vals):
        missing.append("controller.admissionWebhooks.enabled is not false")
    if not ing.annotation_validation(vals):
        missing.append("controller.extraArgs.enable-annotation-validation is not true")
    out = [Finding(ing.HCC_OBJECT, "; ".join(missing))] if missing else []
    if webhook is not None:
        out.append(Finding(ing.WEBHOOK_OBJECT, "still registered: the vulnerable admission endpoint is reachable"))
    return out


def check_leftover(release: ing.Version, hcc: dict | None) -> list[Finding]:
    """ING-02: once both CVE-2025-1974 and the admission server's DoS are fixed (v1.7.1+), the
    webhooks are back (the article's last step: remove the patch)."""
    if ing.affected_by_cve_2025_1974(release) or not ing.admission_dos_fixed(release) or hcc is None:
        return []
    vals, bad = ing.parsed_or_finding(hcc)
    if bad is not None:
        return [bad]
    assert vals is not None
    if ing.webhooks_enabled(vals):
        return []
    return [
        Finding(
            ing.HCC_OBJECT,
            "controller.admissionWebhooks.enabled is still false: the CVE-2025-1974 mitigation outlived the fix, "
            "so Ingress objects are no longer validated",
        )
    ]


def check_retained_values(hcc: dict | None) -> list[Finding]:
    """ING-06: Harvester's four values are in the HelmChartConfig."""
    if hcc is None:
        return [Finding(ing.HCC_OBJECT, "absent: Harvester's ingress values are gone")]
    vals, bad = ing.parsed_or_finding(hcc)
    if bad is not None:
        return [bad]
    assert vals is not None
    wrong = [
        f"{path} is {ing.get(vals, path)!r}, want {want!r}"
        for path, want in RETAINED.items()
        if str(ing.get(vals, path)) != want
    ]
    return [Finding(ing.HCC_OBJECT, "; ".join(wrong))] if wrong else []
