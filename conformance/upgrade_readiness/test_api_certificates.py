"""The gate's certificate rule (HV pkg/webhook/resources/upgrade/validator.go `checkCerts`,
v1.5.0 … v1.8.2: the earliest NotAfter presented by the `default/kubernetes` endpoints must be
more than 7 days away, or `harvesterhci.io/minCertsExpirationInDay` days: read from the Version on
v1.5.0, from the Upgrade from v1.5.1). The certificate is read from the TLS handshake with the API
server the run talks to, once per run; its leaf is the server's own certificate, the one RKE2 rotates."""

from __future__ import annotations

from cryptography import x509

from harvester_conformance.checks import upgrade_readiness as ur
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require

API_ENDPOINT = "Service default/kubernetes"


@invariant("UPG-04")
def test_api_certificate_outlives_the_upgrade(
    hc: RunContext, gate: ur.Gate, served_api_certificate: tuple[str, x509.Certificate | str]
) -> None:
    address, cert = served_api_certificate
    if isinstance(cert, str):
        raise Broken(f"the Kubernetes API's serving certificate could not be read: {cert}")
    days, note = ur.min_cert_days(gate, hc.snapshot.list(R.VERSIONS, "harvester-system"))
    found = ur.check_endpoint_cert(API_ENDPOINT, cert.not_valid_after_utc, hc.snapshot.captured_at, days, note)
    require([found], f"the upgrade gate refuses: the API certificate served at {address} is about to expire")
