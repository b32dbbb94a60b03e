"""Section "Migration Status Reporting": every running VMI's LiveMigratable condition and
migration method agree with what virt-handler decides from its volumes (access modes from
status.volumeStatus), disks and network binding (KV `pkg/virt-handler/vm.go`
calculateLiveMigrationCondition / checkVolumesForMigration @v0.54.0 … v1.4.0; facts §17.1).
One test item per invariant: the failure lists every offending VMI."""

from __future__ import annotations

import datetime as dt

from harvester_conformance.checks import live_migration as lm
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require

# A VMI younger than this may not have been reconciled yet.
RECONCILE_GRACE = dt.timedelta(minutes=5)


@invariant("MIG-02")
def test_running_vmis_report_live_migratability(hc: RunContext, kubevirt: lm.Version | None) -> None:
    vmis = hc.snapshot.list(R.VMIS)
    now = hc.snapshot.captured_at
    require(
        [lm.missing_status(v, now, RECONCILE_GRACE) for v in vmis]
        + [lm.check_condition(v, kubevirt) for v in vmis if lm.running(v)],
        "running VMIs whose LiveMigratable condition is missing or disagrees with their volumes and interfaces",
    )


@invariant("MIG-03")
def test_migration_method_matches_volumes(hc: RunContext, kubevirt: lm.Version | None) -> None:
    require(
        [lm.check_method(v, kubevirt) for v in hc.snapshot.list(R.VMIS) if lm.running(v)],
        "running VMIs whose migration method disagrees with their volumes",
    )
