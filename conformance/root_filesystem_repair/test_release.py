"""The article's premise: the cluster runs a release with Longhorn's rebuild-corruption fix."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import root_filesystem_repair as fsr
from harvester_conformance.checks.vm_scheduling import version_tuple
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("FSR-01")
def test_release_has_the_rebuild_fix(hc: RunContext) -> None:
    setting = hc.snapshot.get(R.HARVESTER_SETTINGS, fsr.SETTING)
    version = fsr.server_version(setting)
    if not version_tuple(version):
        pytest.skip(f"not applicable: server-version {version!r} is not a release number (a development build)")
    require([fsr.check_server_version(setting)], "Harvester release before the Longhorn rebuild fix")
