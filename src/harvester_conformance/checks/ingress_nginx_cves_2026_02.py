"""The February 2026 ingress-nginx CVEs (article 2026-02-23): CVE-2025-15566, CVE-2026-1580,
CVE-2026-24512, CVE-2026-24514 (CVE-2026-24513 does not apply: Harvester has no custom error
backend). Fixed in v1.7.1.

ING-03, on affected releases:
- CVE-2026-24514 (kubernetes/kubernetes#136680) is a denial of service of the controller's
  validating admission server; the article has no mitigation for it, so an upgrade is required.
  The server runs only while `controller.admissionWebhooks.enabled` is true (the chart passes
  `--validating-webhook` only then): a cluster still carrying the CVE-2025-1974 override does not
  expose it. The upgrade finding (a failure) is therefore raised where the server runs.
- The article's policy `ingress-nginx-annotation-validation` and its Deny binding are present
  where Kubernetes serves the v1 API (1.30+, Harvester v1.4.1+) (advisory), and no Ingress uses
  `auth-proxy-set-headers`, `auth-method` or an
  `ImplementationSpecific` path (advisory: the policy only guards new writes).

ING-05, on releases that fix an advisory: its policies and the webhook override left behind. The
February policy reads `object.metadata.annotations` unguarded, so with `failurePolicy: Fail` it
also refuses every Ingress without annotations (Harvester's `cattle-system/rancher-expose`
included): those Ingresses are named with the leftover.
"""

from __future__ import annotations

from collections.abc import Iterable

from harvester_conformance.checks import ingress_nginx as ing
from harvester_conformance.checks.findings import Finding

VULNERABLE_ANNOTATIONS = (
    "nginx.ingress.kubernetes.io/auth-proxy-set-headers",
    "nginx.ingress.kubernetes.io/auth-method",
)
IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"


def check_upgrade_required(release: ing.Version, hcc: dict | None, webhook: dict | None) -> list[Finding]:
    """ING-03 (fails): on an affected release, the admission server CVE-2026-24514 attacks runs."""
    if not ing.affected_by_feb_2026(release):
        return []
    vals, bad = ing.parsed_or_finding(hcc)
    if bad is not None:
        return [bad]
    assert vals is not None
    why = "upgrade to v1.7.1 or later: CVE-2026-24514 has no mitigation while the admission webhook server runs"
    out = []
    if ing.webhooks_enabled(vals):
        out.append(Finding(ing.HCC_OBJECT, f"controller.admissionWebhooks enabled; {why}"))
    if webhook is not None:
        out.append(Finding(ing.WEBHOOK_OBJECT, f"registered; {why}"))
    return out


def check_policy(
    release: ing.Version, policies: Iterable[dict], bindings: Iterable[dict], served: bool = True
) -> list[Finding]:
    """ING-03 (advisory): the article's policy and its Deny binding on an affected release whose
    Kubernetes can run it (`served`, ing.policy_api_served)."""
    if not ing.affected_by_feb_2026(release) or not served:
        return []
    return ing.policy_in_force(ing.FEB_POLICY, policies, bindings)


def vulnerable_ingress(ingress: dict) -> str | None:
    """Why the Ingress is what the February policy refuses, or None."""
    found = [a for a in VULNERABLE_ANNOTATIONS if a in ing.annotations(ingress)]
    rules = (ingress.get("spec") or {}).get("rules") or []
    paths = [p for r in rules for p in ((r.get("http") or {}).get("paths") or [])]
    if any(p.get("pathType") == IMPLEMENTATION_SPECIFIC for p in paths):
        found.append(f"a path of type {IMPLEMENTATION_SPECIFIC}")
    return ", ".join(found) or None


def check_ingresses(release: ing.Version, ingresses: Iterable[dict]) -> list[Finding]:
    """ING-03 (advisory): Ingresses using what the CVEs exploit, on an affected release."""
    if not ing.affected_by_feb_2026(release):
        return []
    out = []
    for item in ingresses:
        why = vulnerable_ingress(item)
        if why:
            out.append(Finding(ing.ingress_object(item), f"uses {why}"))
    return out


def fails_closed_on_missing_annotations(policy: dict) -> bool:
    """Whether the policy, as written, refuses an Ingress without annotations: an expression that reads
    `object.metadata.annotations` with no `has(...)` guard errors on such an object, and
    `failurePolicy: Fail` (the default) turns the error into a refusal. Read from the policy's text,
    without evaluating CEL."""
    spec = policy.get("spec") or {}
    if spec.get("failurePolicy", "Fail") != "Fail":
        return False
    expressions = [v.get("expression") or "" for v in spec.get("validations") or []]
    return any("object.metadata.annotations" in e and "has(object.metadata.annotations)" not in e for e in expressions)


def refused_by_feb_policy(policy: dict, ingresses: Iterable[dict]) -> list[str]:
    """Ingresses without annotations, which the February policy refuses on any update."""
    if not fails_closed_on_missing_annotations(policy):
        return []
    return [ing.ingress_object(i) for i in ingresses if not (i.get("metadata") or {}).get("annotations")]


def check_leftovers(
    release: ing.Version,
    policies: Iterable[dict],
    bindings: Iterable[dict],
    ingresses: Iterable[dict],
) -> list[Finding]:
    """ING-05 (advisory): each advisory's policy and binding left behind on a release that fixes
    it. The CVE-2025-1974 webhook override is ING-02's: the February article never sets it."""
    policies, bindings, ingresses = list(policies), list(bindings), list(ingresses)
    out: list[Finding] = []
    if not ing.affected_by_feb_2026(release):
        found = [p for p in policies if p["metadata"]["name"] == ing.FEB_POLICY]
        refused = refused_by_feb_policy(found[0], ingresses) if found else []
        why = "the February 2026 CVEs are fixed from v1.7.1 (delete it and its binding)"
        if refused:
            why += f"; it refuses updates of Ingresses without annotations: {', '.join(refused)}"
        out += ing.policy_leftovers(ing.FEB_POLICY, policies, bindings, why)
    if not ing.affected_by_may_2026(release):
        why = "the May 2026 CVEs are fixed in this release (v1.7.2, v1.8.1 and later; delete it and its binding)"
        out += ing.policy_leftovers(ing.MAY_POLICY, policies, bindings, why)
    return out
