"""The KubeVirt-certificates area against upstream KubeVirt (kubevirt/kubevirt at the tags named
in each test): virt-operator's CA, its bundles, virt-api's registrations carrying the bundle, and
virt-api serving them over TLS with the certificate the operator issued."""

from __future__ import annotations

import base64
import datetime as dt
import socket
import ssl
import warnings
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import faults, pki
from harvester_conformance.emulator.areas import all_faults
from harvester_conformance.emulator.areas import kubevirt_certificates as area
from harvester_conformance.emulator.areas import kubevirt_certificates_registrations as reg
from harvester_conformance.emulator.areas.kubevirt_certificates_operator import merge_ca_bundle
from harvester_conformance.waits import wait_for

from .conftest import injected

NS = "harvester-system"
H = dt.timedelta(hours=1)


def _client(emulated, profile: str) -> Cluster:
    return Cluster.from_kubeconfig(str(emulated(profile).kubeconfig))


def _certs(pem: str | bytes) -> list[x509.Certificate]:
    with warnings.catch_warnings():  # KubeVirt 0.54's CA has serial 0, which cryptography warns about
        warnings.simplefilter("ignore")
        return x509.load_pem_x509_certificates(pem if isinstance(pem, bytes) else pem.encode())


def _secret_cert(cl: Cluster, name: str) -> x509.Certificate:
    return _certs(base64.b64decode(cl.get(R.SECRETS, name, NS)["data"]["tls.crt"]))[0]


def _bundle(cl: Cluster, name: str = "kubevirt-ca") -> str:
    return cl.get(R.CONFIGMAPS, name, NS)["data"]["ca-bundle"]


def _served(cl: Cluster, bundle: str, service: str = reg.SERVICE) -> bytes:
    """DER of the certificate `service` serves, reached as the apiserver reaches it (the Service's
    port, server name <service>.<ns>.svc) by a client that trusts only `bundle`."""
    port = cl.get(R.SERVICES, service, NS)["spec"]["ports"][0]["port"]
    ctx = ssl.create_default_context(cadata=bundle)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=area.server_name(service)) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


# -- the CA per version ----------------------------------------------------------------------
def test_v121_ca_has_serial_zero_rsa_keys_and_no_export_ca(emulated) -> None:
    """KubeVirt 0.54 (Harvester v1.2.1) creates its CA with serial number 0
    (pkg/certificates/triple/cert/cert.go@v0.54.0 NewSelfSignedCACert; random from v0.55.0) and RSA
    keys (pkg/certificates/triple/triple.go@v0.54.0; ECDSA from v1.0.0); it has no export CA
    (pkg/virt-operator/resource/generate/components/secrets.go@v0.54.0). The installed
    `cryptography` loads such a CA with a deprecation warning."""
    cl = _client(emulated, "v1.2.1")
    pem = base64.b64decode(cl.get(R.SECRETS, "kubevirt-ca", NS)["data"]["tls.crt"])
    with pytest.warns(Warning, match="serial number"):
        ca = x509.load_pem_x509_certificate(pem)
        assert ca.serial_number == 0
    assert isinstance(ca.public_key(), rsa.RSAPublicKey)
    assert isinstance(_secret_cert(cl, "kubevirt-virt-api-certs").public_key(), rsa.RSAPublicKey)
    assert _certs(_bundle(cl))[0] == ca
    assert cl.get(R.SECRETS, "kubevirt-export-ca", NS) is None
    assert cl.get(R.CONFIGMAPS, "kubevirt-export-ca", NS) is None
    assert cl.get(R.SECRETS, "kubevirt-exportproxy-certs", NS) is None


def test_v131_has_the_export_ca_and_its_bundle(emulated) -> None:
    """From 0.55 the export CA and its bundle ConfigMap exist (secrets.go@v1.1.1, core.go@v1.1.1
    createOrUpdateComponentsWithCertificates); the CA serial is random (cert.go@v0.55.0), keys are
    ECDSA (triple.go@v1.1.1), and the export-proxy certificate is signed by kubevirt-ca."""
    cl = _client(emulated, "v1.3.1")
    ca, export_ca = _secret_cert(cl, "kubevirt-ca"), _secret_cert(cl, "kubevirt-export-ca")
    assert ca.serial_number != 0 and isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert export_ca.subject.rfc4514_string() == "CN=export.kubevirt.io"
    assert _certs(_bundle(cl, "kubevirt-export-ca"))[0] == export_ca
    _secret_cert(cl, "kubevirt-exportproxy-certs").verify_directly_issued_by(ca)


# -- MergeCABundle ---------------------------------------------------------------------------
def _ca(age: dt.timedelta, validity: dt.timedelta = 168 * H) -> x509.Certificate:
    return pki.make_ca("kubevirt.io", validity, not_before=pki.now() - age).cert


def _pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def test_merge_ca_bundle_follows_upstream() -> None:
    """components.MergeCABundle (secrets.go@v0.54.0, unchanged @v1.1.1 and @v1.3.1): the current CA
    first, earlier CAs newest first while their successor is younger than the overlap, expired ones
    dropped, at most 10 earlier ones parsed, an unparseable bundle refused."""
    now, overlap = pki.now(), 33.6 * H
    current, previous, older = _ca(1 * H), _ca(100 * H), _ca(150 * H)
    expired = _ca(2 * H, validity=1 * H)
    merged = merge_ca_bundle(current, _pem(older, expired, previous, current), overlap, now)
    # `older` is still valid, but `previous` replaced it longer than the overlap ago.
    assert _certs(merged) == [current, previous]
    # `previous` was replaced longer than the overlap ago: it and every older CA go.
    replaced_long_ago = _ca(40 * H)
    assert _certs(merge_ca_bundle(replaced_long_ago, _pem(previous, older), overlap, now)) == [replaced_long_ago]
    many = [_ca((i + 2) * H) for i in range(12)]
    assert len(_certs(merge_ca_bundle(current, _pem(*many), overlap, now))) == 1 + 10
    with pytest.raises(ValueError):
        merge_ca_bundle(current, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", overlap, now)


def test_ca_rotation_keeps_the_previous_ca_and_drops_expired_ones(emulated) -> None:
    """After a CA rotation the bundle is [new CA, previous CA] (core.go@v1.1.1
    createOrUpdateKubeVirtCAConfigMap with MergeCABundle); the webhook configurations and APIServices
    get that bundle before the leaves are re-issued (same function, in that order), so virt-api stays
    verifiable; an expired CA put into the bundle is dropped at the next reconcile."""
    cl = _client(emulated, "v1.3.1")
    before = _secret_cert(cl, "kubevirt-ca")
    cl.delete(R.SECRETS, "kubevirt-ca", NS)
    new = wait_for("certificate-reissued", lambda: (c := _secret_cert_or_none(cl)) is not None and c != before and c)
    wait_for("certificate-reissued", lambda: _certs(_bundle(cl)) == [new, before])
    wait_for("certificate-reissued", lambda: area.registration_problems(cl) == [])
    # The leaves are re-issued after the registrations, and virt-api reloads its files after that.
    wait_for("certificate-reissued", lambda: _signed_by(x509.load_der_x509_certificate(_served(cl, _bundle(cl))), new))
    expired = _ca(2 * H, validity=1 * H)
    cm = cl.get(R.CONFIGMAPS, "kubevirt-ca", NS)
    cm["data"]["ca-bundle"] = _bundle(cl) + _pem(expired)
    cl.replace(R.CONFIGMAPS, cm)
    wait_for("certificate-reissued", lambda: _certs(_bundle(cl)) == [new, before])


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError):
        return False
    return True


def _secret_cert_or_none(cl: Cluster) -> x509.Certificate | None:
    secret = cl.get(R.SECRETS, "kubevirt-ca", NS)
    return _certs(base64.b64decode(secret["data"]["tls.crt"]))[0] if secret else None


# -- virt-api's registrations and serving ----------------------------------------------------
@pytest.mark.parametrize("profile", ["v1.2.1", "v1.3.1", "v1.8.2"])
def test_registrations_carry_the_bundle_that_verifies_the_servers(emulated, profile: str) -> None:
    """virt-operator writes the kubevirt-ca bundle into every webhook of virt-operator-validator,
    virt-api-validator and virt-api-mutator and into the APIServices v1 and
    v1alpha3.subresources.kubevirt.io (apply/core.go, admissionregistration.go, apiservices.go and
    install/strategy.go @v0.54.0 and @v1.1.1; names, webhooks and priorities from
    components/webhooks.go and apiservices.go, the same @v1.3.1 except kubevirt-create-validator,
    added in v1.1.0). virt-api and virt-operator serve the certificates of kubevirt-virt-api-certs
    and kubevirt-operator-certs (pkg/virt-api/api.go@v0.54.0), which a client trusting only that
    bundle verifies for the names the apiserver uses."""
    cl = _client(emulated, profile)
    # A rotation of an earlier test may still be rolling out: the operator writes the bundle,
    # then the registrations, then the leaves, which the servers reload.
    wait_for("certificate-reissued", lambda: area.registration_problems(cl) == [])
    bundle = _bundle(cl)
    encoded = base64.b64encode(bundle.encode()).decode()
    operator = cl.get(R.VALIDATING_WEBHOOKS, "virt-operator-validator")
    validator = cl.get(R.VALIDATING_WEBHOOKS, "virt-api-validator")
    mutator = cl.get(R.MUTATING_WEBHOOKS, "virt-api-mutator")
    kubevirt_hooks = {"kubevirt-validator.kubevirt.io", "kubevirt-update-validator.kubevirt.io"}
    if profile != "v1.2.1":
        kubevirt_hooks.add("kubevirt-create-validator.kubevirt.io")
    assert {h["name"] for h in operator["webhooks"]} == kubevirt_hooks
    assert {h["name"] for h in mutator["webhooks"]} == {
        "virtualmachines-mutator.kubevirt.io",
        "virtualmachineinstances-mutator.kubevirt.io",
        "migrations-mutator.kubevirt.io",
    }
    assert "migration-create-validator.kubevirt.io" in {h["name"] for h in validator["webhooks"]}
    for config, service in ((operator, "kubevirt-operator-webhook"), (validator, "virt-api"), (mutator, "virt-api")):
        for hook in config["webhooks"]:
            assert hook["clientConfig"]["caBundle"] == encoded, hook["name"]
            assert hook["clientConfig"]["service"]["name"] == service
    simulator = cl.get(R.VALIDATING_WEBHOOKS, "harvester-simulator-validating")
    assert "migration-create-validator.kubevirt.io" not in {h["name"] for h in simulator["webhooks"]}
    for name in ("v1.subresources.kubevirt.io", "v1alpha3.subresources.kubevirt.io"):
        spec = cl.get(R.API_SERVICES, name)["spec"]
        assert spec["caBundle"] == encoded
        assert (spec["groupPriorityMinimum"], spec["versionPriority"]) == (1000, 15)
    for service, secret in (
        ("virt-api", "kubevirt-virt-api-certs"),
        ("kubevirt-operator-webhook", "kubevirt-operator-certs"),
    ):
        wait_for(
            "certificate-reissued",
            lambda service=service, secret=secret: (
                x509.load_der_x509_certificate(_served(cl, bundle, service)) == _secret_cert(cl, secret)
            ),
        )


def test_kubevirt_cr_writes_are_refused_while_virt_operator_has_no_pod(emulated) -> None:
    """virt-operator-validator's webhooks have failurePolicy Fail and are served by virt-operator
    itself (components/webhooks.go@v1.1.1 NewOpertorValidatingWebhookConfiguration): with its
    Deployment at zero replicas the apiserver refuses updates of the KubeVirt CR. (KVC-03..07's
    faults therefore hang the operator's reconcile loop instead, which leaves its pod serving.)"""
    cl = _client(emulated, "v1.3.1")

    def scale(replicas: int) -> None:
        cl.patch(R.DEPLOYMENTS, "virt-operator", {"spec": {"replicas": replicas}}, NS)
        wait_for(
            "cluster-seeded",
            lambda: (cl.get(R.DEPLOYMENTS, "virt-operator", NS)["status"].get("availableReplicas") or 0) == replicas,
        )

    def annotate(value: str | None) -> None:
        patch = {"metadata": {"annotations": {"emulator.harvester-conformance.io/kvc-area-test": value}}}
        cl.request(
            "PATCH",
            R.KUBEVIRTS.path(NS, "kubevirt"),
            body=patch,
            content_type="application/merge-patch+json",
            attempts=1,
        )

    try:
        scale(0)  # inside: a scale-down that timed out still gets its operator back
        refused = wait_for("webhook-registration", lambda: _refusal(lambda: annotate("x")))
        assert refused.status == 500 and "kubevirt-update-validator.kubevirt.io" in refused.message, refused
    finally:
        scale(1)
    wait_for("webhook-registration", lambda: _refusal(lambda: annotate(None)) is None)
    assert "emulator.harvester-conformance.io/kvc-area-test" not in (
        cl.get(R.KUBEVIRTS, "kubevirt", NS)["metadata"].get("annotations") or {}
    )


def _refusal(write: Callable[[], object]) -> ApiError | None:
    try:
        write()
    except ApiError as exc:
        return exc
    return None


@pytest.mark.parametrize("profile,resources", [("v1.2.1", 17), ("v1.3.1", 23)])
def test_subresources_api_is_available_through_the_aggregator(emulated, profile: str, resources: int) -> None:
    """Both subresources APIServices are Available, and the aggregator proxies discovery to virt-api
    (pkg/virt-api/api.go getAPISubResources: 17 subresources @v0.54.0, 23 @v1.1.1)."""
    cl = _client(emulated, profile)
    for name in reg.APISERVICES:
        conds = cl.get(R.API_SERVICES, name)["status"]["conditions"]
        assert any(c["type"] == "Available" and c["status"] == "True" for c in conds), conds
    listing = cl.request("GET", "/apis/subresources.kubevirt.io/v1")
    assert listing["groupVersion"] == "subresources.kubevirt.io/v1" and len(listing["resources"]) == resources


def test_namespace_is_deleted_while_the_aggregated_api_is_served(emulated) -> None:
    """kube-controller-manager's namespace controller lists every discoverable API before it
    finalizes a namespace and keeps it Terminating on a discovery failure (kubernetes
    pkg/controller/namespace/deletion/namespaced_resources_deleter.go@v1.34.4 deleteAllContent):
    with virt-api's APIServices registered, a namespace is still created and deleted."""
    cl = _client(emulated, "v1.3.1")
    name = "kvc-area-namespace"
    cl.create(R.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for("namespace-created", lambda: (cl.get(R.NAMESPACES, name) or {}).get("status", {}).get("phase") == "Active")
    cl.delete(R.NAMESPACES, name)
    wait_for(
        "namespace-deleted", lambda: cl.get(R.NAMESPACES, name) is None, describe=lambda: cl.get(R.NAMESPACES, name)
    )


def _vmim_dry_run_error(cl: Cluster) -> ApiError | None:
    try:
        cl.request("POST", R.VMIMS.path("default"), body=faults.PROBE_VMIM, query={"dryRun": "All"}, attempts=1)
    except ApiError as exc:
        return exc
    return None


def test_forged_certificate_breaks_tls_to_virt_api_until_the_operator_heals_it(emulated) -> None:
    """virt-api reloads its certificate files when they change (pkg/certificates/bootstrap/
    cert-manager.go@v0.54.0 FileCertificateManager; api.go@v1.1.1): a foreign-signed certificate in
    kubevirt-virt-api-certs is served, so the apiserver's calls to virt-api's webhooks fail TLS, until
    virt-operator re-issues it (facts.md §17.9). With the operator stuck (KVC-06's fault) it stays."""
    cl = _client(emulated, "v1.3.1")
    fault = all_faults()["KVC-06"]
    secret = cl.get(R.SECRETS, "kubevirt-virt-api-certs", NS)
    fault.inject(cl)
    try:
        foreign = pki.make_ca("kubevirt.io", 168 * H)
        forged = pki.issue(
            foreign, "virt-api.harvester-system.pod.cluster.local", 24 * H, dns=(area.server_name(reg.SERVICE),)
        )
        secret["data"] = {
            "tls.crt": base64.b64encode(forged.cert_pem).decode(),
            "tls.key": base64.b64encode(forged.key_pem).decode(),
        }
        cl.replace(R.SECRETS, secret)
        wait_for("certificate-reissued", lambda: area.served_certificate_problem(cl, _bundle(cl)) is not None)
        error = _vmim_dry_run_error(cl)
        assert error is not None and error.status == 500 and "failed calling webhook" in error.message, error
    finally:
        fault.revert(cl)
    wait_for("certificate-reissued", lambda: area.served_certificate_problem(cl, _bundle(cl)) is None)
    error = _vmim_dry_run_error(cl)
    assert error is not None and error.status == 400  # the validator answers again: no such VMI


def _removed_from_virt_api_validator(cl: Cluster) -> list[str]:
    present = {h["name"] for h in cl.get(R.VALIDATING_WEBHOOKS, "virt-api-validator")["webhooks"]}
    return sorted({h.name for h in reg.VALIDATING} - present)


def test_mig04_unregisters_the_migration_validator_from_virt_api_validator(emulated) -> None:
    """MIG-04 still takes migration-create-validator.kubevirt.io out, now of virt-api-validator
    where upstream registers it (components/webhooks.go@v1.1.1), and the operator stand-in leaves it
    out until the revert (upstream's would restore it: admissionregistration.go@v1.1.1)."""
    cl = _client(emulated, "v1.3.1")
    with injected(cl, "MIG-04", lambda: _removed_from_virt_api_validator(cl)) as removed:
        assert removed == ["migration-create-validator.kubevirt.io"]
        assert _vmim_dry_run_error(cl) is None  # admitted: the apiserver no longer calls it
    assert area.registration_problems(cl) == []
