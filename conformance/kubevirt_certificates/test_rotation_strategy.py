"""Section "KubeVirt Certificate Rotation Strategy" / "Configuration Fields"."""

from __future__ import annotations

from harvester_conformance.checks import kubevirt_certificates as kc
from harvester_conformance.checks.findings import Finding
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require

from .conftest import CR


@invariant("KVC-01")
def test_kubevirt_cr_has_a_well_formed_rotation_strategy(kubevirt_cr: dict | None) -> None:
    if kubevirt_cr is None:
        require([Finding(CR, "missing: the KubeVirt CR must exist in harvester-system")], "KubeVirt CR")
    strategy = (kubevirt_cr.get("spec") or {}).get("certificateRotateStrategy")
    require(
        [Finding(CR, f"spec.certificateRotateStrategy: {p}") for p in kc.validate_strategy(strategy)],
        "certificateRotateStrategy is neither empty nor a selfSigned block that upstream admits",
    )
