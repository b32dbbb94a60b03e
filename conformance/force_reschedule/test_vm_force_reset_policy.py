"""The article's advice: `vm-force-reset-policy` decides how soon the VMs of an unreachable node
are rescheduled. The policy must decode as the running release's node-down controller decodes it
(otherwise nothing is ever force-reset: a failure); a disabled policy, or a period above the
release's default (300 s before v1.7.0, 15 s from v1.7.0), is the article's advisory case (HV
`pkg/settings/settings_helper.go` InitVMForceResetPolicy and DecodeVMForceResetPolicy,
`pkg/controller/master/node/node_down_controller.go`; v1.2.1 … v1.8.2)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import force_reschedule as frs
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import advise, require


@invariant("FRS-01")
def test_force_reset_policy_reschedules_promptly(hc: RunContext, request: pytest.FixtureRequest) -> None:
    release = hc.release.release.key
    policy, bad = frs.check_decodes(hc.snapshot.get(R.HARVESTER_SETTINGS, frs.SETTING), release)
    require([bad], f"vm-force-reset-policy unusable by the node-down controller (rules of {hc.release.rules_from})")
    assert policy is not None
    advise(
        request,
        frs.check_policy(policy, release),
        f"vm-force-reset-policy delays or prevents rescheduling VMs of a lost node (rules of {hc.release.rules_from})",
    )
