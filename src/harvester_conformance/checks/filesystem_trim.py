"""Filesystem trim (article the_potential_risk_with_filesystem_trim): the release matrix (TRM-01)
and VMIs paused on IO errors (TRM-02).

TRM-01: Harvester v1.2.0, v1.2.1 and v1.3.0 ship a Longhorn whose volumes can return IO errors to
a trimming guest during a replica rebuild; v1.2.2 (Longhorn v1.5.5) and v1.3.1 (v1.6.2) fix it
(`filesystem_trim.yaml`, confirmed in harvester/harvester `deploy/charts/harvester/Chart.yaml` at
each tag, facts.md §0.1). The running Longhorn (`current-longhorn-version`) must be the one the
release ships: another one means a partial or failed upgrade.

TRM-02: when a trim hits a Longhorn volume during a replica rebuild the guest's disk returns IO
errors and libvirt pauses the domain; virt-handler then sets the VMI condition `Paused` True with
reason `PausedIOError` (kubevirt `pkg/virt-handler/vm.go` `calculatePausedCondition`, unchanged from
v0.54.0 to v1.5.0; a pause by the user has reason `PausedByUser`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from harvester_conformance import yamltext
from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.vm_scheduling import version_tuple

IO_ERROR = "PausedIOError"
LONGHORN_NS = "longhorn-system"
LONGHORN_VERSION_SETTING = "current-longhorn-version"


# --- TRM-01: the release matrix --------------------------------------------------------------------


@dataclass(frozen=True)
class TrimMatrix:
    affected: dict[tuple[int, ...], str]  # Harvester release -> the Longhorn it ships
    fixed: dict[tuple[int, ...], str]

    def documented(self, harvester: str) -> str | None:
        key = version_tuple(harvester)
        return self.affected.get(key) or self.fixed.get(key)

    def is_affected(self, harvester: str | None) -> bool:
        return version_tuple(harvester) in self.affected

    def fixes(self) -> str:
        return ", ".join(f"v{'.'.join(map(str, k))} (Longhorn {v})" for k, v in sorted(self.fixed.items()))


@functools.cache
def trim_matrix() -> TrimMatrix:
    doc = yamltext.load(Path(__file__).with_suffix(".yaml").read_text())

    def rows(key: str) -> dict[tuple[int, ...], str]:
        return {version_tuple(r["harvester"]): r["longhorn"] for r in doc[key]}

    return TrimMatrix(rows("affected"), rows("fixed"))


def affected_note(harvester: str | None, matrix: TrimMatrix) -> str | None:
    """Why a release is flagged (None when it is not affected)."""
    if not matrix.is_affected(harvester):
        return None
    return (
        f"Harvester {harvester} is affected by the filesystem-trim IO errors: keep the guests' trim mitigations "
        f"until the upgrade to {matrix.fixes()} or later"
    )


def check_longhorn_version(harvester: str, documented: str, setting: dict | None, matrix: TrimMatrix) -> Finding | None:
    """TRM-01: the running Longhorn is the one the Harvester release documents (major.minor.patch;
    a hotfix build suffix such as `-hotfix-2` is the same version)."""
    obj = f"Setting {LONGHORN_NS}/{LONGHORN_VERSION_SETTING}"
    running = (setting or {}).get("value") or None
    if running is not None and version_tuple(running) and version_tuple(running) == version_tuple(documented):
        return None
    flag = affected_note(harvester, matrix)
    return Finding(
        obj,
        f"Harvester {harvester} runs Longhorn {running or 'of unknown version (setting missing or empty)'}; "
        f"expected Longhorn {documented}, the version Harvester {harvester} ships (a partial or failed upgrade?)"
        + (f"; {flag}" if flag else ""),
    )


# --- TRM-02: VMIs paused by IO errors --------------------------------------------------------------


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
