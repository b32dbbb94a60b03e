"""FRS-01 without a cluster: vm-force-reset-policy decoded as each release's node-down controller
decodes it (HV pkg/settings DecodeVMForceResetPolicy: JSON only up to v1.3.x, period > 0 from
v1.4.0, vmMigrationTimeout >= 0 from v1.7.0) and compared with the release's default (300 s up to
v1.6.x, 15 s from v1.7.0; InitVMForceResetPolicy)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import force_reschedule as frs

V131, V143, V161, V170, V182 = (1, 3, 1), (1, 4, 3), (1, 6, 1), (1, 7, 0), (1, 8, 2)
DEFAULT_OLD = '{"enable":true,"period":300}'
DEFAULT_NEW = '{"enable":true,"period":15,"vmMigrationTimeout":180}'


def _setting(value: str | None = None, default: str = DEFAULT_OLD) -> dict:
    return {"metadata": {"name": frs.SETTING}, "default": default, **({"value": value} if value is not None else {})}


def _all(setting: dict | None, release: tuple[int, ...]) -> list:
    policy, bad = frs.check_decodes(setting, release)
    return [bad] if bad else frs.check_policy(policy, release)


@pytest.mark.parametrize(("release", "default"), [(V131, DEFAULT_OLD), (V161, DEFAULT_OLD), (V182, DEFAULT_NEW)])
def test_release_defaults_pass(release: tuple[int, ...], default: str) -> None:
    assert _all(_setting(default=default), release) == []


def test_default_period_by_release() -> None:
    assert frs.default_period(V161) == 300 and frs.default_period(V170) == 15


def test_period_above_release_default_is_named() -> None:
    """The fault's value: period 600 on v1.3.1 (default 300); 300 itself is above v1.7's 15."""
    [f] = _all(_setting('{"enable":true,"period":600}'), V131)
    assert f.object == "Setting vm-force-reset-policy" and "600 s" in f.message and "300 s" in f.message
    [f] = _all(_setting(DEFAULT_OLD, default=DEFAULT_NEW), V182)
    assert "300 s" in f.message and "15 s default of Harvester v1.8.2" in f.message
    assert _all(_setting('{"enable":true,"period":60}'), V131) == []  # shorter than the default: the advice


def test_disabled_policy_is_named() -> None:
    [f] = _all(_setting('{"enable":false,"period":300}'), V131)
    assert "enable is false" in f.message
    [f] = _all(_setting('{"period":300}'), V131)  # a missing enable decodes as false
    assert "enable is false" in f.message


def test_value_wins_over_default_and_empty_value_falls_back() -> None:
    assert _all(_setting(""), V131) == []
    assert frs.effective({"value": "", "default": DEFAULT_NEW}) == DEFAULT_NEW


@pytest.mark.parametrize(
    "text",
    [
        '{"enable": true, "period": ',  # truncated
        '{"enable":"yes","period":300}',
        '{"enable":true,"period":"300"}',
        '{"enable":true,"period":300.5}',
        '{"enable":true,"period":1e2}',
        '{"enable":true,"period":NaN}',
        "[300]",
    ],
)
def test_values_go_cannot_decode_fail_on_every_release(text: str) -> None:
    for release in (V131, V143, V182):
        policy, bad = frs.check_decodes(_setting(text), release)
        assert policy is None and bad is not None and bad.object == "Setting vm-force-reset-policy", text


def test_period_zero_decodes_only_before_v1_4_0() -> None:
    text = '{"enable":true,"period":0}'
    assert frs.check_decodes(_setting(text), V131)[1] is None
    assert "must be above 0" in frs.check_decodes(_setting(text), V143)[1].message


def test_migration_timeout_from_v1_7_0() -> None:
    text = '{"enable":true,"period":15,"vmMigrationTimeout":-1}'
    assert frs.check_decodes(_setting(text), V161)[1] is None  # an unknown field before v1.7.0
    assert "vmMigrationTimeout" in frs.check_decodes(_setting(text), V170)[1].message
    policy, _ = frs.check_decodes(_setting('{"enable":true,"period":15}'), V170)
    assert policy == frs.Policy(True, 15, 180)  # 0 reads as 180


def test_go_field_matching_and_null() -> None:
    policy, bad = frs.check_decodes(_setting('{"Enable":true,"PERIOD":120,"extra":1}'), V131)
    assert bad is None and policy == frs.Policy(True, 120, None)
    policy, bad = frs.check_decodes(_setting("null"), V131)
    assert bad is None and policy == frs.Policy(False, 0, None)
    assert frs.check_decodes(_setting("null"), V143)[1] is not None  # period 0


def test_missing_setting_fails() -> None:
    policy, bad = frs.check_decodes(None, V131)
    assert policy is None and "does not exist" in bad.message
