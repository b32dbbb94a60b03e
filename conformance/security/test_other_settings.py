"""Section "Other Credentials and Settings": additional-ca, ssl-certificates, ssl-parameters and
containerd-registry parse as Harvester parses them (HV pkg/webhook/resources/setting/validator.go,
pkg/containerd/registry.go, v1.2.1 … v1.8.2), and a configured ssl-certificates pair is usable:
the key fits the certificate (compared by public-key digest; the key itself never leaves the
snapshot's cleaner), the certificate is valid now and chains to the given CA."""

from __future__ import annotations

from harvester_conformance.checks import security as sec
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("SEC-05")
def test_tls_and_registry_settings(hc: RunContext) -> None:
    snap = hc.snapshot

    def setting(name: str) -> dict | None:
        return snap.get(R.HARVESTER_SETTINGS, name)

    findings = [
        *sec.check_additional_ca(setting("additional-ca")),
        *sec.check_ssl_certificates(setting("ssl-certificates"), snap.captured_at),
        *sec.check_ssl_parameters(setting("ssl-parameters")),
        *sec.check_containerd_registry(setting("containerd-registry")),
    ]
    require(findings, "TLS or registry settings Harvester cannot use")
