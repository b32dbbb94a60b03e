"""The May 2026 advisory ("NGINX Rift"): on affected releases (before v1.7.2, and v1.8.0) no Ingress
has a rewrite-target containing '?', which the article's policy cannot catch once the Ingress
exists; the optional policy is reported (checks/ingress_nginx_cves_2026_05.py)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import ingress_nginx as ing
from harvester_conformance.checks import ingress_nginx_cves_2026_05 as may
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require


@invariant("ING-04")
def test_no_rewrite_target_with_query(
    hc: RunContext, request: pytest.FixtureRequest, release: ing.Version, hcc: dict | None
) -> None:
    snap = hc.snapshot
    require(
        may.check_rewrite_targets(release, snap.list(R.INGRESSES)),
        f"Ingresses exposed to the May 2026 ingress-nginx CVEs on Harvester {hc.release.rules_from}",
    )
    advise(
        request,
        may.check_policy(
            release,
            snap.list(R.VALIDATING_ADMISSION_POLICIES),
            snap.list(R.VALIDATING_ADMISSION_POLICY_BINDINGS),
            ing.policy_api_served(hc.release.release.rke2),
        ),
        "the May 2026 advisory's optional policy is not in force",
    )
