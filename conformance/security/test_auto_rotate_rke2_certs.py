"""Section "auto-rotate-rke2-certs": from v1.3.0 the setting exists and parses as Harvester reads
it (enable, expiringInHours 1…8759: HV pkg/settings/settings_helper.go and the setting webhook
@v1.3.0 … v1.8.2). Enabling it is the article's advice (the catalogue's remediation); a cluster
left at the default (disabled) is not warned about, as a fresh install has it so."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import security as sec
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import require


@invariant("SEC-03")
def test_auto_rotate_setting_parses(hc: RunContext) -> None:
    if hc.release.release.key < sec.AUTO_ROTATE_SINCE:
        pytest.skip(f"not applicable: auto-rotate-rke2-certs exists from v1.3.0 (rules of {hc.release.rules_from})")
    _, bad = sec.parse_auto_rotate(hc.snapshot.get(R.HARVESTER_SETTINGS, "auto-rotate-rke2-certs"))
    require([bad], "auto-rotate-rke2-certs cannot be read by Harvester's rotation controller")
