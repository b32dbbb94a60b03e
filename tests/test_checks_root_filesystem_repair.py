"""FSR-01 without a cluster: Harvester v1.1.0 ships Longhorn 1.3.2 with the rebuild fix
(harvester/harvester deploy/charts/harvester/Chart.yaml @v1.0.3: 1.2.4, @v1.1.0: 1.3.2)."""

from __future__ import annotations

from harvester_conformance.checks import root_filesystem_repair as fsr


def _sv(value: str | None, default: str = "dev") -> dict:
    return {"metadata": {"name": "server-version"}, "value": value, "default": default}


def test_before_v1_1_0_fails_naming_the_setting() -> None:
    found = fsr.check_server_version(_sv("v1.0.3"))
    assert found is not None and found.object == "Setting server-version" and "v1.0.3" in found.message
    assert fsr.check_server_version(_sv("v1.1.0")) is None
    assert fsr.check_server_version(_sv("v1.5.0")) is None
    assert fsr.check_server_version(_sv("v1.9.0-rc6")) is None


def test_a_development_build_is_not_judged() -> None:
    assert fsr.server_version(_sv(None)) == "dev"
    assert fsr.check_server_version(_sv(None)) is None
    assert fsr.check_server_version(None) is None
