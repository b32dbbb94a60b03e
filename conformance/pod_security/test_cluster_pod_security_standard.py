"""Harvester v1.8's `cluster-pod-security-standard` setting, which the article's issue 8196
announced: it decodes, and when enabled every namespace outside the whitelists carries the labels
its controller writes (PSS-03); the article's label-rejection policy, which would refuse those
label updates, is not combined with it (PSS-05)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import pod_security as pss
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require


def _policy(hc: RunContext) -> tuple[pss.Policy | None, str]:
    try:
        return pss.decode_policy(hc.snapshot.get(R.HARVESTER_SETTINGS, pss.SETTING)), ""
    except ValueError as exc:
        return None, str(exc)


@invariant("PSS-03")
def test_enabled_standard_labels_every_managed_namespace(hc: RunContext) -> None:
    policy, bad = _policy(hc)
    require(
        [Finding(f"Setting {pss.SETTING}", bad) if bad else None],
        f"{pss.SETTING} cannot be decoded by Harvester's controller",
    )
    assert policy is not None
    require(
        pss.check_managed_labels(hc.snapshot.list(R.NAMESPACES), policy),
        f"namespaces without the labels {pss.SETTING} gives them",
    )


@invariant("PSS-05")
def test_label_rejection_policy_not_combined_with_the_setting(hc: RunContext, request: pytest.FixtureRequest) -> None:
    policy, _ = _policy(hc)
    snap = hc.snapshot
    advise(
        request,
        pss.check_label_rejection(
            snap.list(R.VALIDATING_ADMISSION_POLICIES),
            snap.list(R.VALIDATING_ADMISSION_POLICY_BINDINGS),
            bool(policy and policy.enabled),
        ),
        f"the article's namespace label rejection policy refuses the label updates of {pss.SETTING}",
    )
