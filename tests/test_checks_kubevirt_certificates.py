"""Unit tests of the KubeVirt certificate analysis (pure functions, no cluster)."""

from __future__ import annotations

import ast
import base64
import datetime as dt
import inspect
import shutil
import subprocess
import warnings
from pathlib import Path

import cryptography
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from harvester_conformance.checks import kubevirt_certificates as kc
from harvester_conformance.checks.durations import human, parse_go_duration
from harvester_conformance.emulator import pki

H = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    "text,hours", [("168h", 168), ("33.6h", 33.6), ("1h30m", 1.5), ("90m", 1.5), ("4h48m0s", 4.8), ("0", 0)]
)
def test_go_durations_parse(text: str, hours: float) -> None:
    assert parse_go_duration(text) == dt.timedelta(hours=hours)


@pytest.mark.parametrize("text", ["7d", "1 day", "", "h", "24", "1h 30m"])
def test_go_durations_reject_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_default_policy_is_the_articles() -> None:
    p = kc.effective_policy({"certificateRotateStrategy": {}})
    assert (p.ca_duration, p.ca_renew_before) == (168 * H, dt.timedelta(hours=33.6))
    assert (p.server_duration, p.server_renew_before) == (24 * H, dt.timedelta(hours=4.8))
    assert human(p.ca_renew_before) == "33.6h"


def test_renew_before_defaults_to_a_fifth_of_the_configured_duration() -> None:
    p = kc.effective_policy({"certificateRotateStrategy": {"selfSigned": {"ca": {"duration": "100h"}}}})
    assert p.ca_renew_before == 20 * H
    assert p.server_duration == 24 * H


def test_deprecated_intervals_take_priority() -> None:
    p = kc.effective_policy(
        {
            "certificateRotateStrategy": {
                "selfSigned": {"caRotateInterval": "48h", "ca": {"duration": "100h"}, "certRotateInterval": "10h"}
            }
        }
    )
    assert p.ca_duration == 48 * H and p.server_duration == 10 * H


def test_export_ca_uses_ca_duration_with_server_renew_before() -> None:
    p = kc.effective_policy({})
    assert p.for_secret("export-ca") == (168 * H, dt.timedelta(hours=4.8))


@pytest.mark.parametrize(
    "strategy,fragment",
    [
        ({"selfSigned": {"ca": {"duration": "7d"}}}, "invalid duration"),
        # was "not shorter": upstream allows renewBefore == duration, so the message now says "exceeds"
        ({"selfSigned": {"server": {"duration": "24h", "renewBefore": "30h"}}}, "exceeds"),
        ({"selfSigned": {"server": {"lifetime": "24h"}}}, "unknown key"),
        ({"selfSigned": {"ca": {"duration": "-1h"}}}, "positive"),
        ("yes", "expected an object"),
    ],
)
def test_malformed_strategies_are_named(strategy: object, fragment: str) -> None:
    problems = kc.validate_strategy(strategy)
    assert problems and any(fragment in p for p in problems), problems


def test_export_secrets_only_from_kubevirt_0_55() -> None:
    assert "kubevirt-export-ca" not in kc.managed_secrets("0.54.0-150400.3.19.1")
    assert "kubevirt-exportproxy-certs" in kc.managed_secrets("1.1.1-150500.8.15.1")
    assert len(kc.managed_secrets("v1.1.1")) == 8 and len(kc.managed_secrets("v0.54.0")) == 6


def _leaf(ca: pki.KeyPair, issued_ago: dt.timedelta, duration: dt.timedelta) -> kc.CertInfo:
    issued = pki.now() - issued_ago
    pair = pki.issue(ca, "virt-api", duration, not_before=ca.cert.not_valid_before_utc, not_after=issued + duration)
    return kc.load_certificate("kubevirt-virt-api-certs", "server", pair.cert_pem)


def test_leaf_with_ca_notbefore_passes_validity_like_upstream() -> None:
    ca = pki.make_ca("kubevirt.io", 168 * H, not_before=pki.now() - 72 * H)
    info = _leaf(ca, 3 * H, 24 * H)  # NotBefore is the CA's, 72h ago: validity 93h, still correct
    assert kc.check_validity(info, kc.effective_policy({}), pki.now(), "24h0m0s", 5 * dt.timedelta(minutes=1)) is None


def test_leaf_issued_for_too_long_is_found() -> None:
    ca = pki.make_ca("kubevirt.io", 168 * H)
    info = _leaf(ca, dt.timedelta(0), 48 * H)
    f = kc.check_validity(info, kc.effective_policy({}), pki.now(), "24h0m0s", dt.timedelta(minutes=5))
    assert f is not None and "kubevirt-virt-api-certs" in f.object and "longer" in f.message


def test_wrong_duration_annotation_is_found() -> None:
    ca = pki.make_ca("kubevirt.io", 168 * H)
    info = _leaf(ca, dt.timedelta(0), 24 * H)
    f = kc.check_validity(info, kc.effective_policy({}), pki.now(), "48h0m0s", dt.timedelta(minutes=5))
    assert f is not None and "annotation" in f.message


def test_lifetime_window() -> None:
    ca = pki.make_ca("kubevirt.io", 168 * H, not_before=pki.now() - 30 * H)
    policy, slack = kc.effective_policy({}), dt.timedelta(minutes=15)
    assert kc.check_lifetime(_leaf(ca, 10 * H, 24 * H), policy, pki.now(), slack) is None
    inside = kc.check_lifetime(_leaf(ca, 22 * H, 24 * H), policy, pki.now(), slack)
    assert inside is not None and "renewal window" in inside.message and "2h left" in inside.message
    expired = kc.check_lifetime(_leaf(ca, 25 * H, 24 * H), policy, pki.now(), slack)
    assert expired is not None and "expired" in expired.message


def test_chain_and_bundle() -> None:
    ca, other = pki.make_ca("kubevirt.io", 168 * H), pki.make_ca("kubevirt.io", 168 * H)
    ca_info = kc.load_certificate("kubevirt-ca", "ca", ca.cert_pem)
    assert kc.check_signed_by(_leaf(ca, H, 24 * H), ca_info) is None
    assert kc.check_signed_by(_leaf(other, H, 24 * H), ca_info) is not None
    assert kc.check_bundle((other.cert_pem + ca.cert_pem).decode(), ca_info, "kubevirt-ca") is None
    missing = kc.check_bundle(other.cert_pem.decode(), ca_info, "kubevirt-ca")
    assert missing is not None and "lacks the current CA" in missing.message


# --- Go durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("+1h", dt.timedelta(hours=1)),
        ("-0", dt.timedelta(0)),
        ("1.h", dt.timedelta(hours=1)),
        (".5h", dt.timedelta(minutes=30)),
        ("1µs", dt.timedelta(microseconds=1)),  # U+00B5
        ("1μs", dt.timedelta(microseconds=1)),  # U+03BC
        ("24h0m0s", dt.timedelta(hours=24)),  # how metav1.Duration marshals (kubevirt.io/duration annotation)
        ("2562047h", dt.timedelta(hours=2562047)),
    ],
)
def test_go_durations_accept_what_go_accepts(text: str, expected: dt.timedelta) -> None:
    """metav1.Duration.UnmarshalJSON calls time.ParseDuration
    (vendor/k8s.io/apimachinery/pkg/apis/meta/v1/duration.go @v0.54.0 and @v1.5.0)."""
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize(
    "text,message",
    [
        ("7d", 'time: unknown unit "d" in duration "7d"'),
        ("24", 'time: missing unit in duration "24"'),
        (" 24h", 'time: invalid duration " 24h"'),  # Go does not trim
        ("--1h", 'time: invalid duration "--1h"'),  # one sign only
        (".h", 'time: invalid duration ".h"'),
        ("2562048h", 'time: invalid duration "2562048h"'),  # beyond int64 nanoseconds
        ("-", 'time: invalid duration "-"'),
    ],
)
def test_go_durations_reject_with_gos_message(text: str, message: str) -> None:
    """time.ParseDuration's errors, as the admission webhook would report them."""
    with pytest.raises(ValueError) as exc:
        parse_go_duration(text)
    assert str(exc.value) == message


# --- KVC-01: upstream admission (validateCertificates) -------------------------------------------

ADMITTER = "pkg/virt-operator/webhooks/kubevirt-update-admitter.go validateCertificates"


@pytest.mark.parametrize(
    "self_signed",
    [
        {"server": {"duration": "24h", "renewBefore": "24h"}},  # equal is allowed
        {"server": {"renewBefore": "24h"}},  # equal to the default server duration
        {"ca": {"renewBefore": "168h"}},  # equal to the default CA duration
        {"ca": {"duration": "100h", "renewBefore": "100h"}},
        {"caRotateInterval": "48h", "caOverlapInterval": "48h", "certRotateInterval": "24h"},
        {"server": {"duration": "168h"}},  # server duration equal to the CA duration
        {"certRotateInterval": "168h"},
        {"ca": {"duration": "48h"}, "server": {"duration": "10h", "renewBefore": "2h"}},
        {"caRotateInterval": "48h", "ca": None, "server": None},  # JSON null leaves the pointers nil
        {"ca": {"duration": None}},
        {},
    ],
)
def test_admission_allows(self_signed: dict) -> None:
    """Allowed by kubevirt-update-admitter.go validateCertificates (identical at v0.54.0, v1.1.1,
    v1.3.1, v1.4.0, v1.5.0): only `Duration < RenewBefore` and `server > CA duration` are refused,
    computed on the effective values of apply/certificates.go."""
    assert kc.validate_strategy({"selfSigned": self_signed}) == []


@pytest.mark.parametrize(
    "self_signed,field,upstream",
    [
        (
            {"server": {"duration": "24h", "renewBefore": "24h1s"}},
            "selfSigned.server",
            "Cert RenewBefore cannot exceed",
        ),
        ({"server": {"renewBefore": "30h"}}, "selfSigned.server.renewBefore", "Cert RenewBefore cannot exceed"),
        ({"ca": {"renewBefore": "169h"}}, "selfSigned.ca.renewBefore", "CA RenewBefore cannot exceed"),
        ({"caRotateInterval": "48h", "caOverlapInterval": "49h"}, "selfSigned.caOverlapInterval", "CA RenewBefore"),
        ({"server": {"duration": "169h"}}, "selfSigned.server.duration", "Certificate duration cannot exceed CA"),
        ({"ca": {"duration": "10h"}}, "selfSigned.ca.duration", "Certificate duration cannot exceed CA"),
        ({"caRotateInterval": "10h"}, "selfSigned.caRotateInterval", "Certificate duration cannot exceed CA"),
        ({"caRotateInterval": "48h", "ca": {}}, "selfSigned", "are deprecated and conflict with CertConfig"),
        ({"caOverlapInterval": "1h", "server": {"duration": "1h"}}, "selfSigned", "are deprecated and conflict"),
    ],
)
def test_admission_refuses(self_signed: dict, field: str, upstream: str) -> None:
    """Refused by kubevirt-update-admitter.go validateCertificates (same tags): renewBefore above
    the effective duration (defaults included), server duration above the CA duration, the
    deprecated intervals mixed with selfSigned.ca/server (even an empty `ca: {}`)."""
    problems = kc.strategy_problems({"selfSigned": self_signed})
    admission = [p for p in problems if p.kind == "admission"]
    assert admission, problems
    assert any(p.field.startswith(field) and upstream in p.message for p in admission), problems
    assert all(str(p).startswith(p.field + ": ") and "validateCertificates" in p.message for p in admission)


@pytest.mark.parametrize("value,kind", [("7d", "decode"), ("", "decode"), ("1 day", "decode"), (24, "schema")])
def test_undecodable_durations_are_refused_and_make_the_policy_unknown(value: object, kind: str) -> None:
    """metav1.Duration.UnmarshalJSON (time.ParseDuration) refuses "7d" and ""; the CRD schema says
    `type: string` (components/validations_generated.go). The admitter's getAdmissionReviewKubeVirt
    cannot decode such a CR, so validateCertificates is never reached, and virt-operator cannot
    decode it either: the policy in force is unknown."""
    strategy = {"selfSigned": {"server": {"duration": value}}}
    problems = kc.strategy_problems(strategy)
    assert [p.kind for p in problems] == [kind] and problems[0].field == "selfSigned.server.duration"
    with pytest.raises(kc.StrategyError):
        kc.effective_policy({"certificateRotateStrategy": strategy})


@pytest.mark.parametrize("self_signed", [{"server": {"duration": "0s"}}, {"server": {"renewBefore": "0"}}])
def test_zero_durations_pass_upstream_but_not_the_suite(self_signed: dict) -> None:
    """Upstream validateCertificates has no positivity rule: `server.duration: 0s` (default
    renewBefore 0) and `server.renewBefore: 0` are admitted; the suite flags them ("suite")."""
    problems = kc.strategy_problems({"selfSigned": self_signed})
    assert [p.kind for p in problems] == ["suite"] and "positive" in problems[0].message


def test_mixed_strategy_still_has_a_policy_in_force() -> None:
    """The operator applies a refused (e.g. created, never updated) strategy all the same: CREATE
    runs no semantic validation (kubevirt-create-admitter.go). strict=True restores refusal."""
    strategy = {"certificateRotateStrategy": {"selfSigned": {"caRotateInterval": "48h", "ca": {"duration": "100h"}}}}
    assert kc.effective_policy(strategy).ca_duration == 48 * H
    with pytest.raises(kc.StrategyError, match="deprecated"):
        kc.effective_policy(strategy, strict=True)


def test_unknown_keys_do_not_change_the_policy() -> None:
    """Unknown fields are pruned by the apiserver and ignored by Go's JSON decoding."""
    p = kc.effective_policy({"certificateRotateStrategy": {"selfSigned": {"server": {"lifetime": "1h"}}}})
    assert p.server_duration == 24 * H
    assert kc.strategy_problems({"selfSigned": {"server": {"lifetime": "1h"}}})[0].kind == "unknown-key"


# --- effective values: apply/certificates.go getters ---------------------------------------------


def test_overlap_interval_wins_over_ca_renew_before() -> None:
    """GetCARenewBefore: caOverlapInterval (deprecated) first, then ca.renewBefore, else 20% of the
    effective CA duration (apply/certificates.go, identical v0.54.0 … v1.5.0)."""
    spec = {"certificateRotateStrategy": {"selfSigned": {"caOverlapInterval": "5h", "ca": {"renewBefore": "7h"}}}}
    p = kc.effective_policy(spec)
    assert p.ca_renew_before == 5 * H and any("caOverlapInterval=5h" in s for s in p.sources)


def test_server_renew_before_follows_the_deprecated_duration() -> None:
    """GetCertRenewBefore has no deprecated field: 20% of the effective server duration, which
    certRotateInterval sets (apply/certificates.go)."""
    p = kc.effective_policy({"certificateRotateStrategy": {"selfSigned": {"certRotateInterval": "10h"}}})
    assert (p.server_duration, p.server_renew_before) == (10 * H, 2 * H)


@pytest.mark.parametrize(
    "version,expected",
    [
        (None, (168 * H, dt.timedelta(hours=4.8))),
        ("1.1.1-150500.8.15.1", (168 * H, dt.timedelta(hours=4.8))),
        ("v0.58.0", (168 * H, dt.timedelta(hours=4.8))),
        ("v0.55.0", (168 * H, 120 * H)),
        ("0.57.1", (168 * H, 120 * H)),
    ],
)
def test_export_ca_policy_by_version(version: str | None, expected: tuple[dt.timedelta, dt.timedelta]) -> None:
    """core.go createOrUpdateComponentsWithCertificates: 0.55-0.57 fix the export CA at 7 days /
    renewBefore 5 days (@v0.55.0, @v0.57.1); from @v0.58.0 (… v1.5.0) GetCADuration with
    GetCertRenewBefore. for_secret uses the latter unless told a 0.55-0.57 version."""
    spec = {"certificateRotateStrategy": {"selfSigned": {"ca": {"duration": "168h"}}}}
    assert kc.effective_policy(spec, kubevirt_version=version).for_secret("export-ca") == expected


# --- the version gate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version",
    [None, "", "latest", "v1.5.0-rc.1", "0.54.0-rc1", "1.3.1@sha256:" + "a" * 64, "sha256:" + "b" * 64, "garbage", 7],
)
def test_version_gate_never_raises(version: object) -> None:
    """secrets.go: 6 secrets @v0.54.0, 8 from @v0.55.0 (unchanged to v1.5.x), 12 @v1.7.x (the
    newest checked). Unknown -> newest set."""
    secrets = kc.managed_secrets(version)  # type: ignore[arg-type]
    rule = kc.secret_set_rule(version)  # type: ignore[arg-type]
    expected = 6 if version == "0.54.0-rc1" else 12 if kc.parse_kubevirt_version(version) is None else 8
    assert len(secrets) == expected and rule
    if kc.parse_kubevirt_version(version) is None:
        assert "unknown" in rule and "newest known set" in rule


@pytest.mark.parametrize(
    "version,fragment",
    [
        ("0.54.0-150400.3.19.1", "< 0.55"),
        ("v1.1.1", "8 secrets"),
        ("1.5.2-150700.3.5.2", "8 secrets"),
        ("1.6.6-150700.15.7.1", "10 secrets"),
        ("1.7.4-150700.3.24.2", "12 secrets"),
        ("1.8.0", "newer than the newest version checked"),
    ],
)
def test_secret_set_rule_says_which_rule(version: str, fragment: str) -> None:
    """secrets.go @v0.54.0 / @v0.55.0 … @v1.5.3; @v1.6.0 adds synchronization-controller
    certificates, @v1.7.0 the virt-handler migration and vsock client certificates."""
    assert fragment in kc.secret_set_rule(version)


@pytest.mark.parametrize(
    "version,added",
    [
        ("1.5.2-150700.3.5.2", set()),
        (
            "1.6.6-150700.15.7.1",
            {"kubevirt-synchronization-controller-certs", "kubevirt-synchronization-controller-server-certs"},
        ),
        (
            "1.7.4-150700.3.24.2",
            {
                "kubevirt-synchronization-controller-certs",
                "kubevirt-synchronization-controller-server-certs",
                "kubevirt-virt-handler-migration-client-certs",
                "kubevirt-virt-handler-vsock-client-certs",
            },
        ),
    ],
)
def test_managed_set_grows_with_kubevirt_1_6_and_1_7(version: str, added: set[str]) -> None:
    """kubevirt/kubevirt pkg/virt-operator/resource/generate/components/secrets.go NewCertSecrets
    @v1.5.2 (8), @v1.6.6 (+ synchronization-controller client and server), @v1.7.4 (+ virt-handler
    migration-client and vsock-client); Harvester v1.6.1 / v1.7.3 / v1.8.2 ship these."""
    assert set(kc.managed_secrets(version)) - set(kc.managed_secrets("v1.4.0")) == added
    assert kc.managed_secrets(version).get("kubevirt-synchronization-controller-server-certs") in (None, "server")


def _operator(*images: str, name: str = "virt-operator") -> dict:
    containers = [{"name": name if i == 0 else f"side{i}", "image": image} for i, image in enumerate(images)]
    return {"spec": {"template": {"spec": {"containers": containers}}}}


@pytest.mark.parametrize(
    "image,expected",
    [
        ("registry.suse.com/suse/sles/15.6/virt-operator:1.3.1-150600.5.9.1", "1.3.1-150600.5.9.1"),
        ("quay.io/kubevirt/virt-operator:v1.5.0-rc.1", "v1.5.0-rc.1"),
        ("quay.io/kubevirt/virt-operator:v1.4.0@sha256:" + "c" * 64, "v1.4.0"),
        ("quay.io/kubevirt/virt-operator@sha256:" + "c" * 64, None),
        ("quay.io/kubevirt/virt-operator:latest", None),
        ("localhost:5000/virt-operator", None),
        ("virt-operator", None),
    ],
)
def test_operator_image_version(image: str, expected: str | None) -> None:
    assert kc.operator_image_version(_operator(image)) == expected


def test_kubevirt_version_prefers_the_observed_version() -> None:
    dep = _operator("registry.suse.com/suse/sles/15.5/virt-operator:1.1.1-150500.8.15.1")
    assert kc.kubevirt_version({"status": {"observedKubeVirtVersion": "v1.1.1"}}, dep) == "v1.1.1"
    assert kc.kubevirt_version({"status": {}}, dep) == "1.1.1-150500.8.15.1"
    assert kc.kubevirt_version(None, dep) == "1.1.1-150500.8.15.1"
    assert kc.kubevirt_version({"status": {"observedKubeVirtVersion": "latest"}}, None) is None
    assert kc.kubevirt_version(None, {"spec": {}}) is None


# --- KubeVirt 0.54's serial-0 CA -----------------------------------------------------------------


def _serial_zero_ca(tmp_path: Path) -> pki.KeyPair:
    """A CA with serial number 0, as NewSelfSignedCACert made them up to KubeVirt 0.54
    (pkg/certificates/triple/cert/cert.go@v0.54.0: SerialNumber SetInt64(0)). cryptography's
    CertificateBuilder is asked first; it refuses ("The serial number should be positive.", 43.0
    to 50.0.2), so the openssl CLI makes it, and without openssl the test is skipped."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubevirt.io")])
    start = pki.now()
    try:
        builder = x509.CertificateBuilder().serial_number(0)
    except ValueError:
        builder = None
    if builder is not None:
        cert = (
            builder.subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .not_valid_before(start)
            .not_valid_after(start + 168 * H)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return pki.KeyPair(cert, key)
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("cryptography's CertificateBuilder refuses serial number 0 and the openssl CLI is not available")
    cfg = tmp_path / "ca.cnf"
    cfg.write_text(
        "[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n[dn]\nCN = kubevirt.io\n"
        "[v3]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,digitalSignature,keyEncipherment\n"
    )
    key_file, cert_file = tmp_path / "ca.key", tmp_path / "ca.crt"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    command = [openssl, "req", "-x509", "-config", str(cfg), "-key", str(key_file), "-out", str(cert_file)]
    subprocess.run([*command, "-days", "7", "-set_serial", "0"], check=True, capture_output=True)
    info = kc.load_certificate("kubevirt-ca", "ca", cert_file.read_bytes())
    return pki.KeyPair(info.cert, key)


def test_serial_zero_ca_is_read_without_the_warning(tmp_path: Path) -> None:
    """cert.go@v0.54.0 makes serial-0 CAs; cryptography >= 45 warns on them (43/44 silently accept,
    50.0.2 still only warns). The checks read, compare and verify them with the warning an error."""
    ca = _serial_zero_ca(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CryptographyDeprecationWarning)
        info = kc.load_certificate("kubevirt-ca", "ca", ca.cert_pem)
        assert kc.serial_number(info.cert) == 0
        leaf = _leaf(ca, H, 24 * H)
        assert kc.check_signed_by(leaf, info) is None
        assert kc.check_bundle(ca.cert_pem.decode(), info, "kubevirt-ca") is None
        other = pki.make_ca("kubevirt.io", 168 * H)
        missing = kc.check_bundle(other.cert_pem.decode(), info, "kubevirt-ca")
        assert missing is not None and "serial 0" in missing.message
        api = {"spec": {"caBundle": base64.b64encode(other.cert_pem).decode()}}
        f = kc.check_api_service_bundle("v1.subresources.kubevirt.io", api, info)
        assert f is not None and "serial 0" in f.message


def test_serial_zero_suppression_is_local(tmp_path: Path) -> None:
    """Outside the module's loads the warning still fires (cryptography >= 45): nothing global."""
    ca = _serial_zero_ca(tmp_path)
    major = int(cryptography.__version__.split(".")[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x509.load_pem_x509_certificate(ca.cert_pem)
    fired = [w for w in caught if issubclass(w.category, CryptographyDeprecationWarning)]
    assert bool(fired) == (major >= 45), [str(w.message) for w in caught]


# --- KVC-04 beyond the ConfigMap ----------------------------------------------------------------


def _b64(*pairs: pki.KeyPair) -> str:
    return base64.b64encode(b"".join(p.cert_pem for p in pairs)).decode()


def _webhooks(*bundles: object) -> dict:
    return {"webhooks": [{"name": f"w{i}.kubevirt.io", "clientConfig": {"caBundle": b}} for i, b in enumerate(bundles)]}


def test_bundle_targets_are_upstreams() -> None:
    """install/strategy.go (v0.54.0 … v1.5.0): virt-operator-validator, virt-api-validator,
    virt-api-mutator, and one APIService per v1.SubresourceGroupVersions (v1, v1alpha3)."""
    assert ("ValidatingWebhookConfiguration", "virt-api-validator") in kc.CA_BUNDLE_TARGETS
    assert ("MutatingWebhookConfiguration", "virt-api-mutator") in kc.CA_BUNDLE_TARGETS
    assert ("ValidatingWebhookConfiguration", "virt-operator-validator") in kc.CA_BUNDLE_TARGETS
    assert ("APIService", "v1.subresources.kubevirt.io") in kc.CA_BUNDLE_TARGETS
    assert ("APIService", "v1alpha3.subresources.kubevirt.io") in kc.CA_BUNDLE_TARGETS


def test_webhook_bundles() -> None:
    """core.go copies the kubevirt-ca bundle into every webhook's clientConfig.caBundle
    (admissionregistration.go createOrUpdate{Validating,Mutating}WebhookConfiguration)."""
    ca, old = pki.make_ca("kubevirt.io", 168 * H), pki.make_ca("kubevirt.io", 168 * H)
    info = kc.load_certificate("kubevirt-ca", "ca", ca.cert_pem)
    kind, name = "ValidatingWebhookConfiguration", "virt-api-validator"
    assert kc.check_webhook_bundle(kind, name, _webhooks(_b64(ca, old), _b64(old, ca)), info) is None
    assert (
        kc.check_published_bundle("MutatingWebhookConfiguration", "virt-api-mutator", _webhooks(_b64(ca)), info) is None
    )
    cases = {
        "missing": None,
        "has no webhooks": {"webhooks": []},
        "has no caBundle": _webhooks(_b64(ca), None),
        "not base64": _webhooks("%%%"),
        "does not parse": _webhooks(base64.b64encode(b"not a certificate").decode()),
        "lacks the current CA": _webhooks(_b64(ca), _b64(old)),
    }
    for fragment, obj in cases.items():
        f = kc.check_webhook_bundle(kind, name, obj, info)
        assert f is not None and f.object == "ValidatingWebhookConfiguration virt-api-validator", fragment
        assert fragment in f.message, (fragment, f.message)
    lacking = kc.check_webhook_bundle(kind, name, _webhooks(_b64(ca), _b64(old)), info)
    assert lacking is not None and "w1.kubevirt.io" in lacking.message and "w0.kubevirt.io" not in lacking.message


def test_api_service_bundles() -> None:
    """apiservices.go createOrUpdateAPIService: spec.caBundle = the kubevirt-ca bundle."""
    ca, old = pki.make_ca("kubevirt.io", 168 * H), pki.make_ca("kubevirt.io", 168 * H)
    info = kc.load_certificate("kubevirt-ca", "ca", ca.cert_pem)
    name = "v1.subresources.kubevirt.io"
    assert kc.check_api_service_bundle(name, {"spec": {"caBundle": _b64(old, ca)}}, info) is None
    assert kc.check_published_bundle("APIService", name, {"spec": {"caBundle": ca.cert_pem}}, info) is None  # raw PEM
    for fragment, obj in {
        "missing": None,
        "has no caBundle": {"spec": {}},
        "lacks": {"spec": {"caBundle": _b64(old)}},
    }.items():
        f = kc.check_api_service_bundle(name, obj, info)
        assert f is not None and f.object == "APIService v1.subresources.kubevirt.io" and fragment in f.message


def test_bundle_notes_follow_merge_ca_bundle() -> None:
    """components/secrets.go MergeCABundle (identical v0.54.0 … v1.5.0): current CA first, at most
    10 old certificates parsed (so 11 in all), expired ones dropped. Notes, not findings."""
    now = pki.now()
    ca = pki.make_ca("kubevirt.io", 168 * H)
    old = pki.make_ca("kubevirt.io", 168 * H, not_before=now - 150 * H)
    expired = pki.make_ca("kubevirt.io", 168 * H, not_before=now - 200 * H)
    info = kc.load_certificate("kubevirt-ca", "ca", ca.cert_pem)
    assert kc.bundle_notes((ca.cert_pem + old.cert_pem).decode(), info, now) == []
    assert (
        kc.bundle_notes((ca.cert_pem + b"".join(pki.make_ca("x", H).cert_pem for _ in range(10))).decode(), info, now)
        == []
    )
    notes = kc.bundle_notes((old.cert_pem + ca.cert_pem + expired.cert_pem).decode(), info, now)
    assert any("not the first" in n for n in notes) and any("1 expired" in n for n in notes)
    assert kc.check_bundle((old.cert_pem + ca.cert_pem + expired.cert_pem).decode(), info, "kubevirt-ca") is None
    crowded = (ca.cert_pem + b"".join(pki.make_ca("x", H).cert_pem for _ in range(11))).decode()
    assert any("more than virt-operator keeps" in n for n in kc.bundle_notes(crowded, info, now))


# --- KVC-03 and the capture time ----------------------------------------------------------------


def test_lifetime_is_judged_at_the_given_time() -> None:
    """check_lifetime uses only `now` (the snapshot's capture time)."""
    ca = pki.make_ca("kubevirt.io", 168 * H, not_before=pki.now() - 30 * H)
    info = _leaf(ca, 22 * H, 24 * H)  # 2h left now: inside the 4.8h window
    policy, slack = kc.effective_policy({}), dt.timedelta(minutes=15)
    assert kc.check_lifetime(info, policy, pki.now() - 10 * H, slack) is None  # as captured 10h ago
    assert kc.check_lifetime(info, policy, pki.now(), slack) is not None


def test_module_never_reads_the_wall_clock() -> None:
    tree = ast.parse(inspect.getsource(kc))
    calls = {
        node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}, calls
