"""Renew Harvester Cloud Credentials (kb/renew_harvester_cloud_credentials.md; facts §3, §17.8).

A Harvester cloud credential is a Secret in `cattle-global-data` of the Rancher that manages
Harvester, its kubeconfig base64-encoded under `harvestercredentialConfig-kubeconfigContent`
(rancher/terraform-provider-rancher2 `rancher2/schema_cloud_credential_harvester.go`). The
kubeconfig's user carries a Rancher token `<name>:<secret>`, `<name>` being a
`tokens.management.cattle.io` object. The functions here see only what the snapshot's cleaner keeps
(`cluster/sanitize.py`: servers, contexts, each user's token *name* and a JWT's exp), never a secret.

Rancher's rules, rancher/rancher @v2.8.3 and @v2.14.0 (read at both tags):
- `pkg/auth/tokens/token_util.go` IsExpired @v2.8.3 (`pkg/apis/management.cattle.io/v3/
  authn_types.go` Token.GetIsExpired @v2.14.0, same rule): a token with `ttl` 0 never expires;
  otherwise it is expired once creationTimestamp + ttl (milliseconds) has passed. SetTokenExpiresAt
  writes that instant into `expiresAt` (`pkg/controllers/management/auth/token.go` fills it for a
  token with a TTL and no expiresAt yet, however the token was created).
- `pkg/auth/tokens/manager.go` GetKubeconfigDefaultTokenTTLInMilliSeconds: a downloaded kubeconfig's
  token gets `kubeconfig-default-token-ttl-minutes` clamped by ClampToMaxTTL to
  `auth-token-max-ttl-minutes` (0: no maximum; a TTL of 0 under a maximum gets the maximum).
- `pkg/settings/setting.go`: defaults 43200 (30 days) and 129600 (90 days) from v2.8.0; both 0 in
  v2.7.x. Harvester's own setting of the same name (HV >= v1.3.1 `kubeconfigttl.go`) feeds only the
  Rancher embedded in Harvester, never the external Rancher that holds the credentials.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from harvester_conformance.checks.findings import Finding

NAMESPACE = "cattle-global-data"
KUBECONFIG_KEY = "harvestercredentialConfig-kubeconfigContent"
DRIVER_ANNOTATION = "provisioning.cattle.io/driver"
TTL_SETTING = "kubeconfig-default-token-ttl-minutes"
MAX_TTL_SETTING = "auth-token-max-ttl-minutes"
# The margin a credential's token must outlive: a week leaves time to renew before Rancher loses
# the guest clusters (the KB's failure). Set per run with --credential-margin-hours.
DEFAULT_MARGIN = dt.timedelta(days=7)
MARGIN_OPTION = "--credential-margin-hours"


def margin_from(text: str | None) -> dt.timedelta:
    """The margin from the option's value in hours (a number >= 0), else the default."""
    if text is None or not text.strip():
        return DEFAULT_MARGIN
    hours = float(text)
    if not hours >= 0:
        raise ValueError(f"{MARGIN_OPTION} must be a number of hours >= 0, got {text!r}")
    return dt.timedelta(hours=hours)


def _days(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if abs(hours) >= 48 else f"{hours:.1f} hours"


def _ref(secret: dict) -> str:
    meta = secret.get("metadata") or {}
    return f"Secret {meta.get('namespace')}/{meta.get('name')}"


def is_harvester_credential(secret: dict) -> bool:
    """The driver annotation Rancher sets, or the kubeconfig key (the snapshot keeps the key's name
    in `redactedKeys` when it removed the value)."""
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    keys = set(secret.get("data") or {}) | set(secret.get("redactedKeys") or [])
    return annotations.get(DRIVER_ANNOTATION) == "harvester" or KUBECONFIG_KEY in keys


def parse_stamp(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def token_expiry(token: dict) -> tuple[bool, dt.datetime | None]:
    """(expires at all, when): Rancher's IsExpired (creationTimestamp + ttl), or `expiresAt` when
    Rancher wrote an earlier one (the two agree upstream; the earlier is the safe reading)."""
    ttl_ms = int(token.get("ttl") or 0)
    if ttl_ms == 0:
        return False, None
    created = parse_stamp((token.get("metadata") or {}).get("creationTimestamp"))
    candidates = [created + dt.timedelta(milliseconds=ttl_ms)] if created else []
    stated = parse_stamp(token.get("expiresAt"))
    if stated:
        candidates.append(stated)
    return True, min(candidates) if candidates else None


@dataclass(frozen=True)
class UserAuth:
    name: str
    token_name: str | None  # a Rancher token's object name
    jwt_expires: dt.datetime | None
    auth: tuple[str, ...]


def _selected(summary: dict) -> tuple[str | None, dict | None, dict | None, list[str]]:
    """The current context's server and user, as client-go's clientcmd resolves them."""
    problems: list[str] = []
    current = summary.get("currentContext")
    contexts = {c.get("name"): c for c in summary.get("contexts") or []}
    ctx = contexts.get(current) if current else None
    if ctx is None:
        problems.append(
            f"current-context {current!r} names no context" if current else "the kubeconfig has no current-context"
        )
        return None, None, None, problems
    cluster = next((c for c in summary.get("clusters") or [] if c.get("name") == ctx.get("cluster")), None)
    user = next((u for u in summary.get("users") or [] if u.get("name") == ctx.get("user")), None)
    if cluster is None or not cluster.get("server"):
        problems.append(f"context {current!r} names no cluster with a server (cluster {ctx.get('cluster')!r})")
    if user is None:
        problems.append(f"context {current!r} names no user (user {ctx.get('user')!r})")
    return (cluster or {}).get("server"), cluster, user, problems


def check_credential(secret: dict, tokens: dict[str, dict], now: dt.datetime, margin: dt.timedelta) -> list[Finding]:
    """CCR-01 for one cleaned credential Secret: the kubeconfig decodes, its current context names a
    server and a user, and the user's token exists on Rancher and outlives now + margin."""
    ref = _ref(secret)
    summary = (secret.get("decoded") or {}).get("kubeconfig")
    if not isinstance(summary, dict):
        keys = set(secret.get("data") or {}) | set(secret.get("redactedKeys") or [])
        missing = KUBECONFIG_KEY not in keys
        what = f"has no {KUBECONFIG_KEY}" if missing else f"{KUBECONFIG_KEY} could not be read"
        return [Finding(ref, f"{what}: expected the base64 of the Harvester cluster's kubeconfig")]
    if summary.get("error"):
        return [Finding(ref, f"{KUBECONFIG_KEY} does not decode: {summary['error']}")]
    server, _, user, problems = _selected(summary)
    if problems:
        return [Finding(ref, "; ".join(problems))]
    assert user is not None
    where = f"(server {server})"
    token_name = user.get("tokenName")
    if token_name:
        token = tokens.get(token_name)
        if token is None:
            return [
                Finding(
                    ref,
                    f"its token {token_name} does not exist on Rancher {where}: it was deleted or, expired, "
                    "removed; Rancher can no longer manage the guest clusters built with this credential",
                )
            ]
        if token.get("expired") is True:
            return [Finding(ref, f"its token {token_name} is marked expired on Rancher {where}")]
        expires, at = token_expiry(token)
        label = f"token {token_name}"
    elif user.get("tokenExpiresAt"):
        expires, at = True, parse_stamp(user["tokenExpiresAt"])
        label = "its token (JWT exp)"
    else:
        if not user.get("auth"):
            return [Finding(ref, f"the kubeconfig's user {user.get('name')!r} carries no credential {where}")]
        return []  # another credential (service-account token, client certificate): no expiry to read
    if not expires:
        return []
    if at is None:
        return [Finding(ref, f"{label} has a TTL but no creation time or expiresAt {where}")]
    if at <= now:
        return [Finding(ref, f"{label} expired on {at:%Y-%m-%d %H:%M} UTC ({_days(now - at)} ago) {where}")]
    if at - now < margin:
        return [
            Finding(
                ref,
                f"{label} expires on {at:%Y-%m-%d %H:%M} UTC, in {_days(at - now)}, within the "
                f"{_days(margin)} margin {where}",
            )
        ]
    return []


def check_credentials(
    secrets: Iterable[dict], tokens: Iterable[dict], now: dt.datetime, margin: dt.timedelta
) -> list[Finding]:
    """CCR-01 over every Harvester cloud credential in cattle-global-data."""
    by_name = {t["metadata"]["name"]: t for t in tokens}
    return [
        f
        for s in sorted(secrets, key=lambda s: s["metadata"]["name"])
        if is_harvester_credential(s)
        for f in check_credential(s, by_name, now, margin)
    ]


# -- token TTL (CCR-02, CCR-03) -------------------------------------------------------------------


def _effective(setting: dict | None) -> str:
    s = setting or {}
    return s.get("value") or s.get("default") or ""


def minutes(setting: dict | None) -> float | None:
    """Rancher's ParseTokenTTL: the effective value as minutes (`<value>m` parsed as a Go duration:
    integer or decimal); None when it does not parse (Rancher then refuses to issue a token)."""
    text = _effective(setting).strip() or "0"
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


@dataclass(frozen=True)
class KubeconfigTTL:
    minutes: float  # 0: never expires
    limited_by: tuple[str, ...]  # the settings that make it finite


def kubeconfig_ttl(settings: dict[str, dict | None]) -> tuple[KubeconfigTTL | None, list[Finding]]:
    """A downloaded kubeconfig's token TTL: GetKubeconfigDefaultTokenTTLInMilliSeconds."""
    bad = []
    parsed: dict[str, float] = {}
    for name in (TTL_SETTING, MAX_TTL_SETTING):
        m = minutes(settings.get(name))
        if m is None:
            bad.append(
                Finding(
                    f"Setting {name}",
                    f"Rancher setting {name} is {_effective(settings.get(name))!r}: "
                    "not a number of minutes, so Rancher cannot issue kubeconfig tokens",
                )
            )
        else:
            parsed[name] = m
    if bad:
        return None, bad
    ttl, cap = parsed[TTL_SETTING], parsed[MAX_TTL_SETTING]
    if cap == 0:
        return KubeconfigTTL(ttl, (TTL_SETTING,) if ttl else ()), []
    if ttl == 0 or ttl > cap:
        return KubeconfigTTL(cap, (MAX_TTL_SETTING,)), []
    return KubeconfigTTL(ttl, (TTL_SETTING, MAX_TTL_SETTING) if ttl == cap else (TTL_SETTING,)), []


def _as_duration(m: float) -> str:
    return f"{m:g} minutes ({_days(dt.timedelta(minutes=m))})"


def check_ttl(settings: dict[str, dict | None]) -> list[Finding]:
    """CCR-02: a finite kubeconfig token TTL means every Harvester credential made from a downloaded
    kubeconfig expires; each setting that makes it finite is named with its value."""
    ttl, bad = kubeconfig_ttl(settings)
    if ttl is None:
        return bad
    if not ttl.minutes:
        return []
    if ttl.minutes < 0:
        return [Finding(f"Setting {TTL_SETTING}", f"the kubeconfig token TTL is negative ({ttl.minutes:g} minutes)")]
    values = {n: minutes(settings.get(n)) or 0 for n in (TTL_SETTING, MAX_TTL_SETTING)}
    return [
        Finding(
            f"Setting {name}",
            f"Rancher setting {name} is {values[name]:g}: kubeconfig tokens, and so Harvester cloud "
            f"credentials made from a downloaded kubeconfig, expire after {_as_duration(ttl.minutes)}; "
            "plan renewals or set both settings to 0 (no expiry)",
        )
        for name in ttl.limited_by
    ]


def check_renewed(
    secret: dict, tokens: dict[str, dict], settings: dict[str, dict | None], now: dt.datetime, margin: dt.timedelta
) -> list[Finding]:
    """CCR-03: after the article's merge patch the credential passes CCR-01; when it does not because
    the new token is already short-lived, the settings that capped its TTL are named too."""
    found = check_credential(secret, tokens, now, margin)
    ttl, bad = kubeconfig_ttl(settings)
    if not found or ttl is None:
        return found + bad
    if ttl.minutes and dt.timedelta(minutes=ttl.minutes) < margin:
        found += [
            Finding(
                f"Setting {name}",
                f"Rancher setting {name} limits a renewed kubeconfig token to {_as_duration(ttl.minutes)}, "
                f"less than the {_days(margin)} margin: the renewal cannot make the credential last",
            )
            for name in ttl.limited_by
        ]
    return found
