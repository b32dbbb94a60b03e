"""TRM-02 without a cluster: a VMI paused by an IO error (kubevirt pkg/virt-handler/vm.go,
condition Paused reason PausedIOError; a user's pause is PausedByUser)."""

from __future__ import annotations

from harvester_conformance.checks import filesystem_trim as ft


def _vmi(reason: str | None) -> dict:
    conds = [{"type": "Ready", "status": "True"}]
    if reason:
        conds.append(
            {"type": "Paused", "status": "True", "reason": reason, "lastTransitionTime": "2024-01-30T00:00:00Z"}
        )
    meta = {"name": "vm-000", "namespace": "default"}
    return {"metadata": meta, "status": {"phase": "Running", "nodeName": "n0", "conditions": conds}}


def test_io_error_pause_fails_user_pause_passes() -> None:
    found = ft.check_vmi(_vmi("PausedIOError"))
    assert found is not None and found.object == "VirtualMachineInstance default/vm-000"
    assert "PausedIOError" in found.message and "n0" in found.message
    assert ft.check_vmi(_vmi("PausedByUser")) is None
    assert ft.check_vmi(_vmi(None)) is None
    assert ft.check_vmi({"metadata": {"name": "x", "namespace": "d"}}) is None  # no status yet
