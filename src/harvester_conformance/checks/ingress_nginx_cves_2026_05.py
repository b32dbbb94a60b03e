"""The May 2026 ingress-nginx CVEs (article 2026-05-14, "NGINX Rift": CVE-2026-42945,
CVE-2026-42946, CVE-2026-40701, CVE-2026-42934), fixed in v1.7.2 and v1.8.1 (ING-04).

On an affected release no Ingress has a `nginx.ingress.kubernetes.io/rewrite-target` containing
`?` (a failure: the article's policy cannot catch Ingresses that already exist), and the optional
policy `ingress-nginx-annotation-validation-20260514` with its Deny binding is reported (advisory)
where Kubernetes serves the v1 ValidatingAdmissionPolicy API (1.30+, Harvester v1.4.1+).
"""

from __future__ import annotations

from collections.abc import Iterable

from harvester_conformance.checks import ingress_nginx as ing
from harvester_conformance.checks.findings import Finding

REWRITE_TARGET = "nginx.ingress.kubernetes.io/rewrite-target"


def check_rewrite_targets(release: ing.Version, ingresses: Iterable[dict]) -> list[Finding]:
    if not ing.affected_by_may_2026(release):
        return []
    out = []
    for item in ingresses:
        target = ing.annotations(item).get(REWRITE_TARGET)
        if target is not None and "?" in target:
            out.append(Finding(ing.ingress_object(item), f"{REWRITE_TARGET} {target!r} contains '?'"))
    return out


def check_policy(
    release: ing.Version, policies: Iterable[dict], bindings: Iterable[dict], served: bool = True
) -> list[Finding]:
    """The optional policy, where the release's Kubernetes can run it (ing.policy_api_served)."""
    if not ing.affected_by_may_2026(release) or not served:
        return []
    return ing.policy_in_force(ing.MAY_POLICY, policies, bindings)
