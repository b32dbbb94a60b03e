"""Harvester's Setting validation webhook (pkg/webhook/resources/setting/validator.go,
facts.md §2.3), per setting name. Rules that arrived in a later release apply from it only."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster

SSL_PROTOCOLS = {"SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
HTTP_PROXY_CHECK_SINCE = (1, 3, 1)  # harvester/harvester#5824: noProxy must cover the nodes
HTTP_PROXY_V140_RULES = (1, 4, 0)  # noProxy checked only with a proxy set; `default` validated too


class Invalid(Exception):
    pass


def _json_object(value: str, name: str) -> dict:
    try:
        doc = json.loads(value)
    except json.JSONDecodeError as exc:
        raise Invalid(f"invalid JSON for {name}: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise Invalid(f"{name} must be a JSON object")
    return doc


def _harvester_version(cl: Cluster) -> tuple[int, ...]:
    item = cl.get(R.HARVESTER_SETTINGS, "server-version") or {}
    text = (item.get("value") or item.get("default") or "").lstrip("v").split("-")[0]
    try:
        return tuple(int(x) for x in text.split("."))
    except ValueError:
        return (99,)  # dev builds carry every rule


def http_proxy_texts(setting: dict, version: tuple[int, ...]) -> list[tuple[str, str]]:
    """(field, text) pairs the release's webhook validates. Up to v1.3.x only a non-empty `value`
    (HV v1.3.1 `validateHTTPProxy`); from v1.4.0 `default` unless it is "{}", and `value` unless it
    equals `default` (HV v1.4.0 `validateHTTPProxy`); an empty text passes on every release."""
    value, default = setting.get("value") or "", setting.get("default") or ""
    if version < HTTP_PROXY_V140_RULES:
        pairs = [("value", value)]
    else:
        pairs = [("default", default)] if default != "{}" else []
        pairs += [("value", value)] if value != default else []
    return [(field, text) for field, text in pairs if text]


def uncovered_ips(no_proxy: str, node_ips: list[str]) -> list[str]:
    """Node InternalIPs that no comma-separated noProxy entry names or contains, sorted (HV
    `validateNoProxy`: an entry is a CIDR, else an IP; anything else covers nothing)."""
    entries = [e.strip() for e in no_proxy.split(",")]
    nets, ips = [], set()
    for entry in entries:
        if "/" in entry:
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
        else:
            try:
                ips.add(ipaddress.ip_address(entry))
            except ValueError:
                continue
    nodes = {ipaddress.ip_address(ip) for ip in node_ips}
    return sorted(str(ip) for ip in nodes if ip not in ips and not any(ip in n for n in nets))


def http_proxy_problem(text: str, node_ips: list[str], version: tuple[int, ...]) -> str | None:
    """Why the release refuses one http-proxy text, or None. Before v1.3.1 only the JSON is checked;
    v1.3.1 and v1.3.2 check noProxy whatever it holds; from v1.4.0 only when a proxy is set."""
    try:
        cfg = _json_object(text, "http-proxy")
    except Invalid as exc:
        return str(exc)
    if version < HTTP_PROXY_CHECK_SINCE:
        return None
    if version >= HTTP_PROXY_V140_RULES and not (cfg.get("httpProxy") or cfg.get("httpsProxy")):
        return None
    missed = uncovered_ips(str(cfg.get("noProxy") or ""), node_ips)
    if missed:
        return (
            f"noProxy should contain the node's IP addresses or CIDR. The node(s) {', '.join(missed)} are not covered."
        )
    return None


def _node_ips(cl: Cluster) -> list[str]:
    return [
        addr["address"]
        for node in cl.list(R.NODES)
        for addr in node.get("status", {}).get("addresses", [])
        if addr.get("type") == "InternalIP"
    ]


def http_proxy(setting: dict, cl: Cluster) -> None:
    """The http-proxy rules of the release the cluster runs (facts.md §17.4)."""
    version = _harvester_version(cl)
    texts = http_proxy_texts(setting, version)
    ips = _node_ips(cl) if texts and version >= HTTP_PROXY_CHECK_SINCE else []
    for field, text in texts:
        problem = http_proxy_problem(text, ips, version)
        if problem:
            raise Invalid(f"{problem} ({field})")


def overcommit_config(value: str, cl: Cluster) -> None:
    cfg = _json_object(value, "overcommit-config")
    for key in ("cpu", "memory", "storage"):
        v = cfg.get(key)
        if not isinstance(v, int) or v < 100:
            raise Invalid(f"Cannot undercommit. Should be greater than or equal to 100 but got {key}: {v}")


def auto_rotate_rke2_certs(value: str, cl: Cluster) -> None:
    cfg = _json_object(value, "auto-rotate-rke2-certs")
    hours = cfg.get("expiringInHours")
    if not isinstance(hours, int) or not 0 < hours < 24 * 365:
        raise Invalid(f"expiringInHours must be within (0, {24 * 365 - 1}], got {hours}")


def ssl_parameters(value: str, cl: Cluster) -> None:
    cfg = _json_object(value or "{}", "ssl-parameters")
    for proto in (cfg.get("protocols") or "").split():
        if proto not in SSL_PROTOCOLS:
            raise Invalid(f"unsupported protocol {proto!r}; supported: {', '.join(sorted(SSL_PROTOCOLS))}")


def ssl_certificates(value: str, cl: Cluster) -> None:
    """Each non-empty field must parse: a CA bundle, a serving bundle, a private key. Harvester
    does not check that the key belongs to the certificate (facts.md §2.3)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cfg = _json_object(value or "{}", "ssl-certificates")
    for field in ("ca", "publicCertificate"):
        if cfg.get(field):
            try:
                x509.load_pem_x509_certificates(cfg[field].encode())
            except ValueError:
                raise Invalid(f"{field} is not a valid PEM certificate bundle") from None
    if cfg.get("privateKey"):
        try:
            serialization.load_pem_private_key(cfg["privateKey"].encode(), password=None)
        except (ValueError, TypeError):
            raise Invalid("privateKey is not a valid PEM private key") from None


def containerd_registry(value: str, cl: Cluster) -> None:
    if value:
        _json_object(value, "containerd-registry")


def _int_range(name: str, low: int, high: int | None) -> Callable[[str, Cluster], None]:
    def check(value: str, cl: Cluster) -> None:
        if value == "":
            return
        try:
            n = int(value)
        except ValueError:
            raise Invalid(f"{name} must be an integer, got {value!r}") from None
        if n < low or (high is not None and n > high):
            raise Invalid(f"{name} must be within [{low}, {high if high is not None else '∞'}], got {n}")

    return check


# HV pkg/settings: DecodeVMForceResetPolicy refuses period <= 0 from v1.4.0 (not at v1.2.1 or
# v1.3.1, where any JSON the struct takes passes); VMMigrationTimeout joins the struct in v1.7.0,
# negative refused. pkg/webhook/resources/setting/validator.go validates `value` only up to v1.3.x,
# `default` and `value` each (an empty one skipped) from v1.4.0.
FORCE_RESET_PERIOD_SINCE = (1, 4, 0)
VM_MIGRATION_TIMEOUT_SINCE = (1, 7, 0)


def _go_field(cfg: dict, field: str) -> object:
    """A field as Go's encoding/json finds it: the exact key, else a case-insensitive match."""
    if field in cfg:
        return cfg[field]
    return next((v for k, v in cfg.items() if k.lower() == field.lower()), None)


def _decode_force_reset(text: str, version: tuple[int, ...]) -> dict:
    """`json.Unmarshal` into the release's VMForceResetPolicy, then its checks."""
    cfg = _json_object(text, "vm-force-reset-policy")
    ints = ("period", "vmMigrationTimeout") if version >= VM_MIGRATION_TIMEOUT_SINCE else ("period",)
    enable = _go_field(cfg, "enable")
    if enable is not None and not isinstance(enable, bool):
        raise Invalid(f"unmarshal failed: enable must be a boolean, got {enable!r}")
    for field in ints:
        v = _go_field(cfg, field)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise Invalid(f"unmarshal failed: {field} must be an integer, got {v!r}")
    if version >= FORCE_RESET_PERIOD_SINCE and not (_go_field(cfg, "period") or 0) > 0:
        raise Invalid(f"period value should be greater than 0, value: {_go_field(cfg, 'period') or 0}")
    timeout = _go_field(cfg, "vmMigrationTimeout") or 0
    if version >= VM_MIGRATION_TIMEOUT_SINCE and timeout < 0:
        raise Invalid(f"vmMigrationTimeout value should be greater than 0, value: {timeout}")
    return cfg


def vm_force_reset_policy(setting: dict, cl: Cluster) -> None:
    """The release's webhook: `value` alone up to v1.3.x; `default`, then `value`, from v1.4.0."""
    version = _harvester_version(cl)
    fields = ("default", "value") if version >= FORCE_RESET_PERIOD_SINCE else ("value",)
    for field in fields:
        if text := setting.get(field) or "":
            try:
                _decode_force_reset(text, version)
            except Invalid as exc:
                raise Invalid(f"{field}: {exc}") from None


MIGRATION_IN_PROGRESS = (
    "There is a VM Migration in progress, please wait until it is completed before updating the "
    "kubevirt-migration setting"
)


def kubevirt_migration(setting: dict, cl: Cluster) -> None:
    """HV `validateKubeVirtMigration` @v1.7.0 … v1.8.2: refused while any VMIM not being deleted
    has a migrationState that is not completed (a failed migration counts); the decoded value (else
    default) may set neither nodeDrainTaintKey nor network (vm-migration-network owns it)."""
    for vmim in cl.list(R.VMIMS):
        state = (vmim.get("status") or {}).get("migrationState") or {}
        if not vmim["metadata"].get("deletionTimestamp") and not state.get("completed"):
            raise Invalid(MIGRATION_IN_PROGRESS)
    decoded: dict = {}
    for text in (setting.get("default") or "", setting.get("value") or ""):
        if text and text != "{}":
            decoded = _json_object(text, "kubevirt-migration")
    if decoded.get("nodeDrainTaintKey"):
        raise Invalid("nodeDrainTaintKey field cannot be configured")
    if decoded.get("network"):
        raise Invalid("network field is configured by vm-migration-network setting")


def guest_memory_overhead_ratio(value: str, cl: Cluster) -> None:
    if value in ("", "0"):
        return
    try:
        ratio = float(value)
    except ValueError:
        raise Invalid(f"additional-guest-memory-overhead-ratio must be a number, got {value!r}") from None
    if not 1.0 <= ratio <= 10.0:
        raise Invalid(f"additional-guest-memory-overhead-ratio must be 0 or within [1.0, 10.0], got {value}")


VALIDATORS: dict[str, Callable[[str, Cluster], None]] = {
    "overcommit-config": overcommit_config,
    "auto-rotate-rke2-certs": auto_rotate_rke2_certs,
    "ssl-parameters": ssl_parameters,
    "ssl-certificates": ssl_certificates,
    "containerd-registry": containerd_registry,
    "default-vm-termination-grace-period-seconds": _int_range("default-vm-termination-grace-period-seconds", 0, None),
    "kubeconfig-default-token-ttl-minutes": _int_range("kubeconfig-default-token-ttl-minutes", 0, 52_560_000),
    "additional-guest-memory-overhead-ratio": guest_memory_overhead_ratio,
}


def validate(setting: dict, cl: Cluster) -> tuple[bool, str]:
    """Validate the effective value (value, else default), as Harvester does."""
    name = setting.get("metadata", {}).get("name", "")
    if name == "http-proxy":  # validates value and default by release, not the effective value
        try:
            http_proxy(setting, cl)
        except Invalid as exc:
            return False, f"invalid value for {name}: {exc}"
        return True, ""
    if name == "vm-force-reset-policy":  # by release: which fields, and which rules
        try:
            vm_force_reset_policy(setting, cl)
        except Invalid as exc:
            return False, f"invalid value for {name}: {exc}"
        return True, ""
    if name == "kubevirt-migration":  # the in-flight migrations and both fields (v1.7.0+)
        try:
            kubevirt_migration(setting, cl)
        except Invalid as exc:
            return False, str(exc)
        return True, ""
    check = VALIDATORS.get(name)
    if check is None:
        return True, ""
    value = setting.get("value") or setting.get("default") or ""
    try:
        check(value, cl)
    except Invalid as exc:
        return False, f"invalid value for {name}: {exc}"
    return True, ""
