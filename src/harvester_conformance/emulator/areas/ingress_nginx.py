"""Area module (see areas/__init__.py): RKE2's ingress-nginx as Harvester configures it, and the
state the three ingress-nginx advisories (2025-03-25, 2026-02-23, 2026-05-14) leave a cluster of
each release in when its administrator followed them (checks/ingress_nginx*.py).

Seed, per release:
- HelmChart `kube-system/rke2-ingress-nginx` (RKE2's packaged chart, k3s-io/helm-controller CRD)
  and Harvester's HelmChartConfig of the same name with the values harvester-installer writes
  (`pkg/config/templates/rancherd-10-harvester.yaml`), plus Harvester's Ingress
  `cattle-system/rancher-expose` (no annotations, path `/` Prefix to Service rancher:80).
- Releases affected by the February 2026 CVEs (before v1.7.1, which covers every release affected
  by CVE-2025-1974): the CVE-2025-1974 override kept (admissionWebhooks.enabled false,
  enable-annotation-validation true), which also keeps the controller's admission server, the
  target of CVE-2026-24514, from running; the chart then has no `rke2-ingress-nginx-admission`
  ValidatingWebhookConfiguration. From v1.7.1 the override is gone (the article's last step) and
  the chart's webhook configuration is back (rke2-charts rke2-ingress-nginx
  `templates/admission-webhooks/validating-webhook.yaml`: webhook
  `validate.nginx.ingress.kubernetes.io`, Ingress CREATE/UPDATE, failurePolicy Fail, Service
  `kube-system/rke2-ingress-nginx-controller-admission` path `/networking/v1/ingresses`).
- The advisories' ValidatingAdmissionPolicies and Deny bindings as the articles print them, where
  the release is affected and its Kubernetes serves admissionregistration.k8s.io/v1 policies (1.30+,
  Harvester v1.4.1+; on older releases `kubectl apply` of the articles' text fails):
  `ingress-nginx-annotation-validation` before v1.7.1,
  `ingress-nginx-annotation-validation-20260514` before v1.7.2 and on v1.8.0. The real apiserver
  enforces them, so the Ingress is seeded first (the February policy refuses an Ingress without
  annotations).

Faults on releases affected by every advisory, such as the matrix's v1.3.1:
- ING-01: the CVE-2025-1974 edit done halfway: the webhooks disabled, annotation validation not set.
- ING-03: an application Ingress using `auth-method` (with `auth-url`), created before any February
  policy (on v1.2/v1.3 none can exist).
- ING-04: an application Ingress with a rewrite-target containing '?', created before any May policy
  (which refuses new ones but cannot catch it afterwards).
- ING-06: the CVE-2025-1974 edit pasting only the mitigation and the certificate, dropping
  Harvester's `config` and `publishService` values.
Faults on releases that fix the February 2026 advisory (v1.7.1 and later: the release profiles
v1.7.3 and v1.8.2, not the matrix's v1.3.1; each advisory's article says its mitigation can be
removed once on a fixed release, so a cluster gets there by upgrading without that last step):
- ING-02: the CVE-2025-1974 override (the article's example values: admissionWebhooks.enabled
  false, enable-annotation-validation true) still in the HelmChartConfig; helm-controller upgraded
  the chart with it, so the `rke2-ingress-nginx-admission` webhook configuration is gone too (the
  article's step "RKE2 deleted the webhook configuration"), and the revert reinstalls it.
- ING-05: the February 2026 article's policy `ingress-nginx-annotation-validation` and its Deny
  binding, applied as the article prints them on an affected release (v1.4.1+, where the v1 API is
  served) and never deleted after the upgrade to v1.7.1+. The apiserver enforces it (it then
  refuses any update of an Ingress without annotations, Harvester's `cattle-system/rancher-expose`
  included): inject and revert wait until admission acts on the change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.faults import REMOVED_WEBHOOK, Fault, edit_keeping_original
from harvester_conformance.emulator.profiles import ProfileSpec
from harvester_conformance.emulator.versions import version_tuple
from harvester_conformance.waits import wait_for

MANAGER = "harvester-installer"
NS = "kube-system"
CHART = "rke2-ingress-nginx"
WEBHOOK = "rke2-ingress-nginx-admission"
FEB_POLICY = "ingress-nginx-annotation-validation"
MAY_POLICY = "ingress-nginx-annotation-validation-20260514"
RANCHER_NS, RANCHER_INGRESS = "cattle-system", "rancher-expose"
APP_NS, APP_INGRESS, AUTH_INGRESS = "default", "wiki", "grafana"
REWRITE_TARGET = "nginx.ingress.kubernetes.io/rewrite-target"
APP_REWRITE = "/index.php?title=Main_Page"


def _v(text: str) -> tuple[int, ...]:
    return version_tuple(text)


def feb_affected(harvester: str) -> bool:
    return _v(harvester) < _v("v1.7.1")


def may_affected(harvester: str) -> bool:
    version = _v(harvester)
    return version < _v("v1.7.2") or _v("v1.8.0") <= version < _v("v1.8.1")


def policy_api_served(rke2: str) -> bool:
    """ValidatingAdmissionPolicy admissionregistration.k8s.io/v1 is GA from Kubernetes 1.30 (RKE2
    v1.30, Harvester v1.4.1); the emulated apiserver serves it on every profile, the real one does not."""
    return _v(rke2)[:2] >= (1, 30)


# -- objects ---------------------------------------------------------------------------------------
def harvester_values(mitigated: bool, annotation_validation: bool = True, retained: bool = True) -> dict:
    """Harvester's values (rancherd-10-harvester.yaml), with the CVE-2025-1974 override when mitigated."""
    controller: dict = {"admissionWebhooks": {"port": 8444}, "extraArgs": {}}
    if mitigated:
        controller["admissionWebhooks"]["enabled"] = False
        if annotation_validation:
            controller["extraArgs"]["enable-annotation-validation"] = True
    controller["extraArgs"]["default-ssl-certificate"] = "cattle-system/tls-rancher-internal"
    if retained:
        controller["config"] = {"proxy-body-size": "0", "proxy-request-buffering": "off"}
        controller["publishService"] = {"pathOverride": "kube-system/ingress-expose"}
    return {"controller": controller}


def helm_chart_config_spec(values: dict) -> dict:
    return {"valuesContent": yaml.safe_dump(values, sort_keys=False).rstrip()}


def helm_chart() -> dict:
    """RKE2's HelmChart for its packaged chart (the chart's content itself left out)."""
    return {
        "metadata": {
            "name": CHART,
            "namespace": NS,
            "annotations": {"helm.cattle.io/chart-url": f"https://rke2-charts.rancher.io/assets/{CHART}"},
        },
        "spec": {
            "bootstrap": False,
            "set": {
                "global.clusterCIDR": "10.52.0.0/16",
                "global.serviceCIDR": "10.53.0.0/16",
                "global.systemDefaultRegistry": "",
            },
        },
    }


def rancher_ingress() -> dict:
    backend = {"service": {"name": "rancher", "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": RANCHER_INGRESS, "namespace": RANCHER_NS},
        "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]},
    }


def admission_webhook() -> dict:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {
            "name": WEBHOOK,
            "labels": {
                "app.kubernetes.io/component": "admission-webhook",
                "app.kubernetes.io/instance": CHART,
                "app.kubernetes.io/name": CHART,
            },
        },
        "webhooks": [
            {
                "name": "validate.nginx.ingress.kubernetes.io",
                "matchPolicy": "Equivalent",
                "rules": [
                    {
                        "apiGroups": ["networking.k8s.io"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["ingresses"],
                    }
                ],
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "clientConfig": {
                    "service": {
                        "namespace": NS,
                        "name": f"{CHART}-controller-admission",
                        "path": "/networking/v1/ingresses",
                        "port": 443,
                    }
                },
            }
        ],
    }


_MATCH = {
    "resourceRules": [
        {
            "apiGroups": ["networking.k8s.io"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["ingresses"],
        }
    ]
}
_FEB_EXPRESSION = (
    "!('nginx.ingress.kubernetes.io/auth-proxy-set-headers' in object.metadata.annotations) &&\n"
    "!('nginx.ingress.kubernetes.io/auth-method' in object.metadata.annotations) &&\n"
    "(object.spec.rules.all(rule, rule.http.paths.all(path, path.pathType != 'ImplementationSpecific')))\n"
)
_MAY_EXPRESSION = (
    "!has(object.metadata.annotations) ||\n"
    "!object.metadata.annotations.exists(k, k == 'nginx.ingress.kubernetes.io/rewrite-target') ||\n"
    "!object.metadata.annotations['nginx.ingress.kubernetes.io/rewrite-target'].contains('?')\n"
)


def policy(name: str, expression: str, message: str) -> dict:
    """The article's policy, as `kubectl apply` of its text creates it."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": _MATCH,
            "validations": [{"expression": expression, "message": message}],
        },
    }


def binding(name: str) -> dict:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }


def feb_policy() -> dict:
    return policy(
        FEB_POLICY,
        _FEB_EXPRESSION,
        "Ingress resources with the vulnerable annotations are not allowed. Please remove the "
        "'nginx.ingress.kubernetes.io/auth-proxy-set-headers' and 'nginx.ingress.kubernetes.io/auth-method' "
        "annotations, and avoid using the 'ImplementationSpecific' path type.",
    )


def may_policy() -> dict:
    return policy(
        MAY_POLICY,
        _MAY_EXPRESSION,
        "Ingress resources with 'nginx.ingress.kubernetes.io/rewrite-target' annotation containing '?' in the "
        "annotation value are not allowed, due to the following CVEs: CVE-2026-42945, CVE-2026-42946, "
        "CVE-2026-40701, CVE-2026-42934",
    )


# -- seed ------------------------------------------------------------------------------------------
def seed(cl: Cluster, spec: ProfileSpec, state_dir: Path, progress: Callable[[str], None]) -> None:
    mitigated = feb_affected(spec.harvester)
    cl.apply(R.HELM_CHARTS, helm_chart(), manager="rke2")
    hcc = {"metadata": {"name": CHART, "namespace": NS}, "spec": helm_chart_config_spec(harvester_values(mitigated))}
    cl.apply(R.HELM_CHART_CONFIGS, hcc, manager=MANAGER)
    if cl.get(R.INGRESSES, RANCHER_INGRESS, RANCHER_NS) is None:
        cl.create(R.INGRESSES, rancher_ingress(), RANCHER_NS)
    if not mitigated:  # the chart's webhook, which helm-controller installs with the defaults
        cl.apply(R.VALIDATING_WEBHOOKS, admission_webhook(), manager="helm")
    served = policy_api_served(spec.rke2)  # before, `kubectl apply` of the articles' policies fails
    if served and mitigated:
        cl.apply(R.VALIDATING_ADMISSION_POLICIES, feb_policy(), manager="kubectl-client-side-apply")
        cl.apply(R.VALIDATING_ADMISSION_POLICY_BINDINGS, binding(FEB_POLICY), manager="kubectl-client-side-apply")
    if served and may_affected(spec.harvester):
        cl.apply(R.VALIDATING_ADMISSION_POLICIES, may_policy(), manager="kubectl-client-side-apply")
        cl.apply(R.VALIDATING_ADMISSION_POLICY_BINDINGS, binding(MAY_POLICY), manager="kubectl-client-side-apply")
    state = "webhook override kept" if mitigated else "admission webhook on"
    progress(f"rke2-ingress-nginx HelmChartConfig seeded ({state})")


def ready(cl: Cluster, spec: ProfileSpec) -> bool:
    return cl.get(R.HELM_CHART_CONFIGS, CHART, NS) is not None


CONTROLLERS: list = []
WEBHOOKS: list = []
API_GROUPS: list = []


# -- faults ----------------------------------------------------------------------------------------
_ING01 = edit_keeping_original(
    R.HELM_CHART_CONFIGS,
    CHART,
    NS,
    "spec",
    helm_chart_config_spec(harvester_values(True, annotation_validation=False)),
)
_ING06 = edit_keeping_original(
    R.HELM_CHART_CONFIGS, CHART, NS, "spec", helm_chart_config_spec(harvester_values(True, retained=False))
)


def auth_ingress() -> dict:
    """A dashboard behind an external authentication service, asking it with GET (auth-method)."""
    backend = {"service": {"name": AUTH_INGRESS, "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": AUTH_INGRESS,
            "namespace": APP_NS,
            "annotations": {
                "nginx.ingress.kubernetes.io/auth-url": "http://oauth2-proxy.default.svc.cluster.local/oauth2/auth",
                "nginx.ingress.kubernetes.io/auth-method": "GET",
            },
        },
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "grafana.example.internal",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    }


def _created_before_policy(body: dict, policy_name: str) -> Callable[[Cluster], None]:
    """An Ingress created before the advisory's policy was bound (the policy guards only new writes):
    where the binding exists it is lifted for the creation and put back."""

    def inject(cl: Cluster) -> None:
        meta = body["metadata"]
        had_binding = cl.get(R.VALIDATING_ADMISSION_POLICY_BINDINGS, policy_name) is not None
        cl.delete(R.VALIDATING_ADMISSION_POLICY_BINDINGS, policy_name)

        def created() -> bool:
            if cl.get(R.INGRESSES, meta["name"], meta["namespace"]) is not None:
                return True
            try:
                cl.create(R.INGRESSES, body, meta["namespace"])
            except ApiError as exc:
                if exc.status in (400, 403, 422):  # the binding's removal not yet seen by admission
                    return False
                raise
            return True

        try:
            wait_for("cluster-seeded", created)
        finally:
            if had_binding:
                cl.apply(
                    R.VALIDATING_ADMISSION_POLICY_BINDINGS, binding(policy_name), manager="kubectl-client-side-apply"
                )

    return inject


def _deleted(body: dict) -> Callable[[Cluster], None]:
    def revert(cl: Cluster) -> None:
        meta = body["metadata"]
        cl.delete(R.INGRESSES, meta["name"], meta["namespace"])
        wait_for("object-deleted", lambda: cl.get(R.INGRESSES, meta["name"], meta["namespace"]) is None)

    return revert


def app_ingress() -> dict:
    """A wiki behind a PHP front controller, its page named in the rewrite target's query string."""
    backend = {"service": {"name": APP_INGRESS, "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": APP_INGRESS,
            "namespace": APP_NS,
            "annotations": {REWRITE_TARGET: APP_REWRITE},
        },
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "host": "wiki.example.internal",
                    "http": {"paths": [{"path": "/wiki", "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    }


# -- faults on fixed releases (v1.7.1+) ----------------------------------------------------------
_ING02_HCC = edit_keeping_original(
    R.HELM_CHART_CONFIGS, CHART, NS, "spec", helm_chart_config_spec(harvester_values(True))
)
# Kept on the HelmChartConfig while ING-02 is injected: the chart's webhook configuration existed.
WEBHOOK_REMOVED = REMOVED_WEBHOOK + WEBHOOK


def _ing02_inject(cl: Cluster) -> None:
    """The override kept through the upgrade: helm-controller re-renders the chart with the webhooks
    off, and helm deletes the chart's webhook configuration."""
    _ING02_HCC[0](cl)
    hcc = cl.get(R.HELM_CHART_CONFIGS, CHART, NS) or {}
    noted = WEBHOOK_REMOVED in ((hcc.get("metadata") or {}).get("annotations") or {})
    if not noted and cl.get(R.VALIDATING_WEBHOOKS, WEBHOOK) is not None:
        cl.patch(R.HELM_CHART_CONFIGS, CHART, {"metadata": {"annotations": {WEBHOOK_REMOVED: "true"}}}, NS)
    cl.delete(R.VALIDATING_WEBHOOKS, WEBHOOK)
    wait_for("object-deleted", lambda: cl.get(R.VALIDATING_WEBHOOKS, WEBHOOK) is None)


def _ing02_revert(cl: Cluster) -> None:
    """The article's last step: the patch removed, helm reinstalls the chart's webhook configuration."""
    hcc = cl.get(R.HELM_CHART_CONFIGS, CHART, NS) or {}
    had_webhook = WEBHOOK_REMOVED in ((hcc.get("metadata") or {}).get("annotations") or {})
    _ING02_HCC[1](cl)
    if had_webhook:
        cl.apply(R.VALIDATING_WEBHOOKS, admission_webhook(), manager="helm")
        cl.patch(R.HELM_CHART_CONFIGS, CHART, {"metadata": {"annotations": {WEBHOOK_REMOVED: None}}}, NS)


def _unannotated_probe() -> dict:
    """An Ingress without annotations, as Harvester's own rancher-expose is: the February policy's
    expression errors on it and fails closed."""
    body = rancher_ingress()
    body["metadata"] = {"name": "emulator-policy-probe", "namespace": APP_NS}
    return body


def _feb_policy_enforced(cl: Cluster) -> bool:
    """A dry-run create the February policy refuses (nothing is stored). Other refusals (the chart's
    webhook, whose Service the emulator does not run) do not count: the policy runs before webhooks."""
    try:
        cl.request("POST", R.INGRESSES.path(APP_NS), body=_unannotated_probe(), query={"dryRun": "All"})
    except ApiError as exc:
        return f"'{FEB_POLICY}'" in exc.message
    return False


def _ing05_inject(cl: Cluster) -> None:
    """The article's `kubectl apply` of the policy and its binding, done before the upgrade."""
    cl.apply(R.VALIDATING_ADMISSION_POLICIES, feb_policy(), manager="kubectl-client-side-apply")
    cl.apply(R.VALIDATING_ADMISSION_POLICY_BINDINGS, binding(FEB_POLICY), manager="kubectl-client-side-apply")
    wait_for("webhook-registration", lambda: _feb_policy_enforced(cl))


def _ing05_revert(cl: Cluster) -> None:
    """The article's removal: `kubectl delete` of the policy and of its binding."""
    cl.delete(R.VALIDATING_ADMISSION_POLICIES, FEB_POLICY)
    cl.delete(R.VALIDATING_ADMISSION_POLICY_BINDINGS, FEB_POLICY)

    def gone() -> bool:
        stored = cl.get(R.VALIDATING_ADMISSION_POLICIES, FEB_POLICY) or cl.get(
            R.VALIDATING_ADMISSION_POLICY_BINDINGS, FEB_POLICY
        )
        return stored is None and not _feb_policy_enforced(cl)

    wait_for("object-deleted", gone)


_HCC = f"HelmChartConfig {NS}/{CHART}"
_FEB_LEFTOVERS = (f"ValidatingAdmissionPolicy {FEB_POLICY}", f"ValidatingAdmissionPolicyBinding {FEB_POLICY}")
_FIXED = ("v1.7.1", "")
_AFFECTED = ("", "v1.4.3")
_WHY = "the mitigation is only required on releases affected by CVE-2025-1974 and every later advisory (before v1.4.3)"

FAULTS: list[Fault] = [
    Fault(
        "ING-01",
        "the CVE-2025-1974 edit done halfway: admissionWebhooks.enabled false, but "
        "enable-annotation-validation never added to the rke2-ingress-nginx HelmChartConfig",
        *_ING01,
        objects=(_HCC,),
        releases=_AFFECTED,
        why_not=_WHY,
    ),
    Fault(
        "ING-03",
        f"Ingress {APP_NS}/{AUTH_INGRESS} asking its external authentication with nginx.ingress.kubernetes.io/"
        "auth-method (CVE-2026-1580), created before any February 2026 policy",
        _created_before_policy(auth_ingress(), FEB_POLICY),
        _deleted(auth_ingress()),
        objects=(f"Ingress {APP_NS}/{AUTH_INGRESS}",),
        creates=(f"Ingress {APP_NS}/{AUTH_INGRESS}",),
        releases=("", "v1.7.1"),
        why_not="the February 2026 CVEs are fixed from v1.7.1",
    ),
    Fault(
        "ING-04",
        f"Ingress {APP_NS}/{APP_INGRESS} with rewrite-target {APP_REWRITE!r}, created before any May 2026 policy "
        "(which refuses only new writes)",
        _created_before_policy(app_ingress(), MAY_POLICY),
        _deleted(app_ingress()),
        objects=(f"Ingress {APP_NS}/{APP_INGRESS}",),
        creates=(f"Ingress {APP_NS}/{APP_INGRESS}",),
        releases=("", "v1.7.2"),
        why_not="the May 2026 CVEs are fixed from v1.7.2 (and v1.8.1)",
    ),
    Fault(
        "ING-06",
        "the CVE-2025-1974 edit pasted only the mitigation and the certificate into valuesContent, dropping "
        "Harvester's config (proxy-body-size, proxy-request-buffering) and publishService.pathOverride",
        *_ING06,
        objects=(_HCC,),
        releases=_AFFECTED,
        why_not="the fault models the CVE-2025-1974 edit, made only on releases before v1.4.3",
    ),
    Fault(
        "ING-02",
        "the CVE-2025-1974 override (admissionWebhooks.enabled false, enable-annotation-validation true) kept "
        "in the rke2-ingress-nginx HelmChartConfig through the upgrade, so the chart's admission webhook "
        "configuration stays uninstalled",
        _ing02_inject,
        _ing02_revert,
        objects=(_HCC,),
        releases=_FIXED,
        why_not="before v1.7.1 the override is still wanted: it is the CVE-2025-1974 mitigation (before v1.4.3), "
        "then what keeps the admission server CVE-2026-24514 attacks from running",
    ),
    Fault(
        "ING-05",
        f"the February 2026 article's ValidatingAdmissionPolicy {FEB_POLICY} and its Deny binding, applied on an "
        "affected release and never deleted after the upgrade",
        _ing05_inject,
        _ing05_revert,
        objects=_FEB_LEFTOVERS,
        creates=_FEB_LEFTOVERS,
        releases=_FIXED,
        why_not="the February 2026 CVEs are fixed from v1.7.1; before, the article's policy is the wanted mitigation",
    ),
]

__all__ = ["API_GROUPS", "CONTROLLERS", "FAULTS", "WEBHOOKS", "ready", "seed"]
