"""Section "Certificate Rotation Triggers", exercised: missing certificate, invalid CA
signature, and a changed duration. What each test changes, its collector undoes (also on
failure and interruption); a failed undo is reported apart from the verdict."""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Callable

import pytest

from harvester_conformance.changes import Changes
from harvester_conformance.checks import kubevirt_certificates as kc
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Violation
from harvester_conformance.waits import WaitTimeout, wait_for

from .conftest import TOLERANCE
from .forge import foreign_certificate

TARGET = "kubevirt-virt-api-certs"
TARGET_REF = f"Secret {kc.NAMESPACE}/{TARGET}"


def _live(cl: Cluster, name: str) -> tuple[dict | None, kc.CertInfo | None]:
    secret = cl.get(R.SECRETS, name, kc.NAMESPACE)
    pem = ((secret or {}).get("data") or {}).get("tls.crt")
    if not pem:
        return secret, None
    return secret, kc.load_certificate(name, "server", base64.b64decode(pem))


def _reissued(cl: Cluster, name: str, old_serial: int | None, duration: dt.timedelta | None = None):
    """A probe: the secret holds a new certificate, signed by the current CA (and, when given,
    issued for `duration`)."""

    def probe() -> kc.CertInfo | None:
        _, info = _live(cl, name)
        _, ca = _live(cl, kc.CA_SECRET)
        if info is None or ca is None or info.cert.serial_number == old_serial:
            return None
        if kc.check_signed_by(info, ca) is not None:
            return None
        if duration is not None and abs((info.not_after - dt.datetime.now(dt.UTC)) - duration) > TOLERANCE:
            return None
        return info

    return probe


def _observe(cl: Cluster) -> str:
    """What the secret looks like now, for the failure message (never its data)."""
    secret, info = _live(cl, TARGET)
    if secret is None:
        return "secret absent"
    if info is None:
        return "secret has no tls.crt"
    return f"certificate serial {info.cert.serial_number:x}, issuer {info.cert.issuer.rfc4514_string()}"


def _await_reissue(cl: Cluster, what: str, probe: Callable[[], kc.CertInfo | None]) -> kc.CertInfo:
    try:
        return wait_for("certificate-reissued", probe, describe=lambda: _observe(cl))
    except WaitTimeout as exc:
        raise Violation(
            f"{what}: virt-operator did not re-issue {TARGET_REF} within {exc.seconds:.0f}s; last observed: {exc.last}",
            [TARGET_REF],
        ) from None


def _keep_target(cl: Cluster, changes: Changes) -> kc.CertInfo:
    """Record the target secret; if the operator has not re-issued it by the end, put it back,
    so that a failing cluster is not left worse than it was."""
    saved, info = _live(cl, TARGET)
    if saved is None or info is None:
        raise Violation(f"{TARGET_REF} is missing or has no certificate before the test", [TARGET_REF])
    changes.involve(R.SECRETS, TARGET, kc.NAMESPACE)
    healed = _reissued(cl, TARGET, None)

    def put_back() -> None:
        current = cl.get(R.SECRETS, TARGET, kc.NAMESPACE)
        if current is not None and healed():
            return
        body = {k: saved[k] for k in ("apiVersion", "kind", "type", "data") if k in saved}
        body["metadata"] = {
            k: saved["metadata"][k] for k in ("name", "namespace", "labels", "annotations") if k in saved["metadata"]
        }
        if current is None:
            cl.create(R.SECRETS, body, kc.NAMESPACE)
        else:
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            cl.replace(R.SECRETS, body)

    changes.defer(f"re-issued or put back {TARGET_REF}", put_back, healed, "certificate-reissued")
    return info


@invariant("KVC-05")
def test_deleted_certificate_is_reissued(hc: RunContext, changes: Changes) -> None:
    cl = hc.cluster
    before = _keep_target(cl, changes)
    cl.delete(R.SECRETS, TARGET, kc.NAMESPACE)
    _await_reissue(cl, "missing-certificate trigger", _reissued(cl, TARGET, before.cert.serial_number))


@invariant("KVC-06")
def test_foreign_signed_certificate_is_reissued(hc: RunContext, changes: Changes) -> None:
    cl = hc.cluster
    before = _keep_target(cl, changes)
    secret = cl.get(R.SECRETS, TARGET, kc.NAMESPACE)
    assert secret is not None
    cert_pem, key_pem = foreign_certificate(before.cert.subject, before.validity)
    forged = kc.load_certificate(TARGET, "server", cert_pem)
    body = copy.deepcopy(secret)
    body["data"] = {"tls.crt": base64.b64encode(cert_pem).decode(), "tls.key": base64.b64encode(key_pem).decode()}
    cl.replace(R.SECRETS, body)
    _await_reissue(cl, "invalid-CA-signature trigger", _reissued(cl, TARGET, forged.cert.serial_number))


def _shorter_server_duration(strategy: dict, policy: kc.Policy) -> tuple[dict, dt.timedelta]:
    """The strategy with a shorter server duration, and that duration; not applicable (skipped)
    where upstream's admission would refuse the change (deprecated fields in use, a configured
    renewBefore above the new duration)."""
    shorter = min(dt.timedelta(hours=12), policy.server_duration / 2)
    changed = copy.deepcopy(strategy)
    changed.setdefault("selfSigned", {}).setdefault("server", {})["duration"] = f"{shorter.total_seconds() / 3600:g}h"
    refused = [str(p) for p in kc.strategy_problems(changed) if p.kind == "admission"]
    if refused:
        pytest.skip(f"not applicable: upstream's admission would refuse the test's change: {'; '.join(refused)}")
    return changed, shorter


@invariant("KVC-07")
def test_configured_server_duration_is_honoured(hc: RunContext, changes: Changes) -> None:
    cl = hc.cluster
    kv = cl.get(R.KUBEVIRTS, "kubevirt", kc.NAMESPACE)
    if kv is None:
        raise Violation(f"KubeVirt {kc.NAMESPACE}/kubevirt is missing", [f"KubeVirt {kc.NAMESPACE}/kubevirt"])
    strategy = (kv.get("spec") or {}).get("certificateRotateStrategy") or {}
    before = kc.effective_policy(kv.get("spec") or {})
    changed, shorter = _shorter_server_duration(strategy, before)
    _, info = _live(cl, TARGET)
    changes.involve(R.SECRETS, TARGET, kc.NAMESPACE)
    # Restored in one write; settled once the certificate carries the original duration again.
    changes.save(
        R.KUBEVIRTS,
        "kubevirt",
        kc.NAMESPACE,
        ("spec", "certificateRotateStrategy"),
        settled=_reissued(cl, TARGET, None, before.server_duration),
        timeout="certificate-reissued",
    )
    try:
        cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": changed}}, kc.NAMESPACE)
    except ApiError as exc:
        if exc.status in (400, 422):
            pytest.skip(f"not applicable: the cluster's admission refuses the change: {exc.message or exc}")
        raise
    got = _await_reissue(
        cl,
        f"configured server duration {shorter}",
        _reissued(cl, TARGET, info.cert.serial_number if info else None, shorter),
    )
    assert abs((got.not_after - dt.datetime.now(dt.UTC)) - shorter) <= TOLERANCE
