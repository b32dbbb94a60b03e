"""Section "Certificate Rotation Triggers" (invalid CA signature, CA expiration): every
certificate chains to the current CA, and the bundle virt-operator publishes carries that CA:
in its ConfigMaps and wherever it copies it (the webhook configurations and the subresources
APIServices, which the apiserver uses to verify virt-api and virt-operator)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import kubevirt_certificates as kc
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require

from .conftest import require_certificate, secret_certificate


@invariant("KVC-04")
def test_server_certificate_is_signed_by_current_ca(hc: RunContext, kvc_secret: str, managed: dict[str, str]) -> None:
    cls = managed[kvc_secret]
    if cls in ("ca", "export-ca"):
        pytest.skip(f"{kvc_secret} is a CA; its bundle is checked separately")
    ca, _ = require_certificate(hc, kc.CA_SECRET, "ca")
    info, _ = require_certificate(hc, kvc_secret, cls)
    require([kc.check_signed_by(info, ca)], "certificate does not chain to the current KubeVirt CA")


@invariant("KVC-04")
def test_ca_bundles_contain_current_cas(hc: RunContext, managed: dict[str, str]) -> None:
    findings = []
    for secret, cls in managed.items():
        if cls not in ("ca", "export-ca"):
            continue
        ca, _, problem = secret_certificate(hc, secret, cls)
        if ca is None:
            findings.append(Finding(f"Secret {kc.NAMESPACE}/{secret}", problem))
            continue
        cm = hc.snapshot.get(R.CONFIGMAPS, secret, kc.NAMESPACE)
        bundle = ((cm or {}).get("data") or {}).get("ca-bundle")
        findings.append(kc.check_bundle(bundle, ca, secret))
    require(findings, "published CA bundle lacks the current CA")


_RESOURCE = {
    "ValidatingWebhookConfiguration": R.VALIDATING_WEBHOOKS,
    "MutatingWebhookConfiguration": R.MUTATING_WEBHOOKS,
    "APIService": R.API_SERVICES,
}


@invariant("KVC-04")
def test_copied_ca_bundles_contain_the_current_ca(hc: RunContext) -> None:
    ca, _ = require_certificate(hc, kc.CA_SECRET, "ca")
    require(
        [
            kc.check_published_bundle(kind, name, hc.snapshot.get(_RESOURCE[kind], name), ca)
            for kind, name in kc.CA_BUNDLE_TARGETS
        ],
        "a CA bundle virt-operator copies lacks the current KubeVirt CA",
    )
