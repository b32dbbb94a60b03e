"""KubeVirt certificate rotation (article kubevirt_certificates_rotation; facts.md §1).

Effective policy from the KubeVirt CR, the certificate set per KubeVirt version, and the
analysis of each certificate against that policy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from harvester_conformance.catalogue import parse_version
from harvester_conformance.checks.durations import human, parse_go_duration
from harvester_conformance.checks.findings import Finding

NAMESPACE = "harvester-system"
CA_SECRET = "kubevirt-ca"  # noqa: S105 - a Secret name, not a secret
EXPORT_CA_SECRET = "kubevirt-export-ca"  # noqa: S105 - a Secret name
DEFAULT_CA_DURATION = dt.timedelta(hours=168)
DEFAULT_SERVER_DURATION = dt.timedelta(hours=24)
RENEW_FRACTION = 0.2
# The export CA and export-proxy certificates exist from KubeVirt 0.55 (Harvester v1.2.2).
EXPORT_SINCE = (0, 55)


@dataclass(frozen=True)
class Policy:
    ca_duration: dt.timedelta
    ca_renew_before: dt.timedelta
    server_duration: dt.timedelta
    server_renew_before: dt.timedelta
    sources: tuple[str, ...]  # where each non-default value came from

    def for_secret(self, cls: str) -> tuple[dt.timedelta, dt.timedelta]:
        """(duration, renewBefore) for a certificate class. The export CA takes the CA duration
        with the *server* renewBefore (upstream quirk, facts.md §1.2)."""
        if cls == "ca":
            return self.ca_duration, self.ca_renew_before
        if cls == "export-ca":
            return self.ca_duration, self.server_renew_before
        return self.server_duration, self.server_renew_before


class StrategyError(ValueError):
    """certificateRotateStrategy is not well formed."""


_SELF_SIGNED_KEYS = {"ca", "server", "caRotateInterval", "certRotateInterval", "caOverlapInterval"}
_CERT_KEYS = {"duration", "renewBefore"}


def validate_strategy(strategy: object) -> list[str]:
    """Problems with spec.certificateRotateStrategy; empty when it is {} or a valid selfSigned block."""
    if strategy in (None, {}):
        return []
    if not isinstance(strategy, dict):
        return [f"certificateRotateStrategy is a {type(strategy).__name__}, expected an object"]
    problems = [f"unknown key {k!r}" for k in strategy if k != "selfSigned"]
    self_signed = strategy.get("selfSigned")
    if self_signed in (None, {}):
        return problems
    if not isinstance(self_signed, dict):
        return [*problems, "selfSigned is not an object"]
    problems += [f"unknown key selfSigned.{k}" for k in self_signed if k not in _SELF_SIGNED_KEYS]
    fields: list[tuple[str, object]] = []
    for cls in ("ca", "server"):
        block = self_signed.get(cls)
        if block is None:
            continue
        if not isinstance(block, dict):
            problems.append(f"selfSigned.{cls} is not an object")
            continue
        problems += [f"unknown key selfSigned.{cls}.{k}" for k in block if k not in _CERT_KEYS]
        fields += [(f"selfSigned.{cls}.{k}", v) for k, v in block.items() if k in _CERT_KEYS]
    fields += [
        (f"selfSigned.{k}", self_signed[k])
        for k in ("caRotateInterval", "certRotateInterval", "caOverlapInterval")
        if k in self_signed
    ]
    parsed: dict[str, dt.timedelta] = {}
    for path, value in fields:
        try:
            parsed[path] = parse_go_duration(value)  # type: ignore[arg-type]
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
            continue
        if parsed[path] <= dt.timedelta(0):
            problems.append(f"{path} must be positive, got {value!r}")
    for cls in ("ca", "server"):
        d, r = parsed.get(f"selfSigned.{cls}.duration"), parsed.get(f"selfSigned.{cls}.renewBefore")
        if d and r and r >= d:
            problems.append(f"selfSigned.{cls}.renewBefore ({human(r)}) is not shorter than its duration ({human(d)})")
    return problems


def effective_policy(spec: dict) -> Policy:
    """Durations in force. Deprecated intervals win over the new fields; renewBefore defaults
    to 20% of the effective duration of its class (facts.md §1.2)."""
    strategy = spec.get("certificateRotateStrategy") or {}
    problems = validate_strategy(strategy)
    if problems:
        raise StrategyError("; ".join(problems))
    ss = strategy.get("selfSigned") or {}
    ca, server = ss.get("ca") or {}, ss.get("server") or {}
    sources: list[str] = []

    def first(default: dt.timedelta, label: str, *candidates: tuple[str, str | None]) -> dt.timedelta:
        for path, value in candidates:
            if value:
                sources.append(f"{label} from {path}={value}")
                return parse_go_duration(value)
        return default

    ca_d = first(
        DEFAULT_CA_DURATION,
        "CA duration",
        ("selfSigned.caRotateInterval", ss.get("caRotateInterval")),
        ("ca.duration", ca.get("duration")),
    )
    srv_d = first(
        DEFAULT_SERVER_DURATION,
        "server duration",
        ("selfSigned.certRotateInterval", ss.get("certRotateInterval")),
        ("server.duration", server.get("duration")),
    )
    ca_r = first(
        ca_d * RENEW_FRACTION,
        "CA renewBefore",
        ("selfSigned.caOverlapInterval", ss.get("caOverlapInterval")),
        ("ca.renewBefore", ca.get("renewBefore")),
    )
    srv_r = first(srv_d * RENEW_FRACTION, "server renewBefore", ("server.renewBefore", server.get("renewBefore")))
    return Policy(ca_d, ca_r, srv_d, srv_r, tuple(sources))


def managed_secrets(kubevirt_version: str | None) -> dict[str, str]:
    """Secret name -> class (ca, export-ca, server, client) that virt-operator manages."""
    secrets = {
        CA_SECRET: "ca",
        "kubevirt-operator-certs": "server",
        "kubevirt-virt-api-certs": "server",
        "kubevirt-controller-certs": "server",
        "kubevirt-virt-handler-server-certs": "server",
        "kubevirt-virt-handler-certs": "client",
    }
    if kubevirt_version is None or parse_version(kubevirt_version)[:2] >= EXPORT_SINCE:
        secrets[EXPORT_CA_SECRET] = "export-ca"
        secrets["kubevirt-exportproxy-certs"] = "server"
    return secrets


@dataclass(frozen=True)
class CertInfo:
    secret: str
    cls: str
    cert: x509.Certificate

    @property
    def not_before(self) -> dt.datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.cert.not_valid_after_utc

    @property
    def validity(self) -> dt.timedelta:
        return self.not_after - self.not_before

    @property
    def ref(self) -> str:
        return f"Secret {NAMESPACE}/{self.secret}"

    def figures(self, now: dt.datetime) -> str:
        return (
            f"issued {self.not_before:%Y-%m-%dT%H:%M:%SZ}, expires {self.not_after:%Y-%m-%dT%H:%M:%SZ}, "
            f"{human(self.not_after - now)} left"
        )


def load_certificate(secret_name: str, cls: str, pem: bytes) -> CertInfo:
    certs = x509.load_pem_x509_certificates(pem)
    return CertInfo(secret_name, cls, certs[0])


def check_validity(
    info: CertInfo, policy: Policy, now: dt.datetime, annotation: str | None, tolerance: dt.timedelta
) -> Finding | None:
    """KVC-02: the certificate was issued for the effective duration of its class.

    A CA's validity equals its duration. A leaf's NotBefore is copied from its CA (upstream
    triple/cert.NewSignedCert) and only NotAfter = issue time + duration, so for leaves the
    implied issue time NotAfter - duration must fall between the leaf's NotBefore and now.
    The operator's record of the duration, annotation kubevirt.io/duration, must match too.
    """
    duration, _ = policy.for_secret(info.cls)
    if annotation is not None:
        try:
            recorded = parse_go_duration(annotation)
        except ValueError:
            recorded = None
        if recorded is None or abs(recorded - duration) > tolerance:
            return Finding(
                info.ref,
                f"annotation kubevirt.io/duration={annotation!r}, expected {human(duration)} "
                f"({info.cls} duration in force)",
            )
    if info.cls in ("ca", "export-ca"):
        if abs(info.validity - duration) <= tolerance:
            return None
        return Finding(
            info.ref,
            f"valid for {human(info.validity)}, expected {human(duration)} "
            f"({info.cls} duration in force; tolerance {human(tolerance)})",
        )
    implied = info.not_after - duration
    if info.not_before - tolerance <= implied <= now + tolerance:
        return None
    if implied > now:
        why = f"lives {human(info.not_after - now)} more, longer than the {human(duration)} server duration"
    else:
        why = f"expires {human(info.not_after - info.not_before)} after its NotBefore, shorter than {human(duration)}"
    return Finding(info.ref, f"{why} ({info.figures(now)})")


def check_lifetime(info: CertInfo, policy: Policy, now: dt.datetime, slack: dt.timedelta) -> Finding | None:
    """KVC-03: not expired, and not inside its renewal window (renewBefore minus reconcile slack)."""
    _, renew = policy.for_secret(info.cls)
    remaining = info.not_after - now
    if remaining <= dt.timedelta(0):
        return Finding(info.ref, f"expired: {info.figures(now)}")
    if remaining < renew - slack:
        return Finding(
            info.ref,
            f"inside its renewal window and not rotated: {info.figures(now)}; "
            f"renewBefore {human(renew)} (slack {human(slack)})",
        )
    return None


def check_signed_by(info: CertInfo, ca: CertInfo) -> Finding | None:
    """KVC-04: the leaf's signature verifies against the current CA."""
    try:
        info.cert.verify_directly_issued_by(ca.cert)
        return None
    except (InvalidSignature, ValueError, TypeError) as exc:
        why = str(exc) or type(exc).__name__
        return Finding(
            info.ref, f"not signed by the current CA in {ca.ref} (issuer {info.cert.issuer.rfc4514_string()}; {why})"
        )


def check_bundle(bundle_pem: str | None, ca: CertInfo, configmap: str) -> Finding | None:
    """KVC-04: the published CA bundle contains the current CA."""
    ref = f"ConfigMap {NAMESPACE}/{configmap}"
    if not bundle_pem:
        return Finding(ref, "missing, or has no ca-bundle key")
    try:
        certs = x509.load_pem_x509_certificates(bundle_pem.encode())
    except ValueError as exc:
        return Finding(ref, f"ca-bundle does not parse: {exc}")
    if ca.cert not in certs:
        return Finding(
            ref,
            f"ca-bundle ({len(certs)} certificates) lacks the current CA of {ca.ref} "
            f"(serial {ca.cert.serial_number:x})",
        )
    return None
