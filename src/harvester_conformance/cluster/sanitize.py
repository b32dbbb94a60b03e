"""Per-type cleaning of what the run lists, so that the snapshot (written to disk, read by every
report) never holds a private key, a token, a password or cloud-init user data.

`sanitize(res, item)` returns a cleaned deep copy; the input is never touched (`sanitize_owned`
cleans in place an object only the caller holds). Every removed value
is registered with the one redactor, so that it is masked wherever else it shows up (an API error,
a log line, a traceback). Conventions:

- Secrets: `data` keeps only public keys; `redactedKeys` names the removed ones; `decoded` holds
  what a cleaner derived from a removed value (a kubeconfig's servers, a token's name), never the value.
- Every other type: a secret field keeps its place and its value becomes MASK, so that a check can
  still tell that it was set (a check must not parse a MASK as a key or a password).

The registry: `@cleans(R.X)` for whole objects of a type, `@cleans_secrets(SecretKind(...))` for
Secrets by type, keys or namespace (first match wins; the default keeps PUBLIC_SECRET_KEYS), and
`@cleans_setting("name")` for a Harvester setting's `value` and `default`. A new secret-bearing
type adds one function here.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import unquote

import yaml

from harvester_conformance import yamltext
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.resources import Resource
from harvester_conformance.reporting.redact import MASK, REDACT

PUBLIC_SECRET_KEYS = frozenset({"tls.crt", "ca.crt", "ca-bundle"})
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"  # a full copy of what was applied

Cleaner = Callable[[dict], None]  # cleans a private copy in place


class Kept(NamedTuple):
    """What a Secret cleaner keeps: data keys kept as they are, and facts derived from removed keys."""

    keys: frozenset[str] = frozenset()
    decoded: dict[str, Any] | None = None


SecretCleaner = Callable[[dict[str, str]], Kept]


@dataclass(frozen=True)
class SecretKind:
    """Which Secrets a cleaner is for; every criterion given must hold (any_key: one of these data keys)."""

    type: str | None = None
    any_key: frozenset[str] = field(default_factory=frozenset)
    namespace: str | None = None

    def matches(self, secret: dict) -> bool:
        if self.type and secret.get("type") != self.type:
            return False
        if self.namespace and (secret.get("metadata") or {}).get("namespace") != self.namespace:
            return False
        return not self.any_key or bool(self.any_key & set(secret.get("data") or {}))


_TYPES: dict[str, Resource] = {}
_CLEANERS: dict[str, list[Cleaner]] = {}
_SECRET_KINDS: list[tuple[SecretKind, SecretCleaner]] = []
_SETTINGS: dict[str, Callable[[str], str]] = {}


def cleans(*resources: Resource) -> Callable[[Cleaner], Cleaner]:
    """Register a cleaner of whole objects of these types (several may clean one type, in order)."""

    def register(fn: Cleaner) -> Cleaner:
        for res in resources:
            _TYPES[res.key] = res
            _CLEANERS.setdefault(res.key, []).append(fn)
        return fn

    return register


def cleans_secrets(kind: SecretKind) -> Callable[[SecretCleaner], SecretCleaner]:
    def register(fn: SecretCleaner) -> SecretCleaner:
        _SECRET_KINDS.append((kind, fn))
        return fn

    return register


def cleans_setting(*names: str) -> Callable[[Callable[[str], str]], Callable[[str], str]]:
    def register(fn: Callable[[str], str]) -> Callable[[str], str]:
        for name in names:
            _SETTINGS[name] = fn
        return fn

    return register


def cleaned_types() -> list[Resource]:
    """The types with a cleaner of their own (every type also loses kubectl's last-applied copy)."""
    return [_TYPES[k] for k in sorted(_TYPES)]


def sanitize(res: Resource, item: dict) -> dict:
    """A cleaned copy of one listed object of type `res`."""
    out = json.loads(json.dumps(item))  # a deep copy, several times faster than copy.deepcopy on JSON
    return sanitize_owned(res, out)


def sanitize_owned(res: Resource, item: dict) -> dict:
    """`item` cleaned in place and returned: for an object nobody else holds (just decoded from a
    list's answer), whose copy would cost as much as decoding it again (a third of a snapshot's
    time at 2,000 VMs)."""
    cleaners = _CLEANERS.get(res.key, ())
    _drop_last_applied(item, register=bool(cleaners))
    for fn in cleaners:
        fn(item)
    return item


# -- removing values ------------------------------------------------------------------------------


def take(value: Any) -> Any:
    """Register a secret value (and what it decodes to, when base64) and return what replaces it."""
    if not isinstance(value, str) or not value or value == MASK:
        return value
    REDACT.add(value)
    decoded = _b64decode(value)
    if decoded:
        REDACT.add(decoded)
    return MASK


def _b64decode(value: str) -> str | None:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def _drop_last_applied(item: dict, register: bool) -> None:
    """kubectl's copy of what was applied duplicates the object, secrets included. It is registered
    only for the types that have a cleaner: a CRD's or a ConfigMap's copy holds no secret, and
    registering large non-secret texts would slow down every redaction."""
    annotations = (item.get("metadata") or {}).get("annotations") or {}
    if LAST_APPLIED in annotations:
        if register:
            take(annotations[LAST_APPLIED])
        annotations[LAST_APPLIED] = MASK


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _ci(obj: Any, name: str) -> Any:
    """A key looked up case-insensitively, as Go's encoding/json does."""
    if not isinstance(obj, dict):
        return None
    return next((v for k, v in obj.items() if k.lower() == name.lower()), None)


# Names of fields, env vars and flags whose value is a credential; references to one are not.
_SECRET_NAME = re.compile(r"(?i)(passw(or)?d|secret|token|credential|private.?key|access.?key|api.?key)")
_REFERENCE_NAME = re.compile(
    r"(?i)(name|ref|file|path|dir|namespace|ttl|minutes|seconds|hours|enabled?|type|mode|checksum|hash|length)$"
)


_NOT_A_CREDENTIAL = re.compile(r"(?i)(true|false|yes|no|[0-9.]{1,5}[a-z]{0,2})")


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _REFERENCE_NAME.search(name)


def take_credential(value: Any) -> Any:
    """take() for a value found under a credential-like name; switches and numbers are no credential."""
    if isinstance(value, str) and _NOT_A_CREDENTIAL.fullmatch(value):
        return value
    return take(value)


def mask_secret_keys(obj: Any) -> None:
    """Mask, in place, every string under a key named like a credential (Helm values, RKE2 configs)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if is_secret_name(str(key)):
                obj[key] = _mask_all(value)
            else:
                mask_secret_keys(value)
    elif isinstance(obj, list):
        for value in obj:
            mask_secret_keys(value)


def _mask_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    return take_credential(value)


# -- text: URLs and PEM blocks ----------------------------------------------------------------------

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@\"']*):([^\s/@\"']+)@")
_URL_SIGNATURE = re.compile(
    r"(?i)([?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential"
    r"|signature|sig|token|access_token)=)([^&\s\"'#]+)"
)
_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
_RANCHER_IMPORT = re.compile(r"(/v3/import/)([^/_.?#\s\"']+)")


def _register_url_part(part: str) -> str:
    take(part)
    if unquote(part) != part:
        take(unquote(part))
    return MASK


def clean_text(text: str) -> str:
    """Passwords in URLs, signed-URL signatures and PEM private keys, wherever they are in a string."""
    if "@" in text and "://" in text:  # substring tests first: most strings hold neither
        text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}:{_register_url_part(m.group(2))}@", text)
    if "=" in text and ("?" in text or "&" in text):
        text = _URL_SIGNATURE.sub(lambda m: m.group(1) + _register_url_part(m.group(2)), text)
    if "PRIVATE KEY-----" in text:
        text = _PEM_KEY.sub(lambda m: _take_pem(m.group(0)), text)
    return text


def _take_pem(block: str) -> str:
    take(block)
    if "\\n" in block:  # as written inside a JSON string
        take(block.replace("\\n", "\n"))
    return MASK


def clean_url(url: str) -> str:
    """A single URL, scheme optional (Go's proxy settings accept `user:pass@host:port`)."""
    if not isinstance(url, str) or "@" not in url or "://" in url:
        return clean_text(url) if isinstance(url, str) else url
    authority, slash, rest = url.partition("/")
    userinfo, _, host = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not colon or not password:
        return url
    return f"{user}:{_register_url_part(password)}@{host}{slash}{clean_text(rest)}"


def _clean_strings(obj: Any) -> Any:
    """clean_text on every string of a structure (specs that carry URLs)."""
    if isinstance(obj, dict):
        return {k: _clean_strings(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean_strings(v) for v in obj]
    return clean_text(obj) if isinstance(obj, str) else obj


# -- Secrets ----------------------------------------------------------------------------------------


@cleans(R.SECRETS)
def _secret(item: dict) -> None:
    clean_secret_data(item, item)
    for key, value in (item.pop("stringData", None) or {}).items():  # never returned by the API; files may
        take(value)
        item.setdefault("redactedKeys", []).append(key)


def clean_secret_data(holder: dict, secret: dict) -> None:
    """Keep the public keys of `holder["data"]` (chosen by the cleaner of `secret`'s kind), register
    and list the others, and add what the cleaner decoded."""
    data = holder.get("data") or {}
    kept = _secret_cleaner(secret)(data)
    keep = PUBLIC_SECRET_KEYS | kept.keys
    removed = {k: v for k, v in data.items() if k not in keep}
    REDACT.add_secret_data(removed)
    holder["data"] = {k: v for k, v in data.items() if k in keep}
    holder["redactedKeys"] = sorted(removed)
    if kept.decoded:
        holder["decoded"] = kept.decoded


def _secret_cleaner(secret: dict) -> SecretCleaner:
    return next((fn for kind, fn in _SECRET_KINDS if kind.matches(secret)), lambda data: Kept())


@cleans_secrets(SecretKind(type="kubernetes.io/service-account-token"))
def _service_account_token(data: dict[str, str]) -> Kept:
    """`namespace` is public, and registering it would mask the namespace's name in every report."""
    return Kept(frozenset({"namespace"}))


# Rancher cloud credentials: Secrets in cattle-global-data (type provisioning.cattle.io/cloud-credential
# when made by the UI/API, Opaque when made by scripts), data keys `<driver>credentialConfig-<field>`.
CC_KUBECONFIG = "harvestercredentialConfig-kubeconfigContent"
CC_PUBLIC = frozenset({"harvestercredentialConfig-clusterType", "harvestercredentialConfig-clusterId"})


@cleans_secrets(SecretKind(any_key=frozenset({CC_KUBECONFIG})))
def _harvester_cloud_credential(data: dict[str, str]) -> Kept:
    """Servers, cluster names, and each user's token name (the part of a Rancher `name:secret`
    token before the colon, the name of its Token object) and expiry (a JWT's exp claim)."""
    text = _b64decode(data.get(CC_KUBECONFIG) or "")
    try:
        doc = yamltext.load(text) if text else None
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict):
        REDACT.add_shapes(text)  # the value is removed whole; a token in it may be quoted alone
        return Kept(CC_PUBLIC, {"kubeconfig": {"error": "the kubeconfig is not valid base64 YAML"}})
    return Kept(CC_PUBLIC, {"kubeconfig": kubeconfig_summary(doc)})


def kubeconfig_summary(doc: dict) -> dict[str, Any]:
    """What checks need from a kubeconfig; registers every credential in it."""
    return {
        "currentContext": doc.get("current-context"),
        "clusters": [
            {"name": c.get("name"), "server": clean_url(_dig(c, "cluster", "server") or "")}
            for c in _dicts(doc.get("clusters"))
        ],
        "contexts": [
            {"name": c.get("name"), "cluster": _dig(c, "context", "cluster"), "user": _dig(c, "context", "user")}
            for c in _dicts(doc.get("contexts"))
        ],
        "users": [_user_summary(u) for u in _dicts(doc.get("users"))],
    }


def _dicts(value: Any) -> Iterator[dict]:
    return (v for v in (value if isinstance(value, list) else []) if isinstance(v, dict))


_USER_CREDENTIALS = ("token", "password", "client-key-data", "auth-provider", "exec")


def _user_summary(entry: dict) -> dict[str, Any]:
    user = entry.get("user") if isinstance(entry.get("user"), dict) else {}
    token = user.get("token") if isinstance(user.get("token"), str) else ""
    name, colon, secret = token.partition(":")
    _register_user_credentials(user)
    if colon:
        take(secret)
    return {
        "name": entry.get("name"),
        "auth": sorted(k for k in user if k in _USER_CREDENTIALS or k.startswith("client-certificate")),
        "tokenName": name if colon else None,
        "tokenExpiresAt": _jwt_expiry(token),
    }


def _register_user_credentials(user: dict) -> None:
    """Token, password, client key, auth-provider secrets, exec env values: an exec command or an
    issuer URL is no credential, and registering it would mask it in every report."""
    for key in ("token", "password", "client-key-data"):
        take(user.get(key))
    mask_secret_keys(copy.deepcopy(_dig(user, "auth-provider", "config")))
    for var in _dicts(_dig(user, "exec", "env")):
        take(var.get("value"))


def _jwt_expiry(token: str) -> str | None:
    """RFC 3339 time of a JWT's exp claim; None for anything else (Rancher tokens carry none)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, KeyError, TypeError, binascii.Error, OverflowError):
        return None


# VM cloud-init: KubeVirt reads `userdata`/`userData` and `networkdata`/`networkData` from the Secrets
# named by cloudInitNoCloud/cloudInitConfigDrive `secretRef`/`networkDataSecretRef`
# (pkg/cloud-init/cloud-init.go); Harvester writes `userdata` and `networkdata`.
USER_DATA_KEYS = frozenset({"userdata", "userData"})
NETWORK_DATA_KEYS = frozenset({"networkdata", "networkData"})


@cleans_secrets(SecretKind(any_key=USER_DATA_KEYS | NETWORK_DATA_KEYS))
def _cloud_init(data: dict[str, str]) -> Kept:
    """Network data is kept (and decoded: checks read it); user data carries passwords and keys."""
    keys = frozenset(k for k in data if k in NETWORK_DATA_KEYS)
    for key in USER_DATA_KEYS & set(data):
        register_user_data(_b64decode(data[key]) or "")
    decoded = {k: _b64decode(data[k]) for k in sorted(keys)}
    return Kept(keys, {k: v for k, v in decoded.items() if v is not None})


def register_user_data(text: str) -> None:
    """The whole user data, and each credential in it when it is a cloud-config (`password`,
    `chpasswd`, `hashed_passwd`...), so that a password quoted alone is masked too."""
    take(text)
    try:
        doc = yamltext.load(text)
    except yaml.YAMLError:
        return
    mask_secret_keys(doc)


# -- Harvester settings -----------------------------------------------------------------------------


@cleans(R.HARVESTER_SETTINGS)
def _harvester_setting(item: dict) -> None:
    """Both `value` and `default`; every setting also gets the generic text cleaning."""
    specific = _SETTINGS.get((item.get("metadata") or {}).get("name", ""), lambda text: text)
    for key in ("value", "default"):
        if isinstance(item.get(key), str) and item[key]:
            item[key] = clean_text(specific(item[key]))


@cleans(R.LONGHORN_SETTINGS, R.RANCHER_SETTINGS)
def _plain_setting(item: dict) -> None:
    for key in ("value", "default"):
        if isinstance(item.get(key), str):
            item[key] = clean_text(item[key])


def _json_object(text: str) -> dict | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _json_fields_masked(text: str, names: Iterable[str]) -> str:
    """For a value that does not parse: mask `"name": "..."` pairs found in the text."""
    alternatives = "|".join(re.escape(n) for n in names)
    pattern = re.compile(rf'(?i)("(?:{alternatives})"\s*:\s*")((?:[^"\\]|\\.)+)(")')
    return pattern.sub(lambda m: m.group(1) + take(m.group(2)) + m.group(3), text)


def _mask_fields(doc: dict, names: Iterable[str]) -> bool:
    """Mask (case-insensitively named) string fields of one JSON object; whether any was set."""
    wanted = {n.lower() for n in names}
    hits = [k for k, v in doc.items() if k.lower() in wanted and isinstance(v, str) and v and v != MASK]
    for key in hits:
        doc[key] = take(doc[key])
    return bool(hits)


@cleans_setting("ssl-certificates")
def _ssl_certificates(text: str) -> str:
    """Certificate and CA kept; the key replaced by the SHA-256 of its public key (SubjectPublicKeyInfo,
    DER), so that a check can still tell whether the key belongs to the certificate."""
    doc = _json_object(text)
    key = doc.get("privateKey") if doc else None
    if doc is None or not isinstance(key, str) or not key or key == MASK:
        return text
    doc["privateKeySpkiSha256"] = _spki_sha256(key)
    doc["privateKey"] = take(key)
    return json.dumps(doc)


def _spki_sha256(pem: str) -> str:
    """Empty when the key does not parse (a check reports that)."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return ""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


# containerd-registry: Go's Registry{Mirrors, Configs, Auths} decoded case-insensitively
# (HV pkg/containerd/registry.go); Harvester strips Configs.*.Auth once it has synced them to a
# Secret (pkg/controller/master/setting/containerd_registry.go), but a value may still hold them.
REGISTRY_CREDENTIALS = ("password", "auth", "identityToken")


@cleans_setting("containerd-registry")
def _containerd_registry(text: str) -> str:
    doc = _json_object(text)
    if doc is None:
        return _json_fields_masked(text, REGISTRY_CREDENTIALS)
    auths = [_ci(c, "auth") for c in (_ci(doc, "configs") or {}).values() if isinstance(c, dict)]
    auths += list((_ci(doc, "auths") or {}).values())  # deprecated map: host -> AuthConfig
    changed = [_mask_fields(a, REGISTRY_CREDENTIALS) for a in auths if isinstance(a, dict)]
    return json.dumps(doc) if any(changed) else text


@cleans_setting("http-proxy")
def _http_proxy(text: str) -> str:
    """Only a proxy URL's password goes: the checks parse httpProxy, httpsProxy and noProxy."""
    doc = _json_object(text)
    if doc is None:
        return text  # clean_text still masks URL passwords
    before = dict(doc)
    for key in ("httpProxy", "httpsProxy"):
        if isinstance(doc.get(key), str):
            doc[key] = clean_url(doc[key])
    return json.dumps(doc) if doc != before else text


# backup-target: S3 keys (accessKeyId, secretAccessKey) sit in the value until Harvester has copied
# them to the Secret harvester-backup-target-secret and stripped them
# (HV pkg/settings/settings_helper.go BackupTarget, pkg/controller/master/backup/backup_target.go).
BACKUP_CREDENTIALS = ("accessKeyId", "secretAccessKey")


@cleans_setting("backup-target")
def _backup_target(text: str) -> str:
    doc = _json_object(text)
    if doc is None:
        return _json_fields_masked(text, BACKUP_CREDENTIALS)
    return json.dumps(doc) if _mask_fields(doc, BACKUP_CREDENTIALS) else text


@cleans_setting("cluster-registration-url")
def _cluster_registration_url(text: str) -> str:
    """Rancher's import URL `<server>/v3/import/<registration token>_<cluster id>.yaml`: the token
    lets anyone fetch the manifest holding the cluster agent's credentials."""
    return _RANCHER_IMPORT.sub(lambda m: m.group(1) + take(m.group(2)), text)


# -- Rancher ----------------------------------------------------------------------------------------


# `key: value` on one line of a YAML text, the value unquoted or quoted (cloud-config, Helm values).
_YAML_LINE = re.compile(
    r"^(?P<lead>\s*(?:-\s+)?(?P<key>[A-Za-z0-9_.-]+)\s*:\s+)"
    r"""(?P<q>["']?)(?P<value>[^\s"'#|>][^"']*?)(?P=q)\s*$"""
)


def mask_secret_lines(text: str) -> str:
    """A YAML text with each one-line value under a credential-like key masked (and registered):
    the document still parses, and its other lines (users, groups, commands, files) stay readable."""
    lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        m = _YAML_LINE.match(body)
        if m and is_secret_name(m["key"]):
            masked = take_credential(m["value"])
            if masked != m["value"]:
                line = f'{m["lead"]}"{masked}"' + line[len(body) :]
        lines.append(line)
    return clean_text("".join(lines))


@cleans(R.CLOUD_INITS)
def _cloud_init(item: dict) -> None:
    """CloudInit contents are cloud-config files for the hosts: user password hashes stay out."""
    spec = item.get("spec") or {}
    if isinstance(spec.get("contents"), str):
        spec["contents"] = mask_secret_lines(spec["contents"])


@cleans(R.HELM_CHART_CONFIGS, R.HELM_CHARTS)
def _helm_values(item: dict) -> None:
    """Helm values as YAML text (`valuesContent`) and as a map (`set`)."""
    spec = item.get("spec") or {}
    if isinstance(spec.get("valuesContent"), str):
        spec["valuesContent"] = mask_secret_lines(spec["valuesContent"])
    mask_secret_keys(spec.get("set"))


@cleans(R.RANCHER_TOKENS)
def _rancher_token(item: dict) -> None:
    """Name, userId, ttl, expiresAt and expired stay: the cloud-credential checks look tokens up by name."""
    item["token"] = take(item.get("token"))


@cleans(R.PROVISIONING_CLUSTERS)
def _provisioning_cluster(item: dict) -> None:
    spec = item.get("spec") or {}
    _clean_env(spec.get("agentEnvVars"))
    rke = spec.get("rkeConfig") or {}
    mask_secret_keys(rke.get("machineGlobalConfig"))
    for selector in rke.get("machineSelectorConfig") or []:
        mask_secret_keys(selector.get("config") if isinstance(selector, dict) else None)


@cleans(R.MANAGED_CHARTS)
def _managed_chart(item: dict) -> None:
    mask_secret_keys(_dig(item, "spec", "values"))


@cleans(R.FLEET_BUNDLES)
def _fleet_bundle(item: dict) -> None:
    """Helm values are masked by key; resource contents (whole charts, any manifest, Secrets
    included) are dropped without registration: they are not one value to mask elsewhere."""
    spec = item.get("spec") or {}
    for resource in spec.get("resources") or []:
        if isinstance(resource, dict) and "content" in resource:
            resource["content"] = MASK
    mask_secret_keys({k: v for k, v in spec.items() if k != "resources"})


# -- KubeVirt, Harvester VMs and images --------------------------------------------------------------

CLOUD_INIT_SOURCES = ("cloudInitNoCloud", "cloudInitConfigDrive")
USER_DATA_FIELDS = ("userData", "userDataBase64")


def clean_volumes(volumes: Any) -> None:
    """Inline cloud-init user data goes; network data and secret references stay."""
    for volume in volumes if isinstance(volumes, list) else []:
        for source in CLOUD_INIT_SOURCES:
            ci = volume.get(source) if isinstance(volume, dict) else None
            for key in USER_DATA_FIELDS if isinstance(ci, dict) else ():
                if isinstance(ci.get(key), str) and ci[key] != MASK:
                    plain = _b64decode(ci[key]) if key == "userDataBase64" else ci[key]
                    register_user_data(plain or "")
                    ci[key] = take(ci[key])


def _clean_vm_spec(spec: Any) -> None:
    clean_volumes(_dig(spec, "template", "spec", "volumes"))
    for template in _dicts(_dig(spec, "dataVolumeTemplates")):
        if "spec" in template:
            template["spec"] = _clean_strings(template["spec"])


@cleans(R.VMS)
def _vm(item: dict) -> None:
    _clean_vm_spec(item.get("spec"))


@cleans(R.VMIS)
def _vmi(item: dict) -> None:
    clean_volumes(_dig(item, "spec", "volumes"))


@cleans(R.VM_BACKUPS)
def _vm_backup(item: dict) -> None:
    """status.source is a copy of the VM's spec; status.secretBackups copies its Secrets' data
    (HV pkg/apis/harvesterhci.io/v1beta1/backup.go)."""
    status = item.get("status") or {}
    _clean_vm_spec(_dig(status, "source", "spec"))
    namespace = (item.get("metadata") or {}).get("namespace")
    for backup in status.get("secretBackups") or []:
        if isinstance(backup, dict):
            clean_secret_data(backup, {"metadata": {"namespace": namespace}, "data": backup.get("data") or {}})


@cleans(R.VM_IMAGES, R.DATA_VOLUMES, R.LONGHORN_BACKING_IMAGES)
def _download_source(item: dict) -> None:
    """Download URLs may carry a password or a signed URL's signature."""
    if "spec" in item:
        item["spec"] = _clean_strings(item["spec"])


# -- Pods and their controllers --------------------------------------------------------------------

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _clean_env(env: Any) -> None:
    """Literal values of credential-named variables go; proxy URLs lose their password."""
    for var in env if isinstance(env, list) else []:
        if not isinstance(var, dict) or not isinstance(var.get("value"), str):
            continue
        secret = is_secret_name(str(var.get("name", "")))
        var["value"] = take_credential(var["value"]) if secret else clean_text(var["value"])


def _clean_args(args: Any) -> None:
    """`--db-password=x` and `--token x`; file and name flags are references, kept."""
    if not isinstance(args, list):
        return
    for i, arg in enumerate(args):
        if not isinstance(arg, str) or not arg.startswith("-"):
            continue
        flag, eq, value = arg.partition("=")
        if not is_secret_name(flag.lstrip("-")):
            args[i] = clean_text(arg)
        elif eq:
            args[i] = f"{flag}={take_credential(value)}"
        elif i + 1 < len(args) and isinstance(args[i + 1], str) and not args[i + 1].startswith("-"):
            args[i + 1] = take_credential(args[i + 1])


def clean_pod_spec(spec: Any) -> None:
    for kind in CONTAINER_LISTS:
        for container in _dicts(_dig(spec, kind)):
            _clean_env(container.get("env"))
            _clean_args(container.get("args"))
            _clean_args(container.get("command"))


@cleans(R.PODS)
def _pod(item: dict) -> None:
    clean_pod_spec(item.get("spec"))


@cleans(R.DEPLOYMENTS, R.DAEMONSETS, R.REPLICASETS)
def _workload(item: dict) -> None:
    clean_pod_spec(_dig(item, "spec", "template", "spec"))
