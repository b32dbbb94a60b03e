"""Section "Why VMs are distributed unevenly with overcommit?": the overcommit setting, and the
requests Harvester's VirtualMachine mutator derives from it."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import vm_scheduling as vs
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, advise, require

CREATED_BY = "kubevirt.io/created-by"
DONE = ("Succeeded", "Failed")


@invariant("SCH-01")
def test_overcommit_config_parses(hc: RunContext) -> None:
    setting = hc.snapshot.get(R.HARVESTER_SETTINGS, vs.SETTING)
    require([vs.check_overcommit(setting, hc.release.release.key)], "overcommit-config is not usable")


def _value(setting: dict | None) -> str | None:
    return ((setting or {}).get("value") or (setting or {}).get("default")) or None


@invariant("SCH-02")
def test_vm_requests_follow_the_overcommit_ratio(hc: RunContext, request: pytest.FixtureRequest) -> None:
    snap = hc.snapshot
    current, problems = vs.parse_overcommit(snap.get(R.HARVESTER_SETTINGS, vs.SETTING))
    if current is None:
        raise Broken(f"the ratios in force are unknown: overcommit-config: {'; '.join(problems)}", "SCH-01")
    harvester = hc.release.release.key
    rules = vs.Rules(harvester, _value(snap.get(R.HARVESTER_SETTINGS, vs.OVERHEAD_RATIO_SETTING)))
    earlier = [(d["cpu"], d["memory"]) for d in (vs.DEFAULT_BEFORE_1_8, vs.DEFAULT_FROM_1_8)]
    verdicts = [vs.check_vm_requests(vm, current, rules, earlier) for vm in snap.list(R.VMS)]
    pods = []
    for vmi in snap.list(R.VMIS):
        uid = (vmi.get("metadata") or {}).get("uid")
        for pod in snap.by_label(R.PODS, CREATED_BY, uid) if uid else []:
            if (pod.get("status") or {}).get("phase") not in DONE:
                pods.append(vs.check_launcher_pod(pod, vmi))
    require(
        [v.failed for v in verdicts] + pods,
        f"requests not derived from the limits at cpu {current.cpu}% / memory {current.memory}% ({current.source})",
    )
    advise(request, [v.drift for v in verdicts], "requests follow an earlier overcommit ratio")
