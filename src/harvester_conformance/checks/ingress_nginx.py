"""RKE2's ingress-nginx as Harvester deploys it, shared by the three ingress-nginx advisories
(2025-03-25 CVE-2025-1974, 2026-02-23 and 2026-05-14): the `kube-system/rke2-ingress-nginx`
HelmChartConfig's values, the chart's admission webhook, the advisories' ValidatingAdmissionPolicies,
and which Harvester releases each advisory affects.

Upstream:
- harvester/harvester-installer `pkg/config/templates/rancherd-10-harvester.yaml`: the
  HelmChartConfig with Harvester's values (proxy-body-size "0", proxy-request-buffering "off",
  admissionWebhooks.port 8444, publishService.pathOverride kube-system/ingress-expose,
  extraArgs.default-ssl-certificate cattle-system/tls-rancher-internal) and the Ingress
  `cattle-system/rancher-expose` (no annotations).
- k3s-io/helm-controller: a HelmChartConfig overlays the HelmChart of the same name; `spec.values`
  (newer controllers) takes precedence over `spec.valuesContent`.
- rke2-charts rke2-ingress-nginx: `controller.admissionWebhooks.enabled` defaults to true; the
  controller runs its validating webhook server (`--validating-webhook`) and the chart installs
  the `rke2-ingress-nginx-admission` ValidatingWebhookConfiguration only then.
- ValidatingAdmissionPolicy is served as admissionregistration.k8s.io/v1 from Kubernetes 1.30
  (the advisories' policies use that version): Harvester v1.4.1 (RKE2 v1.30.7) and later.
- The advisories' affected releases (the articles; decided by the Harvester release, since the
  fixed releases run hardened builds of tags the advisories call affected): CVE-2025-1974 below
  v1.4.3; February 2026 below v1.7.1; May 2026 below v1.7.2 and v1.8.0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from harvester_conformance import yamltext
from harvester_conformance.checks.findings import Finding

NAMESPACE = "kube-system"
CHART = "rke2-ingress-nginx"
WEBHOOK = "rke2-ingress-nginx-admission"
HCC_OBJECT = f"HelmChartConfig {NAMESPACE}/{CHART}"
WEBHOOK_OBJECT = f"ValidatingWebhookConfiguration {WEBHOOK}"

FEB_POLICY = "ingress-nginx-annotation-validation"
MAY_POLICY = "ingress-nginx-annotation-validation-20260514"

Version = tuple[int, ...]


def _v(text: str) -> Version:
    return tuple(int(x) for x in text.lstrip("v").split("."))


def affected_by_cve_2025_1974(release: Version) -> bool:
    """Fixed in v1.4.3 and v1.5.0 (the article)."""
    return release < _v("v1.4.3")


def affected_by_feb_2026(release: Version) -> bool:
    """Up to v1.5.2, up to v1.6.1, v1.7.0; fixed in v1.7.1 (no v1.5.3 or v1.6.2 exists)."""
    return release < _v("v1.7.1")


def affected_by_may_2026(release: Version) -> bool:
    """Up to v1.5.2, v1.6.1, v1.7.1 and v1.8.0; fixed in v1.7.2 and v1.8.1."""
    return release < _v("v1.7.2") or _v("v1.8.0") <= release < _v("v1.8.1")


def admission_dos_fixed(release: Version) -> bool:
    """CVE-2026-24514 (the admission webhook server's denial of service) is fixed from v1.7.1;
    before, a disabled admission webhook is what keeps that server from running."""
    return not affected_by_feb_2026(release)


def policy_api_served(rke2: str) -> bool:
    """Whether the release's Kubernetes serves admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy
    (GA in Kubernetes 1.30: Harvester v1.4.1 and later). Before, the advisories' policies cannot be
    applied, so their absence is no deviation."""
    parts = rke2.lstrip("v").split("+")[0].split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= (1, 30)
    except (IndexError, ValueError):
        return True


def deployed(hcc: dict | None, helm_chart: dict | None) -> bool:
    """rke2-ingress-nginx is deployed (Harvester writes its HelmChartConfig; RKE2 its HelmChart).
    Fresh v1.9 installs use rke2-traefik and have neither."""
    return hcc is not None or helm_chart is not None


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def values(hcc: dict | None) -> dict:
    """The values the HelmChartConfig overlays ({} when absent); ValueError when they do not parse
    (helm-controller then fails the chart's install job)."""
    if hcc is None:
        return {}
    spec = hcc.get("spec") or {}
    try:
        parsed = yamltext.load(spec.get("valuesContent") or "") or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"valuesContent is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(parsed, dict):
        raise ValueError("valuesContent is not a YAML mapping")
    structured = spec.get("values")
    return _merge(parsed, structured) if isinstance(structured, dict) else parsed


def get(vals: dict, path: str) -> Any:
    """The value at a dotted path of `controller.…` (keys with dots are not split past extraArgs/config)."""
    node: Any = vals
    head, _, rest = path.partition(".")
    parts = [head]
    while rest:
        key, _, rest = rest.partition(".")
        parts.append(key)
        if key in ("extraArgs", "config") and rest:
            parts.append(rest)
            break
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def webhooks_enabled(vals: dict) -> bool:
    """controller.admissionWebhooks.enabled, the chart's default being true."""
    return not _false(get(vals, "controller.admissionWebhooks.enabled"))


def annotation_validation(vals: dict) -> bool:
    return _true(get(vals, "controller.extraArgs.enable-annotation-validation"))


def parsed_or_finding(hcc: dict | None) -> tuple[dict | None, Finding | None]:
    """The values, or a finding on the HelmChartConfig when they do not parse."""
    try:
        return values(hcc), None
    except ValueError as exc:
        return None, Finding(HCC_OBJECT, str(exc))


# -- ValidatingAdmissionPolicies ---------------------------------------------------------------
def policy_object(name: str) -> str:
    return f"ValidatingAdmissionPolicy {name}"


def binding_object(name: str) -> str:
    return f"ValidatingAdmissionPolicyBinding {name}"


def _by_name(items: Iterable[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in items}


def policy_bindings(name: str, bindings: Iterable[dict]) -> list[dict]:
    return [b for b in bindings if (b.get("spec") or {}).get("policyName") == name]


def policy_in_force(name: str, policies: Iterable[dict], bindings: Iterable[dict]) -> list[Finding]:
    """The advisory's policy exists and a binding denies with it (the article's pair); findings say
    what is missing, naming the policy and its binding."""
    policy = _by_name(policies).get(name)
    bound = [
        b for b in policy_bindings(name, bindings) if "Deny" in ((b.get("spec") or {}).get("validationActions") or [])
    ]
    out: list[Finding] = []
    if policy is None:
        out.append(Finding(policy_object(name), "absent (the advisory's policy was not applied)"))
    if not bound:
        out.append(Finding(binding_object(name), f"no binding of {name} with validationActions Deny"))
    return out


def policy_leftovers(name: str, policies: Iterable[dict], bindings: Iterable[dict], why: str) -> list[Finding]:
    """The advisory's policy and bindings still present on a release that no longer needs them."""
    out = []
    if name in _by_name(policies):
        out.append(Finding(policy_object(name), f"still present: {why}"))
    out += [
        Finding(binding_object(b["metadata"]["name"]), f"still binds {name}: {why}")
        for b in policy_bindings(name, bindings)
    ]
    return out


def annotations(ingress: dict) -> dict[str, str]:
    return (ingress.get("metadata") or {}).get("annotations") or {}


def ingress_object(ingress: dict) -> str:
    meta = ingress["metadata"]
    return f"Ingress {meta.get('namespace', '')}/{meta['name']}"
