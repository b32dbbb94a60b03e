"""Root filesystem repair (article scan-and-repair-vm-root-filesystem): FSR-01.

Before Harvester v1.1.0 (Longhorn 1.2.x) a replica rebuild could corrupt a volume's filesystem,
which the article repairs from a toolbox pod; v1.1.0 ships Longhorn 1.3.2 with the fix (facts.md
§0.1: harvester/harvester `deploy/charts/harvester/Chart.yaml` @v1.0.3 longhorn 1.2.4, @v1.1.0
1.3.2). The running release is the `server-version` setting's value (its default is "dev";
facts.md §0.2, §17.4).
"""

from __future__ import annotations

from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.vm_scheduling import version_tuple

SETTING = "server-version"
FIXED_IN = (1, 1, 0)


def server_version(setting: dict | None) -> str | None:
    return (setting or {}).get("value") or (setting or {}).get("default") or None


def check_server_version(setting: dict | None) -> Finding | None:
    """FSR-01: the release is v1.1.0 or later (a version that is not a release number is not judged)."""
    version = server_version(setting)
    parsed = version_tuple(version)
    if not parsed or parsed >= FIXED_IN:
        return None
    return Finding(
        f"Setting {SETTING}",
        f"Harvester {version} is older than v{'.'.join(map(str, FIXED_IN))}: its Longhorn can corrupt volumes "
        "during replica rebuilds; expected v1.1.0 or later",
    )
