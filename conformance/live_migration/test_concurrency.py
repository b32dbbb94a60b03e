"""Section "Changing Cluster Wide Migration Limits", under load: with the limits lowered to 2
per cluster and 1 per node for the test (restored afterwards, also after an interruption, by
`harvester-conformance cleanup`), more migrations are started than they allow, and the number
seen running at once never exceeds them (KV `pkg/virt-controller/watch/migration.go`, which
holds surplus migrations Pending). Up to Harvester v1.6.x the limits are lowered in the KubeVirt CR,
as the article says; from v1.7.0 in the kubevirt-migration setting, which Harvester writes into the
CR (HV `pkg/controller/master/setting/kubevirt_migration.go` @v1.7.3, v1.8.2), waited for until the
CR holds them."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from harvester_conformance import vms
from harvester_conformance.changes import Changes
from harvester_conformance.checks import live_migration as lm
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, Violation, require
from harvester_conformance.waits import WaitTimeout, wait_for

PER_CLUSTER, PER_NODE = 2, 1
LIMITS = ("parallelMigrationsPerCluster", "parallelOutboundMigrationsPerNode")


def _limits(cl: Cluster, kubevirt: lm.Version | None) -> tuple[int | None, ...]:
    """The two limits KubeVirt applies now (the CR over its defaults)."""
    kv = cl.get(R.KUBEVIRTS, "kubevirt", lm.NAMESPACE) or {}
    cfg = lm.effective(kv.get("spec") or {}, kubevirt)
    return tuple(v if isinstance(v, int) and not isinstance(v, bool) else None for v in map(cfg.get, LIMITS))


def _limits_applied(
    cl: Cluster, kubevirt: lm.Version | None, per_cluster: int | None, per_node: int | None
) -> Callable[[], bool]:
    return lambda: _limits(cl, kubevirt) == (per_cluster, per_node)


def _lower_in_cr(cl: Cluster, changes: Changes) -> str:
    """Up to v1.6.x: the article's way, the KubeVirt CR's block."""
    changes.save(R.KUBEVIRTS, "kubevirt", lm.NAMESPACE, ("spec", "configuration", "migrations"))
    limits = {LIMITS[0]: PER_CLUSTER, LIMITS[1]: PER_NODE}
    cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"configuration": {"migrations": limits}}}, lm.NAMESPACE)
    return "set in the KubeVirt CR"


def _lower_in_setting(cl: Cluster, changes: Changes, kubevirt: lm.Version | None) -> str:
    """From v1.7.0: the kubevirt-migration setting (its webhook refuses a change while any
    migration is unfinished: the test then cannot run). The original value is saved on the
    setting; the undo waits until Harvester has written it back into the CR."""
    setting = cl.get(R.HARVESTER_SETTINGS, lm.SETTING)
    values, unusable = lm.setting_values(setting)
    if values is None:
        raise Broken(f"{lm.SETTING_OBJ} cannot be lowered: {'; '.join(unusable)}", "MIG-01")
    before = _limits(cl, kubevirt)
    changes.save(
        R.HARVESTER_SETTINGS,
        lm.SETTING,
        None,
        ("value",),
        settled=_limits_applied(cl, kubevirt, *before),
        timeout="setting-applied",
    )
    value = json.dumps({**values.values, LIMITS[0]: PER_CLUSTER, LIMITS[1]: PER_NODE})
    try:
        cl.patch(R.HARVESTER_SETTINGS, lm.SETTING, {"value": value})
    except ApiError as exc:
        raise Broken(f"{lm.SETTING_OBJ} refused the lowered limits: {exc}") from None
    return f"from {lm.SETTING_OBJ}"


def _final(vmim: dict) -> bool:
    return (vmim.get("status") or {}).get("phase") in lm.FINAL_PHASES


@invariant("MIG-06")
def test_migration_limits_hold_under_load(hc: RunContext, changes: Changes, kubevirt: lm.Version | None) -> None:
    cl = hc.cluster
    kv = cl.get(R.KUBEVIRTS, "kubevirt", lm.NAMESPACE)
    if kv is None:
        raise Violation(f"{lm.CR} is missing", [lm.CR])
    nodes = [
        n
        for n in cl.list(R.NODES)
        if not (n.get("spec") or {}).get("unschedulable")
        and ((n["metadata"].get("labels") or {}).get("kubevirt.io/schedulable") == "true")
    ]
    if len(nodes) < 2:
        pytest.skip("not applicable: migrations need two schedulable nodes")
    if lm.setting_owns(hc.release.release.key):
        where_set = _lower_in_setting(cl, changes, kubevirt)
    else:
        where_set = _lower_in_cr(cl, changes)
    try:
        wait_for("setting-applied", _limits_applied(cl, kubevirt, PER_CLUSTER, PER_NODE))
    except WaitTimeout as exc:
        raise Violation(f"the limits {where_set} did not reach the KubeVirt CR: {exc}", [lm.CR]) from None
    # One more VM than there are nodes: at least two share a node (pigeonhole).
    names = [vms.create(changes, vms.vm_body(f"hc-mig06-{i}"))[1] for i in range(len(nodes) + 1)]
    ns = changes.namespace()
    source = {}
    for name in names:
        try:
            vmi = vms.wait_running(cl, ns, name)
        except WaitTimeout as exc:
            raise Violation(
                f"VirtualMachineInstance {ns}/{name} did not start: {exc}", [f"VirtualMachine {ns}/{name}"]
            ) from None
        source[name] = vmi["status"]["nodeName"]
    # Those sharing a node first, so that the per-node limit is what holds them back.
    crowded = sorted(names, key=lambda n: (-sum(1 for m in names if source[m] == source[n]), source[n], n))
    seen = lm.Concurrency()

    def observed() -> list[dict]:
        mine = [x for x in cl.list(R.VMIMS, ns) if (x.get("spec") or {}).get("vmiName") in source]
        seen.observe(mine, source)
        return mine

    def pair_decided() -> bool:
        """Both of the pair counted as running at once (the per-node limit ignored), or one of them
        finished (the other was held back until then)."""
        mine = observed()
        return sum(map(lm.counts_toward_limits, mine)) == 2 or any(_final(x) for x in mine)

    def all_final() -> bool:
        mine = observed()
        return len(mine) == len(names) and all(map(_final, mine))

    # The pair leaving one node first, alone: nothing else can hold the second back, so only the
    # per-node limit decides whether both run at once (in whatever order the controller takes
    # migrations). Then the others, against the per-cluster limit.
    try:
        for name in crowded[:2]:
            changes.create(R.VMIMS, vms.migration_body(f"{name}-migration", name))
        wait_for("migration-completed", pair_decided, max_interval=0.3)
        for name in crowded[2:]:
            changes.create(R.VMIMS, vms.migration_body(f"{name}-migration", name))
        wait_for("migration-completed", all_final, max_interval=0.3)
    except WaitTimeout as exc:
        raise Violation(f"the test's migrations did not all finish: {exc}", [lm.CR]) from None
    require(
        lm.check_concurrency(seen, PER_CLUSTER, PER_NODE, source=where_set),
        f"more migrations ran at once than the limits allow (source nodes: {source})",
    )
