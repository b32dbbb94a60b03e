"""The registrations with the apiserver that virt-operator's install strategy generates and
`apply/admissionregistration.go` / `apply/apiservices.go` keep: the webhook configurations
`virt-operator-validator`, `virt-api-validator` and `virt-api-mutator` and the APIServices of
`subresources.kubevirt.io`, each carrying the kubevirt-ca bundle (`clientConfig.caBundle`,
`spec.caBundle`; install/strategy.go and apply/core.go @v0.54.0 and v1.1.1).

Upstream (components/webhooks.go and apiservices.go, v0.54.0 through v1.4.0): the APIServices are
`v1.subresources.kubevirt.io` and `v1alpha3.subresources.kubevirt.io` at every version (group
priority 1000, version priority 15). The webhooks registered here are upstream's for the objects the
emulated cluster serves (kubevirt.io VMs, VMIs and migrations with their status, migration
policies, pod evictions), with upstream's names, rules, paths and policies, identical from 0.54 to
1.4. Upstream's webhooks for objects the emulated cluster has no CRD for (replica sets, presets,
pools, snapshots and restores, flavors/instance types and preferences, exports, clones) would never
be called and are left out.

virt-operator-validator validates the KubeVirt CR: delete and update at every version, create from
1.1.0; it is served by virt-operator itself (Service kubevirt-operator-webhook).

Emulator differences: the `virt-api` and `kubevirt-operator-webhook` Services are ExternalNames for
`localhost` with the port the emulated component listens on (no kube-proxy), so service references
carry that port instead of 443.
A webhook removed through `faults.set_webhook_registered` (it keeps the registration in an
annotation) is left out until the fault puts it back; upstream's operator would restore it at once.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.faults import REMOVED_WEBHOOK, VMIM_WEBHOOK

log = logging.getLogger("virt-operator")
NS = "harvester-system"
SERVICE = "virt-api"
OPERATOR_SERVICE = "kubevirt-operator-webhook"
CERT_SECRET = "kubevirt-virt-api-certs"  # noqa: S105 - a Secret name
OPERATOR_CERT_SECRET = "kubevirt-operator-certs"  # noqa: S105 - a Secret name
VALIDATOR, MUTATOR = "virt-api-validator", "virt-api-mutator"
OPERATOR_VALIDATOR = "virt-operator-validator"
GROUP = "subresources.kubevirt.io"
GROUP_VERSIONS = ("v1", "v1alpha3")  # v1.SubresourceGroupVersions, v0.54.0 ... v1.5.0
APISERVICES = tuple(f"{v}.{GROUP}" for v in GROUP_VERSIONS)
WEBHOOK_VERSIONS = ["v1alpha3", "v1"]  # v1.ApiSupportedWebhookVersions
MANAGED_BY = {"app.kubernetes.io/managed-by": "virt-operator"}
CERT_ANNOTATION = "certificates.kubevirt.io/secret"


@dataclass(frozen=True)
class Hook:
    name: str
    path: str
    operations: tuple[str, ...]
    resources: tuple[str, ...]
    group: str = "kubevirt.io"
    versions: tuple[str, ...] = tuple(WEBHOOK_VERSIONS)
    failure_policy: str = "Fail"
    side_effects: str = "None"
    since: tuple[int, ...] = (0,)


MUTATING = (
    Hook("virtualmachines-mutator.kubevirt.io", "/virtualmachines-mutate", ("CREATE", "UPDATE"), ("virtualmachines",)),
    Hook(
        "virtualmachineinstances-mutator.kubevirt.io",
        "/virtualmachineinstances-mutate",
        ("CREATE", "UPDATE"),
        ("virtualmachineinstances",),
    ),
    Hook(
        "migrations-mutator.kubevirt.io", "/migration-mutate-create", ("CREATE",), ("virtualmachineinstancemigrations",)
    ),
)
MIGRATION_CREATE = Hook(  # the one KubeVirt validator the emulator models (kubevirt_webhooks)
    VMIM_WEBHOOK, "/migration-validate-create", ("CREATE",), ("virtualmachineinstancemigrations",)
)
VALIDATING = (
    # Evictions must not be blocked when virt-api is down: the only webhook with Ignore.
    Hook(
        "virt-launcher-eviction-interceptor.kubevirt.io",
        "/launcher-eviction-validate",
        ("*",),
        ("pods/eviction",),
        group="",
        versions=("v1",),
        failure_policy="Ignore",
        side_effects="NoneOnDryRun",
    ),
    Hook(
        "virtualmachineinstances-create-validator.kubevirt.io",
        "/virtualmachineinstances-validate-create",
        ("CREATE",),
        ("virtualmachineinstances",),
    ),
    Hook(
        "virtualmachineinstances-update-validator.kubevirt.io",
        "/virtualmachineinstances-validate-update",
        ("UPDATE",),
        ("virtualmachineinstances",),
    ),
    Hook(
        "virtualmachine-validator.kubevirt.io", "/virtualmachines-validate", ("CREATE", "UPDATE"), ("virtualmachines",)
    ),
    MIGRATION_CREATE,
    Hook(
        "migration-update-validator.kubevirt.io",
        "/migration-validate-update",
        ("UPDATE",),
        ("virtualmachineinstancemigrations",),
    ),
    Hook(
        "kubevirt-crd-status-validator.kubevirt.io",
        "/status-validate",
        ("CREATE", "UPDATE"),
        (
            "virtualmachines/status",
            "virtualmachineinstancereplicasets/status",
            "virtualmachineinstancemigrations/status",
        ),
    ),
    Hook(
        "migration-policy-validator.kubevirt.io",
        "/migration-policy-validate-create",
        ("CREATE", "UPDATE"),
        ("migrationpolicies",),
        group="migrations.kubevirt.io",
        versions=("v1alpha1",),
    ),
)
OPERATOR_VALIDATING = (
    Hook("kubevirt-validator.kubevirt.io", "/kubevirt-validate-delete", ("DELETE",), ("kubevirts",)),
    Hook("kubevirt-update-validator.kubevirt.io", "/kubevirt-validate-update", ("UPDATE",), ("kubevirts",)),
    Hook(
        "kubevirt-create-validator.kubevirt.io", "/kubevirt-validate-create", ("CREATE",), ("kubevirts",), since=(1, 1)
    ),
)
VIRT_API_PATHS = tuple(h.path for h in (*MUTATING, *VALIDATING))
OPERATOR_PATHS = tuple(h.path for h in OPERATOR_VALIDATING)


def _webhook(hook: Hook, service: str, port: int, ca_bundle: str) -> dict:
    rule = {
        "operations": list(hook.operations),
        "apiGroups": [hook.group],
        "apiVersions": list(hook.versions),
        "resources": list(hook.resources),
        "scope": "*",
    }
    return {
        "name": hook.name,
        "admissionReviewVersions": ["v1", "v1beta1"],
        "clientConfig": {
            "service": {"namespace": NS, "name": service, "path": hook.path, "port": port},
            "caBundle": ca_bundle,
        },
        "rules": [rule],
        "failurePolicy": hook.failure_policy,
        "sideEffects": hook.side_effects,
        "timeoutSeconds": 10,
    }


def _meta(name: str, app: str, secret: str = CERT_SECRET) -> dict:
    """Labels and annotations as generated, plus the managed-by label injectOperatorMetadata adds."""
    return {"name": name, "labels": {"kubevirt.io": app, **MANAGED_BY}, "annotations": {CERT_ANNOTATION: secret}}


def service(name: str, port: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "labels": {"kubevirt.io": name}},
        "spec": {
            "type": "ExternalName",
            "externalName": "localhost",
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        },
    }


def api_service(version: str, port: int, ca_bundle: str) -> dict:
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": _meta(f"{version}.{GROUP}", "virt-api-aggregator"),
        "spec": {
            "service": {"namespace": NS, "name": SERVICE, "port": port},
            "group": GROUP,
            "version": version,
            "caBundle": ca_bundle,
            "groupPriorityMinimum": 1000,
            "versionPriority": 15,
        },
    }


# name -> (resource, webhooks, serving Service, its certificate Secret)
CONFIGURATIONS: dict[str, tuple[R.Resource, tuple[Hook, ...], str, str]] = {
    OPERATOR_VALIDATOR: (R.VALIDATING_WEBHOOKS, OPERATOR_VALIDATING, OPERATOR_SERVICE, OPERATOR_CERT_SECRET),
    VALIDATOR: (R.VALIDATING_WEBHOOKS, VALIDATING, SERVICE, CERT_SECRET),
    MUTATOR: (R.MUTATING_WEBHOOKS, MUTATING, SERVICE, CERT_SECRET),
}


def webhook_configuration(
    name: str, ports: dict[str, int], ca_bundle: str, version: tuple[int, ...], removed: set[str]
) -> dict:
    """Configuration `name` at `version`, without the webhooks in `removed`."""
    res, hooks, svc, secret = CONFIGURATIONS[name]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": res.kind,
        "metadata": _meta(name, name, secret),
        "webhooks": [
            _webhook(h, svc, ports[svc], ca_bundle) for h in hooks if h.name not in removed and version >= h.since
        ],
    }


def covers(have: Any, want: Any) -> bool:
    """`have` holds everything `want` sets (fields the apiserver defaults are ignored)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(covers(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(map(covers, have, want))
    return have == want


def _ensure(cl: Cluster, res: R.Resource, desired: dict, fields: tuple[str, ...], existing: dict | None) -> None:
    """Create `desired`, or bring `existing` (the object as read before `desired` was computed from
    it) to its labels, annotations and `fields`. The replace carries the resourceVersion of that
    read, so a change made since (a fault's revert) is never overwritten with a stale view."""
    meta = desired["metadata"]
    if existing is None:
        cl.create(res, desired, meta.get("namespace"))
        log.info("%s %s created", res.kind, meta["name"])
        return
    own = {k: meta[k] for k in ("labels", "annotations") if k in meta}
    if covers(existing, {"metadata": own, **{f: desired[f] for f in fields}}):
        return
    for key, values in own.items():
        existing["metadata"][key] = {**(existing["metadata"].get(key) or {}), **values}
    existing.update({f: desired[f] for f in fields})
    cl.replace(res, existing)
    log.info("%s %s updated", res.kind, meta["name"])


def _removed(configuration: dict | None) -> set[str]:
    """Webhooks a fault took out of the configuration (see faults.set_webhook_registered)."""
    annotations = ((configuration or {}).get("metadata") or {}).get("annotations") or {}
    return {k.removeprefix(REMOVED_WEBHOOK) for k in annotations if k.startswith(REMOVED_WEBHOOK)}


def apply(cl: Cluster, ports: dict[str, int], bundle_pem: str, version: tuple[int, ...]) -> None:
    """The Services (`ports` by Service name), webhook configurations and APIServices, with
    `bundle_pem` as CA bundle."""
    ca_bundle = base64.b64encode(bundle_pem.encode()).decode()
    for name, port in ports.items():
        _ensure(cl, R.SERVICES, service(name, port), ("spec",), cl.get(R.SERVICES, name, NS))
    for name, (res, _, _, _) in CONFIGURATIONS.items():
        existing = cl.get(res, name)
        desired = webhook_configuration(name, ports, ca_bundle, version, _removed(existing))
        _ensure(cl, res, desired, ("webhooks",), existing)
    for group_version in GROUP_VERSIONS:
        desired = api_service(group_version, ports[SERVICE], ca_bundle)
        _ensure(cl, R.API_SERVICES, desired, ("spec",), cl.get(R.API_SERVICES, desired["metadata"]["name"]))
