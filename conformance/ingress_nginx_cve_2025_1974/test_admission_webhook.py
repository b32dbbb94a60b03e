"""The article's mitigation of CVE-2025-1974: on affected releases (before v1.4.3) the
`rke2-ingress-nginx` HelmChartConfig turns the admission webhooks off and annotation validation on,
and RKE2 has removed the `rke2-ingress-nginx-admission` webhook; on fixed releases the override is
removed again once nothing else needs it (checks/ingress_nginx_cve_2025_1974.py); and the
HelmChartConfig keeps Harvester's own values."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import ingress_nginx as ing
from harvester_conformance.checks import ingress_nginx_cve_2025_1974 as cve
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require


@invariant("ING-01")
def test_admission_webhook_disabled_on_affected_releases(
    hc: RunContext, release: ing.Version, hcc: dict | None
) -> None:
    webhook = hc.snapshot.get(R.VALIDATING_WEBHOOKS, ing.WEBHOOK)
    require(
        cve.check_mitigation(release, hcc, webhook),
        f"CVE-2025-1974 not mitigated on Harvester {hc.release.rules_from}",
    )


@invariant("ING-02")
def test_no_mitigation_left_after_the_fix(
    hc: RunContext, request: pytest.FixtureRequest, release: ing.Version, hcc: dict | None
) -> None:
    advise(
        request,
        cve.check_leftover(release, hcc),
        f"CVE-2025-1974 mitigation left behind on Harvester {hc.release.rules_from}",
    )


@invariant("ING-06")
def test_harvester_ingress_values_retained(hcc: dict | None) -> None:
    require(cve.check_retained_values(hcc), "Harvester's ingress-nginx values missing from the HelmChartConfig")
