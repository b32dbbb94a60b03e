"""Sections "Space Efficiency" and "Disaster Recovery": recurring backups exist (Harvester's
ScheduleVMBackup from v1.4.0, a Longhorn backup RecurringJob before; the catalogue's rules) and no
volume keeps more snapshots than the bound (advisory: a deviation warns with the objects found)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import longhorn_performance as lp
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, advise

# Set per run with --max-snapshots-per-volume when the plugin declares it (see the report); the
# default otherwise.
BOUND_OPTION = "max_snapshots_per_volume"


def snapshot_bound(config: pytest.Config) -> int:
    raw = config.getoption(BOUND_OPTION, default=None)
    if raw is None:
        return lp.DEFAULT_SNAPSHOT_BOUND
    try:
        bound = int(raw)
    except (TypeError, ValueError):
        raise Broken(f"--max-snapshots-per-volume {raw!r} is not a whole number") from None
    if bound < 1:
        raise Broken(f"--max-snapshots-per-volume {bound} must be at least 1")
    return bound


@invariant("LHP-05")
def test_recurring_backups_and_bounded_snapshots(hc: RunContext, request: pytest.FixtureRequest) -> None:
    snap = hc.snapshot
    jobs = snap.list(R.LONGHORN_RECURRING_JOBS, lp.NS)
    if hc.release.release.key >= lp.SCHEDULES_FROM:
        findings = lp.check_backup_schedules(snap.list(R.SCHEDULE_VM_BACKUPS), jobs)
    else:
        findings = lp.check_longhorn_backup_jobs(jobs, snap.list(R.LONGHORN_VOLUMES, lp.NS))
    findings += lp.check_snapshot_counts(snap.list(R.LONGHORN_SNAPSHOTS, lp.NS), snapshot_bound(request.config))
    advise(request, findings, f"recurring backups (rules of {hc.release.rules_from}) or snapshot counts")
