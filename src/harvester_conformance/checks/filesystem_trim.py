"""Filesystem trim (article the_potential_risk_with_filesystem_trim): VMIs paused on IO errors.

When a trim hits a Longhorn volume during a replica rebuild the guest's disk returns IO errors and
libvirt pauses the domain; virt-handler then sets the VMI condition `Paused` True with reason
`PausedIOError` (kubevirt `pkg/virt-handler/vm.go` `calculatePausedCondition`, unchanged from
v0.54.0 to v1.5.0; a pause by the user has reason `PausedByUser`).
"""

from __future__ import annotations

from harvester_conformance.checks.findings import Finding

IO_ERROR = "PausedIOError"


def check_vmi(vmi: dict) -> Finding | None:
    conditions = (vmi.get("status") or {}).get("conditions") or []
    paused = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Paused"), None)
    if not paused or paused.get("status") != "True" or paused.get("reason") != IO_ERROR:
        return None
    meta = vmi.get("metadata") or {}
    since = paused.get("lastTransitionTime") or "an unknown time"
    node = (vmi.get("status") or {}).get("nodeName") or "no node"
    return Finding(
        f"VirtualMachineInstance {meta.get('namespace')}/{meta.get('name')}",
        f"paused by an IO error (condition Paused=True, reason {IO_ERROR}) since {since} on {node}; "
        "expected running, not paused",
    )
