"""Section "Mitigating filesystem trim Risk": the affected releases and the Longhorn each release
ships (facts.md §0.1, facts-releases.md R0.1)."""

from __future__ import annotations

import pytest

from harvester_conformance.catalogue.releases import known
from harvester_conformance.checks import filesystem_trim as ft
from harvester_conformance.checks.root_filesystem_repair import FIXED_IN
from harvester_conformance.checks.vm_scheduling import version_tuple
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require


@invariant("TRM-01")
def test_longhorn_is_the_release_s_documented_one(hc: RunContext) -> None:
    harvester = hc.versions.get("harvester")
    if not harvester:
        raise Broken("the Harvester version could not be read (server-version)")
    if version_tuple(harvester) and version_tuple(harvester) < FIXED_IN:
        raise Broken(f"Harvester {harvester} predates the documented matrix", prerequisite="FSR-01")
    matrix = ft.trim_matrix()
    row = known(harvester)
    documented = matrix.documented(harvester) or (row.longhorn if row else None)
    if documented is None:
        pytest.skip(f"not applicable: Harvester {harvester} is not in the documented release matrix")
    setting = hc.snapshot.get(R.LONGHORN_SETTINGS, ft.LONGHORN_VERSION_SETTING, ft.LONGHORN_NS)
    require([ft.check_longhorn_version(harvester, documented, setting, matrix)], "Longhorn version of the release")
