"""Fixtures the three ingress-nginx advisory packages share (each conftest imports them): the
release whose rules apply, and RKE2's ingress-nginx HelmChartConfig (the tests are not applicable
where rke2-ingress-nginx is not deployed, as on v1.9 installs)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import ingress_nginx as ing
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext


@pytest.fixture
def release(hc: RunContext) -> ing.Version:
    """The Harvester release (server-version) whose rules apply: the advisories name releases."""
    return hc.release.release.key


@pytest.fixture
def hcc(hc: RunContext) -> dict | None:
    found = hc.snapshot.get(R.HELM_CHART_CONFIGS, ing.CHART, ing.NAMESPACE)
    if not ing.deployed(found, hc.snapshot.get(R.HELM_CHARTS, ing.CHART, ing.NAMESPACE)):
        pytest.skip(
            f"not applicable: rke2-ingress-nginx is not deployed (no HelmChartConfig or HelmChart "
            f"{ing.NAMESPACE}/{ing.CHART}; v1.9 installs use rke2-traefik)"
        )
    return found
