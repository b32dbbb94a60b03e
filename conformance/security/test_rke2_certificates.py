"""Section "auto-rotate-rke2-certs": RKE2's certificates expire after one year and are renewed
only when RKE2 restarts close to expiry (facts.md §2.4), so a server left running fails on its
next restart. The certificate the Kubernetes API serves (read from a TLS handshake with the
server the run talks to) and every RKE2 certificate file on every node (server/tls and agent/,
read through the node probe) must be unexpired and keep more than --rke2-cert-margin-days
(default 30) before expiry. The served certificate within the upgrade gate's 7 days is UPG-04's
finding (this ID is then broken, pointing at it). A kubeconfig that reaches the API through a
proxy path (Rancher's /k8s/clusters/local) shows the proxy's certificate, not the API server's:
the handshake is then not judged, and the servers' serving-kube-apiserver.crt files stand for it."""

from __future__ import annotations

import datetime as dt
import urllib.parse

import pytest
from cryptography import x509

from harvester_conformance.checks import security as sec
from harvester_conformance.cluster.tls import HandshakeError, served_certificate
from harvester_conformance.context import RunContext
from harvester_conformance.hosts import HostFiles, host_files  # noqa: F401 - the shared fixture
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken

HOST_PATHS = sec.RKE2_CERT_PATHS


@pytest.fixture(scope="session")
def rke2_cert_margin(pytestconfig: pytest.Config) -> dt.timedelta:
    """--rke2-cert-margin-days, else 30 days."""
    raw = pytestconfig.getoption("rke2_cert_margin_days", default=None)
    try:
        return sec.cert_margin_from(None if raw is None else str(raw))
    except ValueError as exc:
        pytest.exit(f"harvester-conformance: {exc}", returncode=2)


@pytest.fixture(scope="session")
def served_api_certificates(hc: RunContext) -> dict[str, x509.Certificate | str]:
    """address -> the certificate the API server presented there, or why it could not be read."""
    url = urllib.parse.urlparse(hc.cluster.host)
    if url.path.strip("/"):
        return {}  # a proxy in front of the API server: its certificate is not the API server's
    try:
        return {url.netloc: served_certificate(hc.cluster.host)}
    except HandshakeError as exc:
        return {url.netloc: str(exc)}


@invariant("SEC-04")
def test_api_and_rke2_certificates_keep_their_margin(
    hc: RunContext,
    host_files: HostFiles,  # noqa: F811 - the shared fixture imported above
    served_api_certificates: dict[str, x509.Certificate | str],
    rke2_cert_margin: dt.timedelta,
) -> None:
    report = sec.check_certificate_margins(
        served_api_certificates, host_files.readable(), hc.snapshot.captured_at, rke2_cert_margin
    )
    days = rke2_cert_margin.total_seconds() / 86400
    host_files.judge(report.findings, f"certificates expired or with {days:g} days or less left: rotate them")
    if report.deferred:
        raise Broken(report.deferred_reason(), prerequisite="UPG-04")
    if report.unjudged:
        raise Broken(report.unjudged_reason())
