"""Shared data of the KubeVirt certificate checks, read from the run's snapshot."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from harvester_conformance.checks import kubevirt_certificates as kc
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.plugin import CTX
from harvester_conformance.verdict import Broken, require

# Clock skew and operator reconcile latency allowed when comparing lifetimes.
TOLERANCE = dt.timedelta(minutes=5)
RECONCILE_SLACK = dt.timedelta(minutes=15)
CR = f"KubeVirt {kc.NAMESPACE}/kubevirt"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise over the secrets this KubeVirt version manages (identical on every worker:
    the version comes from the controller)."""
    if "kvc_secret" not in metafunc.fixturenames:
        return
    ctx = metafunc.config.stash.get(CTX, None)
    managed = kc.managed_secrets(ctx.versions.get("kubevirt") if ctx else None)
    only = getattr(metafunc.function, "kvc_classes", None)
    metafunc.parametrize("kvc_secret", sorted(n for n, cls in managed.items() if not only or cls in only))


@pytest.fixture(scope="session")
def kubevirt_cr(hc: RunContext) -> dict | None:
    return hc.snapshot.get(R.KUBEVIRTS, "kubevirt", kc.NAMESPACE)


@pytest.fixture(scope="session")
def policy(kubevirt_cr: dict | None) -> kc.Policy:
    """The rotation policy in force; unknown (broken, pointing at KVC-01) when the CR is unusable."""
    if kubevirt_cr is None:
        raise Broken(f"{CR} is missing: the policy in force is unknown", prerequisite="KVC-01")
    try:
        return kc.effective_policy(kubevirt_cr.get("spec") or {})
    except kc.StrategyError as exc:
        raise Broken(f"policy in force unknown: certificateRotateStrategy is malformed ({exc})", "KVC-01") from None


@pytest.fixture(scope="session")
def managed(hc: RunContext) -> dict[str, str]:
    return kc.managed_secrets(hc.versions.get("kubevirt"))


@pytest.fixture(scope="session")
def now(hc: RunContext) -> dt.datetime:
    """The snapshot's capture time: certificates are judged as they were when read, so that one
    the operator renewed seconds after the snapshot is not reported stuck."""
    return hc.snapshot.captured_at


def secret_certificate(hc: RunContext, name: str, cls: str) -> tuple[kc.CertInfo | None, str | None, str]:
    """(certificate, duration annotation, problem) of one managed secret, from the snapshot."""
    secret = hc.snapshot.get(R.SECRETS, name, kc.NAMESPACE)
    if secret is None:
        return None, None, "missing"
    pem = (secret.get("data") or {}).get("tls.crt")
    if not pem:
        return None, None, "has no tls.crt"
    try:
        info = kc.load_certificate(name, cls, base64.b64decode(pem))
    except ValueError as exc:
        return None, None, f"tls.crt does not parse: {exc}"
    annotation = (secret["metadata"].get("annotations") or {}).get("kubevirt.io/duration")
    return info, annotation, ""


def require_certificate(hc: RunContext, name: str, cls: str) -> tuple[kc.CertInfo, str | None]:
    """The certificate and duration annotation of a managed secret; an unreadable one is a violation."""
    info, annotation, problem = secret_certificate(hc, name, cls)
    if info is None:
        require([Finding(f"Secret {kc.NAMESPACE}/{name}", problem)], "managed certificate unreadable")
    assert info is not None
    return info, annotation
