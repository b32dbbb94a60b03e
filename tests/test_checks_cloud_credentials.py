"""CCR-01/02/03 without a cluster: credentials as the snapshot's cleaner leaves them (only servers
and token names), Rancher Token objects and the two TTL settings, judged by Rancher's rules
(rancher `pkg/auth/tokens/token_util.go` IsExpired, `manager.go` ClampToMaxTTL, @v2.8.3 … v2.14.0)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import yaml

from harvester_conformance.checks import cloud_credentials as cc
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.sanitize import sanitize

NOW = dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
WEEK = dt.timedelta(days=7)
SECRET = "a" * 54  # noqa: S105 - a test token's secret part


TOKEN_NAME = "kubeconfig-u-abcde12345"


def _kubeconfig(token: str | None = TOKEN_NAME, server: str = "https://rancher/k8s/clusters/c-m-1") -> str:
    user = {"token": f"{token}:{SECRET}"} if token else {}
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": server}}],
            "users": [{"name": "local", "user": user}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
            "current-context": "local",
        }
    )


def _secret(kubeconfig: str | None, name: str = "cc-abcde", raw: str | None = None) -> dict:
    data = {"harvestercredentialConfig-clusterType": base64.b64encode(b"imported").decode()}
    if kubeconfig is not None:
        data[cc.KUBECONFIG_KEY] = base64.b64encode(kubeconfig.encode()).decode()
    if raw is not None:
        data[cc.KUBECONFIG_KEY] = raw
    body = {
        "metadata": {"name": name, "namespace": cc.NAMESPACE, "annotations": {cc.DRIVER_ANNOTATION: "harvester"}},
        "data": data,
    }
    return sanitize(R.SECRETS, body)  # what the snapshot holds


def _token(name: str = "kubeconfig-u-abcde12345", created: dt.datetime = NOW, ttl_minutes: int = 0, **kw) -> dict:
    return {
        "metadata": {"name": name, "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "ttl": ttl_minutes * 60_000,
        "expiresAt": "",
        "expired": False,
        **kw,
    }


def test_non_expiring_token_passes() -> None:
    assert cc.check_credentials([_secret(_kubeconfig())], [_token()], NOW, WEEK) == []


def test_snapshot_keeps_no_secret() -> None:
    s = _secret(_kubeconfig())
    assert SECRET not in str(s)
    assert s["decoded"]["kubeconfig"]["users"][0]["tokenName"] == "kubeconfig-u-abcde12345"


def test_expired_token_is_named_with_its_server() -> None:
    """The CCR-01 fault: issued 31 days ago under a 30-day TTL."""
    token = _token(created=NOW - dt.timedelta(days=31), ttl_minutes=43200)
    found = cc.check_credentials([_secret(_kubeconfig())], [token], NOW, WEEK)
    assert [f.object for f in found] == [f"Secret {cc.NAMESPACE}/cc-abcde"]
    assert "expired on 2026-01-30" in found[0].message and "https://rancher/k8s/clusters/c-m-1" in found[0].message
    assert SECRET not in found[0].message


def test_expires_at_earlier_than_ttl_wins() -> None:
    token = _token(ttl_minutes=43200, expiresAt="2026-01-30T00:00:00Z")
    assert "expired" in cc.check_credentials([_secret(_kubeconfig())], [token], NOW, WEEK)[0].message


def test_token_within_the_margin_fails_outside_passes() -> None:
    token = _token(created=NOW - dt.timedelta(days=25), ttl_minutes=43200)  # 5 days left
    found = cc.check_credentials([_secret(_kubeconfig())], [token], NOW, WEEK)
    assert "in 5.0 days, within the 7.0 days margin" in found[0].message
    assert cc.check_credentials([_secret(_kubeconfig())], [token], NOW, dt.timedelta(days=1)) == []


def test_missing_or_marked_expired_token_fails() -> None:
    assert "does not exist on Rancher" in cc.check_credentials([_secret(_kubeconfig())], [], NOW, WEEK)[0].message
    marked = _token(expired=True)
    assert "marked expired" in cc.check_credentials([_secret(_kubeconfig())], [marked], NOW, WEEK)[0].message


def test_undecodable_or_serverless_kubeconfig_fails() -> None:
    bad = cc.check_credentials([_secret(None, raw="!!not base64!!")], [], NOW, WEEK)
    assert "does not decode" in bad[0].message
    serverless = cc.check_credentials([_secret(_kubeconfig(server=""))], [_token()], NOW, WEEK)
    assert "no cluster with a server" in serverless[0].message
    no_user = cc.check_credentials([_secret(_kubeconfig(token=None))], [], NOW, WEEK)
    assert "carries no credential" in no_user[0].message


def test_missing_current_context_fails() -> None:
    doc = yaml.safe_load(_kubeconfig())
    doc["current-context"] = "elsewhere"
    found = cc.check_credentials([_secret(yaml.safe_dump(doc))], [_token()], NOW, WEEK)
    assert "names no context" in found[0].message


def test_other_secrets_are_not_credentials() -> None:
    other = sanitize(R.SECRETS, {"metadata": {"name": "x", "namespace": cc.NAMESPACE}, "data": {"a": "Yg=="}})
    assert cc.check_credentials([other], [], NOW, WEEK) == []


def test_margin_from_environment() -> None:
    assert cc.margin_from(None) == WEEK and cc.margin_from("  ") == WEEK
    assert cc.margin_from("36") == dt.timedelta(hours=36)
    with pytest.raises(ValueError):
        cc.margin_from("-1")


# -- TTL --------------------------------------------------------------------------------------------


def _settings(ttl: str, cap: str, ttl_default: str = "43200", cap_default: str = "129600") -> dict:
    return {
        cc.TTL_SETTING: {"value": ttl, "default": ttl_default},
        cc.MAX_TTL_SETTING: {"value": cap, "default": cap_default},
    }


def test_clamp_follows_rancher() -> None:
    """ClampToMaxTTL: max 0 keeps the TTL; TTL 0 under a max gets the max; else the smaller."""
    assert cc.kubeconfig_ttl(_settings("", ""))[0] == cc.KubeconfigTTL(43200, (cc.TTL_SETTING,))
    assert cc.kubeconfig_ttl(_settings("0", ""))[0] == cc.KubeconfigTTL(129600, (cc.MAX_TTL_SETTING,))
    assert cc.kubeconfig_ttl(_settings("0", "0"))[0] == cc.KubeconfigTTL(0, ())
    assert cc.kubeconfig_ttl(_settings("", "", "0", "0"))[0] == cc.KubeconfigTTL(0, ())  # Rancher 2.7
    both = cc.kubeconfig_ttl(_settings("1", "1"))[0]
    assert both == cc.KubeconfigTTL(1, (cc.TTL_SETTING, cc.MAX_TTL_SETTING))


def test_ccr02_flags_a_finite_ttl_naming_the_setting() -> None:
    found = cc.check_ttl(_settings("", ""))  # Rancher 2.8+ defaults
    assert [f.object for f in found] == [f"Setting {cc.TTL_SETTING}"]
    assert "43200 minutes (30.0 days)" in found[0].message
    assert cc.check_ttl(_settings("0", "0")) == []
    assert [f.object for f in cc.check_ttl(_settings("0", ""))] == [f"Setting {cc.MAX_TTL_SETTING}"]
    bad = cc.check_ttl(_settings("thirty", "0"))
    assert "not a number of minutes" in bad[0].message


def test_ccr03_renewal_capped_below_the_margin_names_both_settings() -> None:
    """The CCR-03 fault: both settings at 1 minute; the renewed token outlives no margin."""
    token = _token(ttl_minutes=1)
    found = cc.check_renewed(_secret(_kubeconfig()), {token["metadata"]["name"]: token}, _settings("1", "1"), NOW, WEEK)
    objects = [f.object for f in found]
    assert objects == [f"Secret {cc.NAMESPACE}/cc-abcde", f"Setting {cc.TTL_SETTING}", f"Setting {cc.MAX_TTL_SETTING}"]


def test_ccr03_renewal_without_expiry_passes() -> None:
    token = _token()
    assert (
        cc.check_renewed(_secret(_kubeconfig()), {token["metadata"]["name"]: token}, _settings("0", "0"), NOW, WEEK)
        == []
    )
