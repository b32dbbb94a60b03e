"""Section "Risks Associated with Filesystem Trim": no VMI paused by an IO error."""

from __future__ import annotations

from harvester_conformance.checks import filesystem_trim as ft
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("TRM-02")
def test_no_vmi_paused_by_an_io_error(hc: RunContext) -> None:
    require([ft.check_vmi(v) for v in hc.snapshot.list(R.VMIS)], "VMIs paused by IO errors")
