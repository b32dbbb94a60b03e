"""Section "Changing Cluster Wide Migration Limits", under load: with the limits lowered to 2
per cluster and 1 per node for the test (restored afterwards, also after an interruption, by
`harvester-conformance cleanup`), more migrations are started than they allow, and the number
seen running at once never exceeds them (KV `pkg/virt-controller/watch/migration.go`, which
holds surplus migrations Pending)."""

from __future__ import annotations

import pytest

from harvester_conformance import vms
from harvester_conformance.changes import Changes
from harvester_conformance.checks import live_migration as lm
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Violation, require
from harvester_conformance.waits import WaitTimeout, wait_for

PER_CLUSTER, PER_NODE = 2, 1
HARVESTER_OWNS_LIMITS = (1, 7, 0)  # the kubevirt-migration setting overwrites the CR's block


def _limits_applied(cl: Cluster, kubevirt: lm.Version | None, per_cluster: int, per_node: int):
    def probe() -> bool:
        kv = cl.get(R.KUBEVIRTS, "kubevirt", lm.NAMESPACE) or {}
        cfg = lm.effective(kv.get("spec") or {}, kubevirt)
        return (
            int(cfg.get("parallelMigrationsPerCluster")) == per_cluster
            and int(  # type: ignore[call-overload]
                cfg.get("parallelOutboundMigrationsPerNode")  # type: ignore[call-overload]
            )
            == per_node
        )

    return probe


@invariant("MIG-06")
def test_migration_limits_hold_under_load(hc: RunContext, changes: Changes, kubevirt: lm.Version | None) -> None:
    if hc.release.release.key >= HARVESTER_OWNS_LIMITS:
        pytest.skip("not applicable: from Harvester v1.7.0 the kubevirt-migration setting owns the limits")
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
    changes.save(R.KUBEVIRTS, "kubevirt", lm.NAMESPACE, ("spec", "configuration", "migrations"))
    cl.patch(
        R.KUBEVIRTS,
        "kubevirt",
        {
            "spec": {
                "configuration": {
                    "migrations": {
                        "parallelMigrationsPerCluster": PER_CLUSTER,
                        "parallelOutboundMigrationsPerNode": PER_NODE,
                    }
                }
            }
        },
        lm.NAMESPACE,
    )
    wait_for("setting-applied", _limits_applied(cl, kubevirt, PER_CLUSTER, PER_NODE))
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
    for name in crowded:
        changes.create(R.VMIMS, vms.migration_body(f"{name}-migration", name))

    def all_final() -> bool:
        mine = [x for x in cl.list(R.VMIMS, ns) if (x.get("spec") or {}).get("vmiName") in source]
        seen.observe(mine, source)
        return len(mine) == len(names) and all((x.get("status") or {}).get("phase") in lm.FINAL_PHASES for x in mine)

    try:
        wait_for("migration-completed", all_final, max_interval=0.3)
    except WaitTimeout as exc:
        raise Violation(f"the test's migrations did not all finish: {exc}", [lm.CR]) from None
    require(
        lm.check_concurrency(seen, PER_CLUSTER, PER_NODE),
        f"more migrations ran at once than the limits allow (source nodes: {source})",
    )
