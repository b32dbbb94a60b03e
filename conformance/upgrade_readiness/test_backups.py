"""The gate's backup rules (HV pkg/webhook/resources/upgrade/validator.go `checkVMBackups`,
`checkScheduleVMBackups`; indexers in pkg/webhook/indexeres): no VirtualMachineBackup in progress
(IsBackupProgressing: no error, not readyToUse) and, where the release has ScheduleVMBackup
(v1.4.0+; an absent API lists nothing), none not suspended."""

from __future__ import annotations

from harvester_conformance.checks import upgrade_readiness as ur
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("UPG-05")
def test_no_backup_running_or_scheduled(hc: RunContext) -> None:
    snap = hc.snapshot
    findings = [ur.check_vm_backup(b) for b in snap.list(R.VM_BACKUPS)]
    findings += [ur.check_schedule(s) for s in snap.list(R.SCHEDULE_VM_BACKUPS)]
    require(findings, "backups the upgrade gate refuses to upgrade under")
