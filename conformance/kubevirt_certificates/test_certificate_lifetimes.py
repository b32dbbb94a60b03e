"""Sections "Configuration Fields" and "Certificate Rotation Triggers" (proactive renewal):
each managed certificate carries the effective duration and is renewed before its window."""

from __future__ import annotations

import datetime as dt

from harvester_conformance.checks import kubevirt_certificates as kc
from harvester_conformance.checks.durations import human
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require

from .conftest import RECONCILE_SLACK, TOLERANCE, require_certificate


@invariant("KVC-02")
def test_certificate_validity_matches_effective_policy(
    hc: RunContext, kvc_secret: str, managed: dict[str, str], policy: kc.Policy, now: dt.datetime
) -> None:
    info, annotation = require_certificate(hc, kvc_secret, managed[kvc_secret])
    require(
        [kc.check_validity(info, policy, now, annotation, TOLERANCE)],
        "certificate not issued for the effective duration " + _policy_note(policy),
    )


@invariant("KVC-03")
def test_certificate_is_outside_its_renewal_window(
    hc: RunContext, kvc_secret: str, managed: dict[str, str], policy: kc.Policy, now: dt.datetime
) -> None:
    info, _ = require_certificate(hc, kvc_secret, managed[kvc_secret])
    require(
        [kc.check_lifetime(info, policy, now, RECONCILE_SLACK)],
        "certificate expired or not rotated inside its renewal window",
    )


def _policy_note(policy: kc.Policy) -> str:
    src = "; ".join(policy.sources) or "defaults"
    return (
        f"(policy: CA {human(policy.ca_duration)}/{human(policy.ca_renew_before)}, "
        f"server {human(policy.server_duration)}/{human(policy.server_renew_before)}; {src})"
    )
