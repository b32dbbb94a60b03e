"""The February 2026 advisory: affected releases (before v1.7.1) must upgrade, since nothing
mitigates CVE-2026-24514 while the admission server runs; the article's policy and the Ingresses it
would refuse are reported; on fixed releases the advisories' leftovers are reported
(checks/ingress_nginx_cves_2026_02.py)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import ingress_nginx as ing
from harvester_conformance.checks import ingress_nginx_cves_2026_02 as feb
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require


@invariant("ING-03")
def test_affected_release_is_upgraded_or_guarded(
    hc: RunContext, request: pytest.FixtureRequest, release: ing.Version, hcc: dict | None
) -> None:
    snap = hc.snapshot
    webhook = snap.get(R.VALIDATING_WEBHOOKS, ing.WEBHOOK)
    require(
        feb.check_upgrade_required(release, hcc, webhook),
        f"Harvester {hc.release.rules_from} is affected by the February 2026 ingress-nginx CVEs",
    )
    policies = snap.list(R.VALIDATING_ADMISSION_POLICIES)
    bindings = snap.list(R.VALIDATING_ADMISSION_POLICY_BINDINGS)
    advise(
        request,
        feb.check_policy(release, policies, bindings, ing.policy_api_served(hc.release.release.rke2))
        + feb.check_ingresses(release, snap.list(R.INGRESSES)),
        "the February 2026 advisory's policy missing, or Ingresses using what it refuses",
    )


@invariant("ING-05")
def test_no_advisory_leftovers_after_the_fix(
    hc: RunContext, request: pytest.FixtureRequest, release: ing.Version
) -> None:
    snap = hc.snapshot
    advise(
        request,
        feb.check_leftovers(
            release,
            snap.list(R.VALIDATING_ADMISSION_POLICIES),
            snap.list(R.VALIDATING_ADMISSION_POLICY_BINDINGS),
            snap.list(R.INGRESSES),
        ),
        f"ingress-nginx advisory mitigations left behind on Harvester {hc.release.rules_from}",
    )
