"""Section "Expiration of kubeconfig Tokens in Rancher 2.8.x", on the Rancher that manages
Harvester: every Harvester cloud credential's token is alive and outlives the margin (rancher
`pkg/auth/tokens/token_util.go` IsExpired @v2.8.3, Token.GetIsExpired @v2.14.0), and the TTL a downloaded
kubeconfig's token gets (`kubeconfig-default-token-ttl-minutes` clamped to
`auth-token-max-ttl-minutes`, `pkg/auth/tokens/manager.go`; defaults 43200 / 129600 minutes from
v2.8.0, 0 / 0 before) is reported, a finite one warned about."""

from __future__ import annotations

import datetime as dt

import pytest

from harvester_conformance.checks import cloud_credentials as cc
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.cluster.reads import RANCHER
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require


@invariant("CCR-01")
def test_credential_tokens_outlive_the_margin(hc: RunContext, rancher_cluster: Cluster, margin: dt.timedelta) -> None:
    snap = hc.snapshot
    findings = cc.check_credentials(
        snap.list(R.SECRETS, cc.NAMESPACE, cluster=RANCHER),
        snap.list(R.RANCHER_TOKENS, cluster=RANCHER),
        snap.captured_at,
        margin,
    )
    require(findings, "Harvester cloud credentials Rancher cannot use, or soon cannot")


@invariant("CCR-02")
def test_kubeconfig_token_ttl(hc: RunContext, rancher_cluster: Cluster, request: pytest.FixtureRequest) -> None:
    snap = hc.snapshot
    settings = {n: snap.get(R.RANCHER_SETTINGS, n, cluster=RANCHER) for n in (cc.TTL_SETTING, cc.MAX_TTL_SETTING)}
    advise(request, cc.check_ttl(settings), "Harvester cloud credentials made from now on will expire")
