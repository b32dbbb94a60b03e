"""Section "Cluster Token (RKE2 Token Rotation)": the article's failing case, `rke2 token rotate`
on RKE2 v1.27.10+rke2r1 (Harvester v1.3.0) leaving rke2-server unable to restart (rancher/rke2
issue 6250), is reported from each node's RKE2 version (status.nodeInfo.kubeletVersion). Whether a
token was rotated cannot be read through the API: the advice is what the check can give."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import security as sec
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise


@invariant("SEC-06")
def test_rke2_token_rotation_is_not_attempted(hc: RunContext, request: pytest.FixtureRequest) -> None:
    findings = sec.check_rke2_token_rotation(hc.snapshot.list(R.NODES))
    advise(request, findings, "nodes on an RKE2 release where token rotation breaks restarts")
