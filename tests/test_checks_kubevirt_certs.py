"""Unit tests of the KubeVirt certificate analysis (pure functions, no cluster)."""

from __future__ import annotations

import datetime as dt

import pytest

from harvester_conformance.checks import kubevirt_certs as kc
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
        ({"selfSigned": {"server": {"duration": "24h", "renewBefore": "30h"}}}, "not shorter"),
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
