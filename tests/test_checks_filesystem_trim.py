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


# --- TRM-01: the release matrix (KB 2024-01-30; harvester Chart.yaml at each tag, facts.md §0.1) ---


def _lh(value: str | None) -> dict:
    return {"metadata": {"name": "current-longhorn-version", "namespace": "longhorn-system"}, "value": value}


def test_matrix_holds_the_affected_and_fixed_releases() -> None:
    m = ft.trim_matrix()
    assert [m.is_affected(v) for v in ("v1.2.0", "v1.2.1", "v1.3.0", "v1.2.2", "v1.3.1", "v1.5.0")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert m.documented("v1.2.2") == "v1.5.5" and m.documented("v1.3.1") == "v1.6.2"
    assert m.documented("v1.2.0") == "v1.4.3" and m.documented("v1.3.0") == "v1.6.0"
    assert m.documented("v1.5.0") is None  # from catalogue/releases.yaml instead
    assert "v1.2.2" in ft.affected_note("v1.2.1", m) and ft.affected_note("v1.3.1", m) is None


def test_longhorn_mismatch_names_both_versions() -> None:
    m = ft.trim_matrix()
    assert ft.check_longhorn_version("v1.3.1", "v1.6.2", _lh("v1.6.2"), m) is None
    assert ft.check_longhorn_version("v1.7.0", "v1.10.1", _lh("v1.10.1-hotfix-2"), m) is None
    found = ft.check_longhorn_version("v1.3.1", "v1.6.2", _lh("v1.4.2"), m)
    assert found is not None and found.object == "Setting longhorn-system/current-longhorn-version"
    assert "v1.3.1" in found.message and "v1.4.2" in found.message and "v1.6.2" in found.message
    flagged = ft.check_longhorn_version("v1.2.1", "v1.4.3", _lh("v1.4.2"), m)
    assert flagged is not None and "affected" in flagged.message
    assert "unknown version" in ft.check_longhorn_version("v1.3.1", "v1.6.2", None, m).message
