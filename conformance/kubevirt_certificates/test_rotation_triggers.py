"""Section "Certificate Rotation Triggers", exercised: missing certificate, invalid CA
signature, and a changed duration. Each test restores what it changes, even on failure."""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Callable

from harvester_conformance.checks import kubevirt_certs as kc
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.context import RunContext
from harvester_conformance.emulator import pki
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Violation
from harvester_conformance.waits import WaitTimeout, wait_for

from .conftest import TOLERANCE

TARGET = "kubevirt-virt-api-certs"


def _live(cl: Cluster, name: str) -> tuple[dict | None, kc.CertInfo | None]:
    secret = cl.get(R.SECRETS, name, kc.NAMESPACE)
    pem = ((secret or {}).get("data") or {}).get("tls.crt")
    if not pem:
        return secret, None
    return secret, kc.load_certificate(name, "server", base64.b64decode(pem))


def _live_policy(cl: Cluster) -> kc.Policy:
    kv = cl.get(R.KUBEVIRTS, "kubevirt", kc.NAMESPACE) or {}
    return kc.effective_policy(kv.get("spec") or {})


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
        if duration is not None:
            now = dt.datetime.now(dt.UTC)
            if abs((info.not_after - now) - duration) > TOLERANCE:
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


def _restore_secret(cl: Cluster, saved: dict) -> None:
    body = {k: saved[k] for k in ("apiVersion", "kind", "type", "data") if k in saved}
    body["metadata"] = {
        k: saved["metadata"][k] for k in ("name", "namespace", "labels", "annotations") if k in saved["metadata"]
    }
    current = cl.get(R.SECRETS, saved["metadata"]["name"], kc.NAMESPACE)
    if current:
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        cl.replace(R.SECRETS, body)
    else:
        cl.create(R.SECRETS, body, kc.NAMESPACE)


def _fail_after(what: str, exc: WaitTimeout) -> None:
    raise Violation(
        f"{what}: virt-operator did not re-issue Secret {kc.NAMESPACE}/{TARGET} within {exc.seconds:.0f}s; "
        f"last observed: {exc.last}",
        [f"Secret {kc.NAMESPACE}/{TARGET}"],
    )


def _trigger_and_expect_reissue(
    cl: Cluster, saved: dict, trigger: Callable[[], None], bad_serial: int, what: str
) -> None:
    """Pull a trigger on TARGET and wait for virt-operator's new certificate; put the saved
    secret back when none comes, so that a failing cluster is not left worse than it was."""
    fixed = False
    try:
        trigger()
        try:
            wait_for("certificate-reissued", _reissued(cl, TARGET, bad_serial), describe=lambda: _observe(cl))
            fixed = True
        except WaitTimeout as exc:
            _fail_after(what, exc)
    finally:
        if not fixed:
            _restore_secret(cl, saved)


def _saved_target(cl: Cluster) -> tuple[dict, kc.CertInfo]:
    saved, info = _live(cl, TARGET)
    assert saved is not None and info is not None, f"Secret {kc.NAMESPACE}/{TARGET} is missing before the test"
    return saved, info


@invariant("KVC-05")
def test_deleted_certificate_is_reissued(hc: RunContext) -> None:
    cl = hc.cluster
    saved, info = _saved_target(cl)
    _trigger_and_expect_reissue(
        cl,
        saved,
        lambda: cl.delete(R.SECRETS, TARGET, kc.NAMESPACE),
        info.cert.serial_number,
        "missing-certificate trigger",
    )


@invariant("KVC-06")
def test_foreign_signed_certificate_is_reissued(hc: RunContext) -> None:
    cl = hc.cluster
    saved, info = _saved_target(cl)
    policy = _live_policy(cl)
    foreign_ca = pki.make_ca("conformance-foreign-ca", policy.ca_duration)
    forged = pki.issue(foreign_ca, info.cert.subject.rfc4514_string().removeprefix("CN="), policy.server_duration)
    body = copy.deepcopy(saved)
    body["data"] = {
        "tls.crt": base64.b64encode(forged.cert_pem).decode(),
        "tls.key": base64.b64encode(forged.key_pem).decode(),
    }
    _trigger_and_expect_reissue(
        cl, saved, lambda: cl.replace(R.SECRETS, body), forged.cert.serial_number, "invalid-CA-signature trigger"
    )


@invariant("KVC-07")
def test_configured_server_duration_is_honoured(hc: RunContext) -> None:
    cl = hc.cluster
    kv = cl.get(R.KUBEVIRTS, "kubevirt", kc.NAMESPACE)
    assert kv is not None, "KubeVirt CR harvester-system/kubevirt is missing"
    original = copy.deepcopy((kv.get("spec") or {}).get("certificateRotateStrategy") or {})
    before = _live_policy(cl)
    shorter = dt.timedelta(hours=12) if before.server_duration > dt.timedelta(hours=12) else before.server_duration / 2
    hours = shorter.total_seconds() / 3600
    strategy = copy.deepcopy(original)
    strategy.setdefault("selfSigned", {}).setdefault("server", {})["duration"] = f"{hours:g}h"
    _, info = _live(cl, TARGET)
    old_serial = info.cert.serial_number if info else None
    try:
        cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": strategy}}, kc.NAMESPACE)
        try:
            got = wait_for("certificate-reissued", _reissued(cl, TARGET, old_serial, shorter))
        except WaitTimeout as exc:
            _fail_after(f"configured server duration {hours:g}h", exc)
        assert abs((got.not_after - dt.datetime.now(dt.UTC)) - shorter) <= TOLERANCE
    finally:
        cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": None}}, kc.NAMESPACE)
        if original:
            cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": original}}, kc.NAMESPACE)
        # The restored duration rotates the certificates back; wait so that later tests see them settled.
        wait_for("certificate-reissued", _reissued(cl, TARGET, None, before.server_duration))
