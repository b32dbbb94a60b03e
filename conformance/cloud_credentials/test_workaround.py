"""Section "Workaround": the article's renewal, a merge patch of
`harvestercredentialConfig-kubeconfigContent` with the base64 of a freshly downloaded kubeconfig,
is accepted for the credential and makes it valid again (CCR-01's rules after the patch).

The production credential is never changed (a killed run could not restore it): the patch is sent
to it as a server-side dry run (admission, webhooks and the apiserver's validation run, nothing is
stored: an immutable Secret or a policy refusing the patch shows there), and applied to a copy.
The copy lives in the test's own namespace on the Rancher cluster, starting as the original is
(its public keys, and its kubeconfig with the token's secret part replaced). "Downloading a
kubeconfig" is Rancher's GetKubeconfigDefaultTokenTTLInMilliSeconds (rancher
`pkg/auth/tokens/manager.go` @v2.8.3 … v2.14.0): a kubeconfig Token of the credential's user,
TTL `kubeconfig-default-token-ttl-minutes` clamped to `auth-token-max-ttl-minutes`, created here
through the Kubernetes API, labelled with the run ID and deleted with the copy. The new token's
secret is registered with the redactor before it is used and never leaves this process."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import string

import pytest
import yaml

from harvester_conformance import yamltext
from harvester_conformance.changes import Changes
from harvester_conformance.checks import cloud_credentials as cc
from harvester_conformance.checks.findings import Finding
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.cluster.sanitize import sanitize
from harvester_conformance.cluster.snapshot import MissingPermission
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.reporting.redact import REDACT
from harvester_conformance.verdict import Broken, require

COPY = "hc-ccr03-credential"
PUBLIC_KEYS = ("harvestercredentialConfig-clusterType", "harvestercredentialConfig-clusterId")
_ALNUM = string.ascii_lowercase + string.digits


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()  # one line: `base64 -w 0`, as the article says


def _kubeconfig(secret: dict) -> dict:
    try:
        doc = yamltext.load(base64.b64decode(secret["data"][cc.KUBECONFIG_KEY]))
    except (KeyError, ValueError, yaml.YAMLError):
        doc = None
    if not isinstance(doc, dict):
        meta = secret["metadata"]
        raise Broken(
            f"Secret {meta['namespace']}/{meta['name']}: the kubeconfig does not decode (see CCR-01)", "CCR-01"
        )
    return doc


def _with_token(doc: dict, bearer: str) -> dict:
    """The same kubeconfig with the current context's user carrying `bearer`."""
    ctx = next((c for c in doc.get("contexts") or [] if c.get("name") == doc.get("current-context")), None)
    user_name = ((ctx or {}).get("context") or {}).get("user")
    out = yamltext.load(yaml.safe_dump(doc))
    for user in out.get("users") or []:
        if user.get("name") == user_name:
            user.setdefault("user", {})
            user["user"] = {k: v for k, v in user["user"].items() if k not in ("client-key-data", "password")}
            user["user"]["token"] = bearer
    return out


def _owner(cl: Cluster, doc: dict, secret: dict) -> tuple[str | None, dict]:
    """The credential's user: its current token's owner, else Rancher's creator annotation."""
    for user in doc.get("users") or []:
        token = str((user.get("user") or {}).get("token") or "")
        name, colon, _ = token.partition(":")
        if colon:
            old = cl.get(R.RANCHER_TOKENS, name)
            if old:
                return old.get("userId"), old
    creator = ((secret.get("metadata") or {}).get("annotations") or {}).get("field.cattle.io/creatorId")
    return creator, {}


def _new_token(changes: Changes, user: str, old: dict, ttl_minutes: float) -> str:
    """A kubeconfig token as Rancher issues one on download; returns the bearer `name:secret`."""
    secret = "".join(secrets.choice(_ALNUM) for _ in range(54))
    REDACT.add(secret)
    name = f"kubeconfig-{user}-hc{secrets.token_hex(3)}"
    body = {
        "apiVersion": R.RANCHER_TOKENS.api_version,
        "kind": R.RANCHER_TOKENS.kind,
        "metadata": {
            "name": name,
            "labels": {
                "authn.management.cattle.io/token-userId": user,
                "authn.management.cattle.io/kind": "kubeconfig",
            },
        },
        "token": secret,
        "userId": user,
        "authProvider": old.get("authProvider") or "local",
        "userPrincipal": old.get("userPrincipal") or {"metadata": {"name": f"local://{user}"}},
        "ttl": int(ttl_minutes * 60_000),
        "isDerived": True,
        "description": f"harvester-conformance {changes.run_id}: CCR-03 renewal test",
    }
    changes.create(R.RANCHER_TOKENS, body)
    bearer = f"{name}:{secret}"
    REDACT.add(bearer)
    return bearer


def _refused(cl: Cluster, original: dict, patch: dict) -> list[Finding]:
    """The patch sent to the production credential as a dry run: a refusal is the finding."""
    name = original["metadata"]["name"]
    try:
        cl.patch(R.SECRETS, name, patch, cc.NAMESPACE, dry_run=True)
    except ApiError as exc:
        if exc.forbidden and "cannot patch" in exc.message:
            raise MissingPermission("patch", R.SECRETS, cc.NAMESPACE) from None
        if 400 <= exc.status < 500:
            why = "it is immutable" if original.get("immutable") else f"HTTP {exc.status} {exc.reason}: {exc.message}"
            return [Finding(f"Secret {cc.NAMESPACE}/{name}", f"the article's merge patch is refused ({why})")]
        raise
    return []


@invariant("CCR-03")
def test_merge_patch_makes_the_credential_valid(
    hc: RunContext, rancher_cluster: Cluster, rancher_changes: Changes, margin: dt.timedelta
) -> None:
    cl = rancher_cluster
    originals = sorted(
        (s for s in cl.list(R.SECRETS, cc.NAMESPACE) if cc.is_harvester_credential(s)),
        key=lambda s: s["metadata"]["name"],
    )
    if not originals:
        pytest.skip(f"not applicable: no Harvester cloud credential in {cc.NAMESPACE} on the Rancher cluster")
    original = originals[0]
    sanitize(R.SECRETS, original)  # registers every credential in it with the redactor
    doc = _kubeconfig(original)
    user, old = _owner(cl, doc, original)
    if not user:
        raise Broken(f"Secret {cc.NAMESPACE}/{original['metadata']['name']}: its owner cannot be told", "CCR-01")
    settings = {n: cl.get(R.RANCHER_SETTINGS, n) for n in (cc.TTL_SETTING, cc.MAX_TTL_SETTING)}
    ttl, bad = cc.kubeconfig_ttl(settings)
    require(bad, "Rancher cannot issue kubeconfig tokens")
    assert ttl is not None

    # The copy as the credential stands, minus the token's secret part.
    old_name = str(old.get("metadata", {}).get("name") or "none")
    before = _with_token(doc, f"{old_name}:hc-ccr03-secret-removed")
    data = {k: v for k, v in (original.get("data") or {}).items() if k in PUBLIC_KEYS}
    copy = rancher_changes.create(
        R.SECRETS,
        {
            "metadata": {"name": COPY, "annotations": {cc.DRIVER_ANNOTATION: "harvester"}},
            "type": "Opaque",
            "data": {**data, cc.KUBECONFIG_KEY: _b64(yaml.safe_dump(before))},
        },
    )
    ns = copy["metadata"]["namespace"]

    # The article's steps: a new kubeconfig, merge-patched in base64 without line wrapping.
    bearer = _new_token(rancher_changes, user, old, ttl.minutes)
    new_name = bearer.split(":", 1)[0]
    patch = {"data": {cc.KUBECONFIG_KEY: _b64(yaml.safe_dump(_with_token(doc, bearer)))}}
    findings = _refused(cl, original, patch)
    cl.patch(R.SECRETS, COPY, patch, ns)

    after = sanitize(R.SECRETS, cl.get(R.SECRETS, COPY, ns) or {"metadata": {"name": COPY, "namespace": ns}})
    users = ((after.get("decoded") or {}).get("kubeconfig") or {}).get("users") or []
    if new_name not in {u.get("tokenName") for u in users}:
        findings.append(
            Finding(f"Secret {ns}/{COPY}", f"the merge patch did not put the new token {new_name} in place")
        )
    token = cl.get(R.RANCHER_TOKENS, new_name)
    tokens = {new_name: token} if token else {}
    findings += cc.check_renewed(after, tokens, settings, dt.datetime.now(dt.UTC), margin)
    require(findings, "the article's renewal does not leave a credential that lasts")
