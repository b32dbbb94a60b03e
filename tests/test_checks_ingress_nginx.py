"""Unit tests of the ingress-nginx advisories' pure checks (no cluster)."""

from __future__ import annotations

import yaml

from harvester_conformance.checks import ingress_nginx as ing
from harvester_conformance.checks import ingress_nginx_cve_2025_1974 as cve
from harvester_conformance.checks import ingress_nginx_cves_2026_02 as feb
from harvester_conformance.checks import ingress_nginx_cves_2026_05 as may

V121, V131, V143, V150, V161, V170, V171, V172, V173, V180, V181, V182 = (
    (1, 2, 1),
    (1, 3, 1),
    (1, 4, 3),
    (1, 5, 0),
    (1, 6, 1),
    (1, 7, 0),
    (1, 7, 1),
    (1, 7, 2),
    (1, 7, 3),
    (1, 8, 0),
    (1, 8, 1),
    (1, 8, 2),
)

HARVESTER = """controller:
  config:
    proxy-body-size: "0"
    proxy-request-buffering: "off"
  admissionWebhooks:
    port: 8444
  publishService:
    pathOverride: kube-system/ingress-expose
  extraArgs:
    default-ssl-certificate: cattle-system/tls-rancher-internal"""

# The article's example, as an administrator pastes it.
MITIGATED = """controller:
  admissionWebhooks:
    port: 8444
    enabled: false
  extraArgs:
    enable-annotation-validation: true
    default-ssl-certificate: cattle-system/tls-rancher-internal
  config:
    proxy-body-size: "0"
    proxy-request-buffering: "off"
  publishService:
    pathOverride: kube-system/ingress-expose"""

WEBHOOK = {"metadata": {"name": ing.WEBHOOK}}


def hcc(values: str) -> dict:
    return {"metadata": {"name": ing.CHART, "namespace": ing.NAMESPACE}, "spec": {"valuesContent": values}}


FEB_EXPRESSION = "!('nginx.ingress.kubernetes.io/auth-method' in object.metadata.annotations)"


def policy(name: str, expression: str = FEB_EXPRESSION, failure: str = "Fail") -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"failurePolicy": failure, "validations": [{"expression": expression}]},
    }


def binding(name: str, actions: tuple[str, ...] = ("Deny",)) -> dict:
    return {"metadata": {"name": name}, "spec": {"policyName": name, "validationActions": list(actions)}}


def ingress(name: str, annotations: dict | None = None, path_type: str = "Prefix", ns: str = "default") -> dict:
    meta: dict = {"name": name, "namespace": ns}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": path_type}]}}]}}


def objects(findings: list) -> list[str]:
    return [f.object for f in findings]


# -- releases ---------------------------------------------------------------------------------------
def test_affected_releases_follow_the_articles() -> None:
    assert [ing.affected_by_cve_2025_1974(v) for v in (V121, V131, (1, 4, 2), V143, V150)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert [ing.affected_by_feb_2026(v) for v in (V131, V161, (1, 5, 2), V170, V171, V180)] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert [ing.affected_by_may_2026(v) for v in (V161, V171, V172, V173, V180, V181, V182)] == [
        True,
        True,
        False,
        False,
        True,
        False,
        False,
    ]


def test_values_parse_and_merge_structured_values() -> None:
    obj = hcc(HARVESTER)
    obj["spec"]["values"] = {"controller": {"admissionWebhooks": {"enabled": False}}}
    vals = ing.values(obj)
    assert ing.get(vals, "controller.admissionWebhooks.port") == 8444
    assert not ing.webhooks_enabled(vals)
    assert ing.get(vals, "controller.extraArgs.default-ssl-certificate") == "cattle-system/tls-rancher-internal"
    assert ing.webhooks_enabled(ing.values(hcc(HARVESTER)))
    assert ing.annotation_validation(ing.values(hcc(MITIGATED.replace("true", '"true"'))))


# -- ING-01 -----------------------------------------------------------------------------------------
def test_ing01_affected_release_with_the_article_mitigation_passes() -> None:
    assert cve.check_mitigation(V131, hcc(MITIGATED), None) == []


def test_ing01_affected_release_with_harvester_defaults_fails_naming_both() -> None:
    found = cve.check_mitigation(V131, hcc(HARVESTER), WEBHOOK)
    assert objects(found) == [ing.HCC_OBJECT, ing.WEBHOOK_OBJECT]
    assert "admissionWebhooks.enabled" in found[0].message
    assert "enable-annotation-validation" in found[0].message


def test_ing01_half_done_mitigation_fails() -> None:
    half = MITIGATED.replace("    enable-annotation-validation: true\n", "")
    found = cve.check_mitigation(V121, hcc(half), None)
    assert objects(found) == [ing.HCC_OBJECT] and "enable-annotation-validation" in found[0].message


def test_ing01_fixed_release_and_bad_yaml() -> None:
    assert cve.check_mitigation(V143, hcc(HARVESTER), WEBHOOK) == []
    found = cve.check_mitigation(V131, hcc("controller: [unclosed"), None)
    assert objects(found) == [ing.HCC_OBJECT] and "not YAML" in found[0].message


# -- ING-02 -----------------------------------------------------------------------------------------
def test_ing02_override_is_a_leftover_only_once_the_admission_dos_is_fixed() -> None:
    assert cve.check_leftover(V143, hcc(MITIGATED)) == []  # still guards CVE-2026-24514
    assert cve.check_leftover(V170, hcc(MITIGATED)) == []
    assert objects(cve.check_leftover(V171, hcc(MITIGATED))) == [ing.HCC_OBJECT]
    assert cve.check_leftover(V182, hcc(HARVESTER)) == []
    assert cve.check_leftover(V131, hcc(MITIGATED)) == []


# -- ING-06 -----------------------------------------------------------------------------------------
def test_ing06_harvester_values_retained() -> None:
    assert cve.check_retained_values(hcc(HARVESTER)) == []
    assert cve.check_retained_values(hcc(MITIGATED)) == []


def test_ing06_values_dropped_by_the_edit_are_named() -> None:
    vals = yaml.safe_load(MITIGATED)
    del vals["controller"]["config"]
    found = cve.check_retained_values(hcc(yaml.safe_dump(vals)))
    assert objects(found) == [ing.HCC_OBJECT]
    assert "proxy-body-size" in found[0].message and "proxy-request-buffering" in found[0].message
    assert objects(cve.check_retained_values(None)) == [ing.HCC_OBJECT]


# -- ING-03 -----------------------------------------------------------------------------------------
def test_ing03_upgrade_required_where_the_admission_server_runs() -> None:
    found = feb.check_upgrade_required(V150, hcc(HARVESTER), WEBHOOK)
    assert objects(found) == [ing.HCC_OBJECT, ing.WEBHOOK_OBJECT]
    assert "v1.7.1" in found[0].message
    assert feb.check_upgrade_required(V150, hcc(MITIGATED), None) == []
    assert feb.check_upgrade_required(V171, hcc(HARVESTER), WEBHOOK) == []
    assert objects(feb.check_upgrade_required(V170, None, None)) == [ing.HCC_OBJECT]  # chart defaults


def test_ing03_policy_and_binding() -> None:
    name = ing.FEB_POLICY
    assert feb.check_policy(V161, [policy(name)], [binding(name)]) == []
    assert objects(feb.check_policy(V161, [], [])) == [ing.policy_object(name), ing.binding_object(name)]
    assert objects(feb.check_policy(V161, [policy(name)], [binding(name, ("Warn",))])) == [ing.binding_object(name)]
    assert feb.check_policy(V171, [], []) == []


def test_ing03_vulnerable_ingresses_listed() -> None:
    items = [
        ingress("ok", {"a": "b"}),
        ingress("auth", {"nginx.ingress.kubernetes.io/auth-method": "GET"}),
        ingress("impl", None, "ImplementationSpecific", ns="apps"),
    ]
    assert objects(feb.check_ingresses(V131, items)) == ["Ingress default/auth", "Ingress apps/impl"]
    assert feb.check_ingresses(V171, items) == []


# -- ING-05 -----------------------------------------------------------------------------------------
def test_ing05_leftovers_per_advisory() -> None:
    policies = [policy(ing.FEB_POLICY), policy(ing.MAY_POLICY)]
    bindings = [binding(ing.FEB_POLICY), binding(ing.MAY_POLICY)]
    rancher = ingress("rancher-expose", None, ns="cattle-system")
    # v1.6.1: nothing fixed yet (of these advisories), nothing left behind
    assert feb.check_leftovers(V161, policies, bindings, [rancher]) == []
    # v1.7.1: February fixed, May not
    found = feb.check_leftovers(V171, policies, bindings, [rancher])
    # the webhook override is ING-02's finding, not a February leftover
    assert objects(found) == [ing.policy_object(ing.FEB_POLICY), ing.binding_object(ing.FEB_POLICY)]
    assert "Ingress cattle-system/rancher-expose" in found[0].message
    # v1.7.3 and v1.8.1: both fixed
    assert ing.policy_object(ing.MAY_POLICY) in objects(feb.check_leftovers(V173, policies, [], []))
    assert feb.check_leftovers(V181, [], [], [rancher]) == []
    # v1.8.0: May still affected, its policy is wanted
    assert objects(feb.check_leftovers(V180, [policy(ing.MAY_POLICY)], [], [])) == []


# -- ING-04 -----------------------------------------------------------------------------------------
def test_ing04_rewrite_target_with_query() -> None:
    items = [
        ingress("wiki", {may.REWRITE_TARGET: "/index.php?title=Main_Page"}),
        ingress("plain", {may.REWRITE_TARGET: "/$2"}),
        ingress("none"),
    ]
    found = may.check_rewrite_targets(V161, items)
    assert objects(found) == ["Ingress default/wiki"] and "?" in found[0].message
    assert objects(may.check_rewrite_targets(V180, items)) == ["Ingress default/wiki"]
    assert may.check_rewrite_targets(V172, items) == []
    assert may.check_rewrite_targets(V181, items) == []


def test_ing04_optional_policy() -> None:
    name = ing.MAY_POLICY
    assert may.check_policy(V131, [policy(name)], [binding(name)]) == []
    assert objects(may.check_policy(V131, [], [])) == [ing.policy_object(name), ing.binding_object(name)]
    assert may.check_policy(V173, [], []) == []


def test_ing05_refusal_read_from_the_policy_text() -> None:
    rancher = ingress("rancher-expose", None, ns="cattle-system")
    annotated = ingress("app", {"a": "b"})
    assert feb.refused_by_feb_policy(policy(ing.FEB_POLICY), [rancher, annotated]) == [
        "Ingress cattle-system/rancher-expose"
    ]
    guarded = "!has(object.metadata.annotations) || " + FEB_EXPRESSION
    assert feb.refused_by_feb_policy(policy(ing.FEB_POLICY, guarded), [rancher]) == []
    assert feb.refused_by_feb_policy(policy(ing.FEB_POLICY, failure="Ignore"), [rancher]) == []


def test_policies_are_not_expected_where_kubernetes_cannot_run_them() -> None:
    assert [ing.policy_api_served(v) for v in ("v1.27.13+rke2r1", "v1.29.9+rke2r1", "v1.30.7+rke2r1", "v1.35.7")] == [
        False,
        False,
        True,
        True,
    ]
    assert feb.check_policy(V131, [], [], served=False) == []
    assert may.check_policy(V131, [], [], served=False) == []
    # the Ingress findings remain: without a policy they are the only guard
    auth = ingress("auth", {"nginx.ingress.kubernetes.io/auth-method": "GET"})
    assert objects(feb.check_ingresses(V131, [auth])) == ["Ingress default/auth"]
