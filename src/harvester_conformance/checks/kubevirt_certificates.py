"""KubeVirt certificate rotation (article kubevirt_certificates_rotation; facts.md §1, §17.9).

Effective policy from the KubeVirt CR, the certificate set per KubeVirt version, and the
analysis of each certificate and CA bundle against that policy. Pure functions over plain data
(dicts as the API returns them, PEM bytes): nothing here reads the cluster or the wall clock;
every time-dependent check takes `now` (the caller passes the snapshot's capture time).

Upstream sources (kubevirt/kubevirt; identical at v0.54.0, v1.1.1, v1.3.1, v1.4.0 and v1.5.0
unless a difference is stated):
- admission: `pkg/virt-operator/webhooks/kubevirt-update-admitter.go` `validateCertificates`;
- effective values: `pkg/virt-operator/resource/apply/certificates.go` `GetCADuration`,
  `GetCARenewBefore`, `GetCertDuration`, `GetCertRenewBefore`;
- types: `staging/src/kubevirt.io/api/core/v1/types.go` `KubeVirtSelfSignConfiguration`,
  `CertConfig` (pointer fields of `*metav1.Duration`);
- reconcile: `pkg/virt-operator/resource/apply/core.go` `createOrUpdateComponentsWithCertificates`,
  `shouldUpdateBundle`; `pkg/virt-operator/resource/generate/components/secrets.go` `MergeCABundle`.

cryptography and KubeVirt 0.54's CA: 0.54 issues its self-signed CA with serial number 0
(`pkg/certificates/triple/cert/cert.go@v0.54.0` `NewSelfSignedCACert`: `SetInt64(0)`; random
serials from v0.55.0). cryptography 43.x/44.x parse it silently; from 45.0.0 (pyca/cryptography
PR #12853) loading it, and reading `serial_number`, emit `CryptographyDeprecationWarning`
("Parsed a serial number which wasn't positive …") and announce an exception in a future
release; 50.0.2 still only warns. pyproject.toml therefore bounds cryptography to < 51 and this
module silences exactly that warning, locally, around its loads and serial-number reads.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.utils import CryptographyDeprecationWarning

from harvester_conformance.checks.durations import human, parse_go_duration, parse_go_duration_ns
from harvester_conformance.checks.findings import Finding

NAMESPACE = "harvester-system"
CA_SECRET = "kubevirt-ca"  # noqa: S105 - a Secret name, not a secret
EXPORT_CA_SECRET = "kubevirt-export-ca"  # noqa: S105 - a Secret name
DEFAULT_CA_DURATION = dt.timedelta(hours=168)  # apply.Duration7d
DEFAULT_SERVER_DURATION = dt.timedelta(hours=24)  # apply.Duration1d
RENEW_FRACTION = 0.2
# The export CA and export-proxy certificates exist from KubeVirt 0.55 (Harvester v1.2.2).
EXPORT_SINCE = (0, 55)
# KubeVirt 0.55-0.57 issue the export CA for a fixed 7 days renewed 5 days before expiry
# (core.go@v0.55.0/@v0.57.1: caExportDuration 24h*7, caExportRenewBefore 24h*5); from 0.58 it
# takes the CA duration with the *server* renewBefore (core.go@v0.58.0 … v1.5.0).
EXPORT_CA_FIXED_UNTIL = (0, 58)
EXPORT_CA_FIXED = (dt.timedelta(hours=168), dt.timedelta(hours=120))
# secrets.go NewCertSecrets: v1.6.0 adds the synchronization-controller certificates (Harvester
# v1.7), v1.7.0 the virt-handler migration/vsock client certificates (Harvester v1.8).
SYNCHRONIZATION_SINCE = (1, 6)
HANDLER_CLIENTS_SINCE = (1, 7)
# The newest KubeVirt line whose managed-secret list this module was checked against
# (secrets.go @v0.55.0 … v1.7.4; v1.8.0 adds the backup CA and virt-template certificates).
NEWEST_CHECKED = (1, 7)

_ADMITTER = "kubevirt-update-admitter.go validateCertificates"
_SERIAL_WARNING = r"Parsed a serial number which wasn't positive"


# --- cryptography: tolerate KubeVirt 0.54's serial-0 CA, locally ----------------------------


@contextlib.contextmanager
def _serial_zero_tolerated() -> Iterator[None]:
    """Silence cryptography's warning about non-positive serial numbers (and nothing else)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SERIAL_WARNING, category=CryptographyDeprecationWarning)
        yield


def _load_pem_certificates(pem: bytes) -> list[x509.Certificate]:
    with _serial_zero_tolerated():
        return x509.load_pem_x509_certificates(pem)


def serial_number(cert: x509.Certificate) -> int:
    """The certificate's serial number; 0 for KubeVirt 0.54's CA, without the warning."""
    with _serial_zero_tolerated():
        return cert.serial_number


# --- the policy: admission rules and effective values ------------------------------------------


@dataclass(frozen=True)
class Policy:
    ca_duration: dt.timedelta
    ca_renew_before: dt.timedelta
    server_duration: dt.timedelta
    server_renew_before: dt.timedelta
    sources: tuple[str, ...]  # where each non-default value came from
    # (duration, renewBefore) of the export CA when it does not follow the CA/server values:
    # set only for KubeVirt 0.55-0.57 (see effective_policy's kubevirt_version).
    export_ca: tuple[dt.timedelta, dt.timedelta] | None = None

    def for_secret(self, cls: str) -> tuple[dt.timedelta, dt.timedelta]:
        """(duration, renewBefore) for a certificate class ("ca", "export-ca", "server", "client").

        The export CA takes the CA duration with the *server* renewBefore: the rule of KubeVirt
        0.58 and later (core.go `caExportRenewBefore := GetCertRenewBefore(...)`), i.e. of every
        Harvester release that has an export CA (v1.2.2 and later ship KubeVirt >= 1.1). KubeVirt
        0.55-0.57 fixed it at 168h/120h instead; no Harvester release ships those, and the fixed
        values apply only when `effective_policy` was told such a version. Leaves (server and
        client) all take the server values (core.go `createOrUpdateCertificateSecrets`).
        """
        if cls == "ca":
            return self.ca_duration, self.ca_renew_before
        if cls == "export-ca":
            return self.export_ca or (self.ca_duration, self.server_renew_before)
        return self.server_duration, self.server_renew_before


class StrategyError(ValueError):
    """certificateRotateStrategy is not well formed."""


@dataclass(frozen=True)
class StrategyProblem:
    """One problem of a certificateRotateStrategy.

    kind: "unknown-key" (not a field of the API types: the apiserver prunes it and Go's JSON
    decoding ignores it, so it has no effect), "schema" (wrong type: the CRD schema refuses it
    and Go cannot decode it), "decode" (a duration time.ParseDuration refuses: neither the
    admission webhook nor virt-operator can decode the CR), "admission" (refused by upstream
    validateCertificates on UPDATE; CREATE is not validated, kubevirt-create-admitter.go),
    "suite" (admitted upstream but puts expired certificates in service: this suite's rule).
    """

    field: str
    message: str
    kind: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    @property
    def fatal(self) -> bool:
        """The strategy cannot be decoded: the policy in force is unknown."""
        return self.kind in ("schema", "decode")


_SELF_SIGNED_KEYS = {"ca", "server", "caRotateInterval", "certRotateInterval", "caOverlapInterval"}
_DEPRECATED = ("caRotateInterval", "certRotateInterval", "caOverlapInterval")
_CERT_KEYS = {"duration", "renewBefore"}


@dataclass(frozen=True)
class _Effective:
    """The four values upstream's getters return, each with where it came from."""

    ca_d: tuple[dt.timedelta, str]
    ca_r: tuple[dt.timedelta, str]
    srv_d: tuple[dt.timedelta, str]
    srv_r: tuple[dt.timedelta, str]


def _fifth(d: dt.timedelta, of: str) -> tuple[dt.timedelta, str]:
    # time.Duration(float64(d) * 0.2): float product, truncated to whole nanoseconds.
    ns = int(float(d // dt.timedelta(microseconds=1) * 1000) * RENEW_FRACTION)
    return dt.timedelta(microseconds=int(ns / 1000)), f"default, 20% of {of}"


def _getters(ss: dict, values: dict[str, dt.timedelta]) -> _Effective:
    """apply/certificates.go: a deprecated field, when set (non-nil), wins over the new one;
    renewBefore defaults to 20% of the effective duration of its class. The server renewBefore
    has no deprecated counterpart."""

    def pick(default: tuple[dt.timedelta, str], *paths: str) -> tuple[dt.timedelta, str]:
        for path in paths:
            if path in values:
                return values[path], path
        return default

    ca_d = pick((DEFAULT_CA_DURATION, "default"), "selfSigned.caRotateInterval", "selfSigned.ca.duration")
    ca_r = pick(_fifth(ca_d[0], "the CA duration"), "selfSigned.caOverlapInterval", "selfSigned.ca.renewBefore")
    srv_d = pick((DEFAULT_SERVER_DURATION, "default"), "selfSigned.certRotateInterval", "selfSigned.server.duration")
    srv_r = pick(_fifth(srv_d[0], "the server duration"), "selfSigned.server.renewBefore")
    return _Effective(ca_d, ca_r, srv_d, srv_r)


def _decode(strategy: object) -> tuple[dict, dict[str, dt.timedelta], list[StrategyProblem]]:
    """(selfSigned block, parsed durations by path, schema/decode problems). JSON null counts
    as absent, as it leaves Go's pointer nil."""
    if strategy is None or strategy == {}:
        return {}, {}, []
    if not isinstance(strategy, dict):
        wrong = f"is a {type(strategy).__name__}, expected an object"
        return {}, {}, [StrategyProblem("certificateRotateStrategy", wrong, "schema")]
    unknown = "unknown key (not a field of KubeVirtCertificateRotateStrategy)"
    problems = [
        StrategyProblem(f"certificateRotateStrategy.{k}", unknown, "unknown-key") for k in strategy if k != "selfSigned"
    ]
    ss = strategy.get("selfSigned")
    if ss is None:
        return {}, {}, problems
    if not isinstance(ss, dict):
        return {}, {}, [*problems, StrategyProblem("selfSigned", "is not an object", "schema")]
    problems += [
        StrategyProblem(f"selfSigned.{k}", "unknown key (not a field of KubeVirtSelfSignConfiguration)", "unknown-key")
        for k in ss
        if k not in _SELF_SIGNED_KEYS
    ]
    fields: list[tuple[str, object]] = []
    for cls in ("ca", "server"):
        block = ss.get(cls)
        if block is None:
            continue
        if not isinstance(block, dict):
            problems.append(StrategyProblem(f"selfSigned.{cls}", "is not an object (CertConfig)", "schema"))
            continue
        problems += [
            StrategyProblem(f"selfSigned.{cls}.{k}", "unknown key (not a field of CertConfig)", "unknown-key")
            for k in block
            if k not in _CERT_KEYS
        ]
        fields += [(f"selfSigned.{cls}.{k}", v) for k, v in block.items() if k in _CERT_KEYS and v is not None]
    fields += [(f"selfSigned.{k}", ss[k]) for k in _DEPRECATED if ss.get(k) is not None]
    values: dict[str, dt.timedelta] = {}
    for path, value in fields:
        if not isinstance(value, str):
            wrong = f'is a {type(value).__name__}, expected a duration string such as "24h"'
            problems.append(StrategyProblem(path, wrong, "schema"))
            continue
        try:
            parse_go_duration_ns(value)
        except ValueError as exc:
            problems.append(
                StrategyProblem(
                    path,
                    f"invalid duration {value!r}: {exc} (metav1.Duration.UnmarshalJSON uses time.ParseDuration: "
                    "units ns/us/ms/s/m/h, no days; the update admitter cannot decode the CR and refuses "
                    "every update, and virt-operator cannot decode it either)",
                    "decode",
                )
            )
            continue
        values[path] = parse_go_duration(value)
    return ss, values, problems


def strategy_problems(strategy: object) -> list[StrategyProblem]:
    """Every problem of spec.certificateRotateStrategy, in upstream's order.

    Upstream (`validateCertificates`, identical at every tag checked) compares the *effective*
    values, defaults included:
    - the deprecated `caRotateInterval`/`certRotateInterval`/`caOverlapInterval` may not be set
      together with `selfSigned.ca` or `selfSigned.server` (any non-null object, even `{}`);
    - CA renewBefore may not exceed the CA duration, nor the server renewBefore the server
      duration: equal is allowed (`Duration < RenewBefore` is refused);
    - the server duration may not exceed the CA duration (equal allowed).
    Upstream has no rule against zero or negative values; this suite adds one ("suite"): a
    duration <= 0 or a renewBefore <= 0 puts expired certificates in service.
    """
    ss, values, problems = _decode(strategy)
    if any(p.fatal for p in problems) or not ss:
        return problems  # the admitter cannot decode the CR; or selfSigned nil/empty: defaults only
    deprecated = [k for k in _DEPRECATED if ss.get(k) is not None]
    current = [k for k in ("ca", "server") if ss.get(k) is not None]
    if deprecated and current:
        problems.append(
            StrategyProblem(
                "selfSigned",
                f"deprecated {', '.join(deprecated)} set together with "
                f"{', '.join('selfSigned.' + k for k in current)}; "
                f'upstream refuses mixing them ({_ADMITTER}: "caRotateInterval, certRotateInterval and '
                'caOverlapInterval are deprecated and conflict with CertConfig defined rotation parameters")',
                "admission",
            )
        )
    eff = _getters(ss, values)

    def show(value: tuple[dt.timedelta, str]) -> str:
        return f"{human(value[0])} ({value[1]})"

    def blame(fallback: str, *effective: tuple[dt.timedelta, str]) -> str:
        """The configured field(s) behind the compared values."""
        return " and ".join(path for _, path in effective if path in values) or fallback

    if eff.ca_d[0] < eff.ca_r[0]:
        problems.append(
            StrategyProblem(
                blame("selfSigned.ca", eff.ca_r, eff.ca_d),
                f"CA renewBefore {show(eff.ca_r)} exceeds the effective CA duration {show(eff.ca_d)}; "
                f"upstream refuses a renewBefore longer than its duration, equal is allowed "
                f'({_ADMITTER}: "CA RenewBefore cannot exceed Duration")',
                "admission",
            )
        )
    if eff.srv_d[0] < eff.srv_r[0]:
        problems.append(
            StrategyProblem(
                blame("selfSigned.server", eff.srv_r, eff.srv_d),
                f"server renewBefore {show(eff.srv_r)} exceeds the effective server duration {show(eff.srv_d)}; "
                f"upstream refuses a renewBefore longer than its duration, equal is allowed "
                f'({_ADMITTER}: "Cert RenewBefore cannot exceed Duration")',
                "admission",
            )
        )
    if eff.srv_d[0] > eff.ca_d[0]:
        problems.append(
            StrategyProblem(
                blame("selfSigned.server.duration", eff.srv_d, eff.ca_d),
                f"server duration {show(eff.srv_d)} exceeds the effective CA duration {show(eff.ca_d)}; "
                f'upstream refuses it, equal is allowed ({_ADMITTER}: "Certificate duration cannot exceed CA")',
                "admission",
            )
        )
    for path, value in values.items():
        if value <= dt.timedelta(0):
            problems.append(
                StrategyProblem(
                    path,
                    f"must be positive, got {human(value)} (suite rule: upstream admission does not refuse it, "
                    "but virt-operator would then serve certificates that are already expired or renewed "
                    "only after expiry)",
                    "suite",
                )
            )
    return problems


def validate_strategy(strategy: object) -> list[str]:
    """Problems with spec.certificateRotateStrategy as "<field>: <what, and the upstream rule>";
    empty when it is {} / null or a valid selfSigned block. See `strategy_problems`."""
    return [str(p) for p in strategy_problems(strategy)]


def effective_policy(spec: dict, *, strict: bool = False, kubevirt_version: str | None = None) -> Policy:
    """Durations in force: what virt-operator applies (apply/certificates.go getters).

    Deprecated fields win over the new ones even when both are set (upstream: "deprecated, but
    takes priority to provide a smooth upgrade path"); renewBefore defaults to 20% of the
    effective duration of its class. Admission problems do not make the policy unknown: the
    operator applies the values all the same (and CREATE is not validated). StrategyError is
    raised only when the operator could not decode the strategy (wrong types, durations
    time.ParseDuration refuses) - or, with strict=True, on any `validate_strategy` problem.
    With `kubevirt_version` in 0.55-0.57 the export CA gets its fixed 168h/120h.
    """
    strategy = (spec or {}).get("certificateRotateStrategy")
    problems = strategy_problems(strategy)
    fatal = [p for p in problems if strict or p.fatal]
    if fatal:
        raise StrategyError("; ".join(str(p) for p in fatal))
    ss, values, _ = _decode(strategy)
    eff = _getters(ss, values)
    sources = [
        f"{label} from {path}={_value_at(ss, path)}"
        for label, (_, path) in (
            ("CA duration", eff.ca_d),
            ("CA renewBefore", eff.ca_r),
            ("server duration", eff.srv_d),
            ("server renewBefore", eff.srv_r),
        )
        if path in values
    ]
    export_ca = None
    version = parse_kubevirt_version(kubevirt_version)
    if version is not None and EXPORT_SINCE <= version[:2] < EXPORT_CA_FIXED_UNTIL:
        export_ca = EXPORT_CA_FIXED
        sources.append("export CA fixed at 168h/120h (KubeVirt 0.55-0.57)")
    return Policy(eff.ca_d[0], eff.ca_r[0], eff.srv_d[0], eff.srv_r[0], tuple(sources), export_ca)


def _value_at(ss: dict, path: str) -> object:
    """The raw value at a "selfSigned.x[.y]" path of a selfSigned block."""
    node: object = ss
    for part in path.split(".")[1:]:
        node = node.get(part) if isinstance(node, dict) else None
    return node


# --- versions and the managed certificate set -------------------------------------------------

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+._@~].*)?\s*$")


def parse_kubevirt_version(text: object) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a KubeVirt version or image tag; None when it is none.

    Accepts "v1.5.0", "1.1.1-150500.8.15.1" (SUSE builds), "v1.5.0-rc.1" / "0.54.0-rc1" (a
    pre-release counts as its release), "1.3.1@sha256:…" (digest-pinned tag). None for None,
    "", "latest", a bare digest or anything else. Never raises.
    """
    if not isinstance(text, str):
        return None
    m = _VERSION.match(text)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def managed_secrets(kubevirt_version: str | None) -> dict[str, str]:
    """Secret name -> class (ca, export-ca, server, client) that virt-operator manages.

    Never raises: an unknown or unparsable version (None, "", "latest", a digest, garbage)
    means the newest known set; `secret_set_rule` says which rule applied.
    """
    secrets = {
        CA_SECRET: "ca",
        "kubevirt-operator-certs": "server",
        "kubevirt-virt-api-certs": "server",
        "kubevirt-controller-certs": "server",
        "kubevirt-virt-handler-server-certs": "server",
        "kubevirt-virt-handler-certs": "client",
    }
    version = parse_kubevirt_version(kubevirt_version)
    newest = version is None
    if newest or version[:2] >= EXPORT_SINCE:
        secrets[EXPORT_CA_SECRET] = "export-ca"
        secrets["kubevirt-exportproxy-certs"] = "server"
    if newest or version[:2] >= SYNCHRONIZATION_SINCE:
        secrets["kubevirt-synchronization-controller-certs"] = "client"
        secrets["kubevirt-synchronization-controller-server-certs"] = "server"
    if newest or version[:2] >= HANDLER_CLIENTS_SINCE:
        secrets["kubevirt-virt-handler-migration-client-certs"] = "client"
        secrets["kubevirt-virt-handler-vsock-client-certs"] = "client"
    return secrets


def secret_set_rule(kubevirt_version: str | None) -> str:
    """Which rule `managed_secrets(kubevirt_version)` applied, in words (for reports)."""
    version = parse_kubevirt_version(kubevirt_version)
    if version is None:
        return (
            f"KubeVirt version unknown ({kubevirt_version!r}): the newest known set is assumed "
            "(KubeVirt 1.7, 12 secrets including the export CA, the synchronization-controller and "
            "the virt-handler migration/vsock client certificates)"
        )
    shown = ".".join(map(str, version))
    if version[:2] < EXPORT_SINCE:
        return f"KubeVirt {shown} < 0.55: 6 secrets, no export CA nor export-proxy certificate (secrets.go@v0.54.0)"
    if version[:2] < SYNCHRONIZATION_SINCE:
        return f"KubeVirt {shown}: 8 secrets including the export CA (secrets.go, unchanged v0.55.0 … v1.5.x)"
    if version[:2] < HANDLER_CLIENTS_SINCE:
        return (
            f"KubeVirt {shown}: 10 secrets, the 8 of 1.5 plus the synchronization-controller pair (secrets.go@v1.6.x)"
        )
    if version[:2] <= NEWEST_CHECKED:
        return (
            f"KubeVirt {shown}: 12 secrets, the 10 of 1.6 plus the virt-handler migration and vsock client "
            "certificates (secrets.go@v1.7.x)"
        )
    return (
        f"KubeVirt {shown} is newer than the newest version checked (1.7): the 1.7 set of 12 secrets is used; "
        "KubeVirt 1.8 and later manage more certificates (backup CA, virt-template), which are not checked"
    )


def operator_image_version(deployment: dict | None) -> str | None:
    """The version tag of virt-operator's image (Deployment harvester-system/virt-operator,
    spec.template.spec.containers[].image; the container named virt-operator first). None when
    untagged, tagged "latest" or another non-version, or pinned by digest only."""
    containers = ((((deployment or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    containers = sorted((c for c in containers if isinstance(c, dict)), key=lambda c: c.get("name") != "virt-operator")
    for container in containers:
        image = container.get("image")
        if not isinstance(image, str):
            continue
        name, _, tag = image.split("@", 1)[0].rpartition(":")
        if name and "/" not in tag and parse_kubevirt_version(tag) is not None:
            return tag
    return None


def kubevirt_version(kubevirt_cr: dict | None, operator_deployment: dict | None) -> str | None:
    """KubeVirt's version: status.observedKubeVirtVersion of the KubeVirt CR when it is a
    version, else the tag of virt-operator's image; None when neither tells."""
    observed = ((kubevirt_cr or {}).get("status") or {}).get("observedKubeVirtVersion")
    if parse_kubevirt_version(observed) is not None:
        return observed
    return operator_image_version(operator_deployment)


# --- certificates ------------------------------------------------------------------------------


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
    """The first certificate of a tls.crt. Reads KubeVirt 0.54's serial-0 CA without warning."""
    certs = _load_pem_certificates(pem)
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
    """KVC-03: not expired, and not inside its renewal window (renewBefore minus reconcile slack).
    `now` is the snapshot's capture time: the certificate is judged as it was when read."""
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


# --- CA bundles: the ConfigMap and where virt-operator copies it ------------------------------

# core.go createOrUpdateComponentsWithCertificates copies the kubevirt-ca bundle into every
# webhook of every Validating/MutatingWebhookConfiguration and into every APIService of the
# install strategy (install/strategy.go; names in components/webhooks.go and apiservices.go,
# the same at v0.54.0 … v1.5.0). virt-operator-validator serves from kubevirt-operator-certs,
# also signed by kubevirt-ca, so it carries the same bundle.
WEBHOOK_CONFIGURATIONS: tuple[tuple[str, str], ...] = (
    ("ValidatingWebhookConfiguration", "virt-operator-validator"),
    ("ValidatingWebhookConfiguration", "virt-api-validator"),
    ("MutatingWebhookConfiguration", "virt-api-mutator"),
)
# v1.SubresourceGroupVersions: v1 and v1alpha3 of subresources.kubevirt.io (register.go).
SUBRESOURCE_API_SERVICES: tuple[str, ...] = ("v1.subresources.kubevirt.io", "v1alpha3.subresources.kubevirt.io")
CA_BUNDLE_TARGETS: tuple[tuple[str, str], ...] = (
    *WEBHOOK_CONFIGURATIONS,
    *(("APIService", name) for name in SUBRESOURCE_API_SERVICES),
)
# MergeCABundle keeps at most the 10 newest certificates parsed from the previous bundle.
BUNDLE_KEEP = 10


def _ca_label(ca: CertInfo) -> str:
    return f"the current CA of {ca.ref} (serial {serial_number(ca.cert):x}, expires {ca.not_after:%Y-%m-%dT%H:%M:%SZ})"


def _decode_ca_bundle(value: object) -> tuple[list[x509.Certificate] | None, str]:
    """Certificates of a Kubernetes `caBundle` ([]byte: base64 in JSON; raw PEM bytes accepted)."""
    if value in (None, "", b""):
        return None, "has no caBundle"
    if isinstance(value, bytes) and value.lstrip().startswith(b"-----BEGIN"):
        pem = value
    elif isinstance(value, str | bytes):
        try:
            pem = base64.b64decode(value[:0].join(value.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            return None, f"caBundle is not base64 ({exc})"
    else:
        return None, f"caBundle is a {type(value).__name__}, expected base64 text"
    try:
        return _load_pem_certificates(pem), ""
    except ValueError as exc:
        return None, f"caBundle does not parse as PEM certificates ({exc})"


def check_bundle(bundle_pem: str | None, ca: CertInfo, configmap: str) -> Finding | None:
    """KVC-04: the published CA bundle (ConfigMap key ca-bundle) contains the current CA.

    Only containment is the invariant. Upstream's bundle maintenance (MergeCABundle: current CA
    first, old CAs kept for the CA renewBefore, expired ones and all but the 10 newest dropped)
    is reported by `bundle_notes`, not here: order does not matter to verification, an expired CA
    verifies nothing, and the operator itself may publish 11 (the current plus 10 kept).
    """
    ref = f"ConfigMap {NAMESPACE}/{configmap}"
    if not bundle_pem:
        return Finding(ref, "missing, or has no ca-bundle key")
    try:
        certs = _load_pem_certificates(bundle_pem.encode())
    except ValueError as exc:
        return Finding(ref, f"ca-bundle does not parse: {exc}")
    if ca.cert not in certs:
        return Finding(
            ref,
            f"ca-bundle ({len(certs)} certificates) lacks the current CA of {ca.ref} "
            f"(serial {serial_number(ca.cert):x})",
        )
    return None


def bundle_notes(bundle_pem: str | None, ca: CertInfo, now: dt.datetime) -> list[str]:
    """Notes (not KVC-04 violations) where a CA bundle departs from what MergeCABundle writes.

    MergeCABundle (secrets.go, identical v0.54.0 … v1.5.0) writes the current CA first, then the
    previous CAs newest first while the CA that replaced each is younger than the overlap (the
    CA renewBefore), skipping expired ones; it parses at most 10 certificates of the old bundle,
    so a bundle it wrote holds at most 11. Reported: current CA not first, more than 11
    certificates, certificates expired at `now`. An expired old CA can linger until the next
    reconcile (the operator re-queues after the overlap), hence a note rather than a finding.
    """
    if not bundle_pem:
        return []
    try:
        certs = _load_pem_certificates(bundle_pem.encode())
    except ValueError:
        return []  # check_bundle reports it
    notes = []
    if certs and certs[0] != ca.cert and ca.cert in certs:
        notes.append(f"the current CA is certificate {certs.index(ca.cert) + 1} of {len(certs)}, not the first")
    if len(certs) > BUNDLE_KEEP + 1:
        notes.append(
            f"{len(certs)} certificates: more than virt-operator keeps (the current CA plus at most {BUNDLE_KEEP})"
        )
    expired = [c for c in certs if c.not_valid_after_utc <= now]
    if expired:
        notes.append(
            f"{len(expired)} expired certificate(s), e.g. serial {serial_number(expired[0]):x} "
            f"expired {expired[0].not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
        )
    return notes


def check_webhook_bundle(kind: str, name: str, obj: dict | None, ca: CertInfo) -> Finding | None:
    """KVC-04: every webhook of a Validating/MutatingWebhookConfiguration (cluster-scoped) has a
    clientConfig.caBundle holding the current CA of kubevirt-ca."""
    ref = f"{kind} {name}"
    if obj is None:
        return Finding(ref, "missing")
    webhooks = obj.get("webhooks") or []
    if not webhooks:
        return Finding(ref, "has no webhooks, so nothing carries the KubeVirt CA bundle")
    bad = []
    for i, hook in enumerate(webhooks):
        hook = hook if isinstance(hook, dict) else {}
        label = hook.get("name") or f"webhooks[{i}]"
        certs, problem = _decode_ca_bundle((hook.get("clientConfig") or {}).get("caBundle"))
        if certs is None:
            bad.append(f"{label}: {problem}")
        elif ca.cert not in certs:
            bad.append(f"{label}: caBundle ({len(certs)} certificates) lacks {_ca_label(ca)}")
    if not bad:
        return None
    return Finding(ref, f"{len(bad)} of {len(webhooks)} webhooks: " + "; ".join(bad))


def check_api_service_bundle(name: str, obj: dict | None, ca: CertInfo) -> Finding | None:
    """KVC-04: an APIService (cluster-scoped) has a spec.caBundle holding the current CA."""
    ref = f"APIService {name}"
    if obj is None:
        return Finding(ref, "missing")
    certs, problem = _decode_ca_bundle((obj.get("spec") or {}).get("caBundle"))
    if certs is None:
        return Finding(ref, f"spec: {problem}")
    if ca.cert not in certs:
        return Finding(ref, f"spec.caBundle ({len(certs)} certificates) lacks {_ca_label(ca)}")
    return None


def check_published_bundle(kind: str, name: str, obj: dict | None, ca: CertInfo) -> Finding | None:
    """KVC-04 for one of CA_BUNDLE_TARGETS: dispatches on kind."""
    if kind == "APIService":
        return check_api_service_bundle(name, obj, ca)
    return check_webhook_bundle(kind, name, obj, ca)
