"""Best Practices for Harvester Security (facts.md §2, §17.4; facts-releases.md R2.3): the settings
the article names, parsed as Harvester parses them.

Effective value of a Setting: `value` when non-empty, else `default` (HV
`pkg/controller/global/settings/register.go`). Private keys never reach these functions: the
snapshot keeps only the SHA-256 of an `ssl-certificates` key's public part (`privateKeySpkiSha256`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from harvester_conformance.checks import upgrade_readiness as ur
from harvester_conformance.checks.findings import Finding
from harvester_conformance.probes.parsers import parse_pem_certificates

# HV pkg/util/proxy.go builtInNoProxy (v1.2.1 … v1.8.2, unchanged): appended to the setting's
# noProxy whenever Harvester propagates the proxy to its components (AddBuiltInNoProxy).
BUILT_IN_NO_PROXY = (
    "localhost",
    "127.0.0.1",
    "0.0.0.0",  # noqa: S104 - a noProxy entry, not a bind address
    "10.0.0.0/8",
    "longhorn-system",
    "cattle-system",
    "cattle-system.svc",
    "harvester-system",
    ".svc",
    ".cluster.local",
)
# HV pkg/webhook/resources/setting/validator.go: ssl-parameters protocols; auto-rotate-rke2-certs range.
SSL_PROTOCOLS = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"})
EXPIRING_HOURS_MAX = 24 * 365 - 1
AUTO_ROTATE_SINCE = (1, 3, 0)
MASK_PREFIX = "***"


def effective(setting: dict | None) -> str:
    s = setting or {}
    return s.get("value") or s.get("default") or ""


def _ref(name: str) -> str:
    return f"Setting {name}"


def _json_object(name: str, text: str) -> tuple[dict | None, Finding | None]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return None, Finding(_ref(name), f"value is not JSON ({exc.msg} at character {exc.pos})")
    if not isinstance(doc, dict):
        return None, Finding(_ref(name), f"value is JSON {type(doc).__name__}, expected an object")
    return doc, None


# -- SEC-01: http-proxy -------------------------------------------------------------------------


def no_proxy_entries(no_proxy: str) -> list[str]:
    """The setting's entries plus Harvester's built-in ones, trimmed (Go's httpproxy trims too)."""
    entries = [e.strip() for e in no_proxy.split(",") if e.strip()]
    return entries + [b for b in BUILT_IN_NO_PROXY if b not in entries]


def covered(ip: str, entries: list[str]) -> bool:
    """An IP is covered literally or by a CIDR entry (HV validator.go validateNoProxy)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip in entries
    for entry in entries:
        if entry == ip:
            return True
        if "/" in entry:
            try:
                if addr in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def internal_ips(node: dict) -> list[str]:
    return [
        a["address"]
        for a in (node.get("status") or {}).get("addresses") or []
        if a.get("type") == "InternalIP" and a.get("address")
    ]


def check_http_proxy(setting: dict | None, nodes: list[dict]) -> list[Finding]:
    """Parses; with a proxy set, the effective noProxy covers every node InternalIP."""
    if setting is None:
        return [Finding(_ref("http-proxy"), "the setting does not exist")]
    text = effective(setting) or "{}"
    doc, bad = _json_object("http-proxy", text)
    if bad:
        return [bad]
    assert doc is not None
    fields = {k: doc.get(k) for k in ("httpProxy", "httpsProxy", "noProxy")}
    wrong = [k for k, v in fields.items() if v is not None and not isinstance(v, str)]
    if wrong:
        return [Finding(_ref("http-proxy"), f"field(s) {', '.join(wrong)} are not strings")]
    if not (fields["httpProxy"] or fields["httpsProxy"]):
        return []
    entries = no_proxy_entries(fields["noProxy"] or "")
    missing = sorted(
        f"{n['metadata']['name']} ({ip})" for n in nodes for ip in internal_ips(n) if not covered(ip, entries)
    )
    if not missing:
        return []
    return [
        Finding(
            _ref("http-proxy"),
            f"a proxy is set but the effective noProxy (the setting's entries plus Harvester's built-in "
            f"{', '.join(BUILT_IN_NO_PROXY)}) does not cover node InternalIP(s): {', '.join(missing)}",
        )
    ]


# -- SEC-02: the webhook's http-proxy rule, exercised ----------------------------------------

# A proxy address that reaches nothing (RFC 5737 TEST-NET-1), for a probe value that is never stored.
PROBE_PROXY = "http://192.0.2.1:3128"


@dataclass(frozen=True)
class ProxyProbe:
    """Two http-proxy values to submit (server-side dry run): `refused` leaves `missed` (a node's
    InternalIP) out of noProxy, `admitted` lists every node InternalIP."""

    refused: str
    admitted: str
    missed: str


def proxy_probe(setting: dict | None, nodes: list[dict]) -> ProxyProbe | None:
    """Values built on the current one (its proxies kept, else PROBE_PROXY); None without node IPs."""
    ips = sorted({ip for n in nodes for ip in internal_ips(n)})
    if not ips:
        return None
    try:
        current = json.loads(effective(setting) or "{}")
    except ValueError:
        current = {}
    doc = current if isinstance(current, dict) else {}
    base = {k: doc[k] for k in ("httpProxy", "httpsProxy") if isinstance(doc.get(k), str) and doc[k]}
    base = base or {"httpProxy": PROBE_PROXY}
    local = ["localhost", "127.0.0.1"]
    missed, rest = ips[0], ips[1:]
    refused = {**base, "noProxy": ",".join(local + rest)}
    admitted = {**base, "noProxy": ",".join(local + ips)}
    return ProxyProbe(json.dumps(refused), json.dumps(admitted), missed)


def check_proxy_admission(probe: ProxyProbe, refused: str | None, admitted: str | None) -> list[Finding]:
    """`refused`/`admitted`: the webhook's refusal message for each probe value, None when stored.
    The first must be refused, the second admitted (HV setting/validator.go validateNoProxy, v1.3.1+)."""
    found = []
    if refused is None:
        found.append(
            Finding(
                _ref("http-proxy"),
                f"the API admitted a value whose noProxy misses node InternalIP {probe.missed} "
                "(no validating webhook refused it)",
            )
        )
    if admitted is not None:
        found.append(Finding(_ref("http-proxy"), f"a value covering every node InternalIP was refused: {admitted}"))
    return found


# -- SEC-03: auto-rotate-rke2-certs --------------------------------------------------------------


@dataclass(frozen=True)
class AutoRotate:
    enable: bool
    expiring_in_hours: int


def parse_auto_rotate(setting: dict | None) -> tuple[AutoRotate | None, Finding | None]:
    """HV settings_helper.go RKE2CertsAutoRotate and the webhook's 1…8759 hour range."""
    name = "auto-rotate-rke2-certs"
    if setting is None:
        return None, Finding(_ref(name), "the setting does not exist (it does from v1.3.0)")
    doc, bad = _json_object(name, effective(setting) or "{}")
    if bad:
        return None, bad
    assert doc is not None
    enable, hours = doc.get("enable", False), doc.get("expiringInHours", 0)
    if not isinstance(enable, bool):
        return None, Finding(_ref(name), f"enable is {enable!r}, expected true or false")
    if not isinstance(hours, int) or isinstance(hours, bool) or not 0 < hours <= EXPIRING_HOURS_MAX:
        return None, Finding(_ref(name), f"expiringInHours is {hours!r}, expected an integer in 1…{EXPIRING_HOURS_MAX}")
    return AutoRotate(enable, hours), None


# -- SEC-05: TLS and registry settings ------------------------------------------------------------


def load_pems(text: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(text.encode()) if text.strip() else []


def spki_sha256(cert: x509.Certificate) -> str:
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def check_additional_ca(setting: dict | None) -> list[Finding]:
    text = effective(setting)
    if not text.strip():
        return []
    try:
        certs = load_pems(text)
    except ValueError as exc:
        return [Finding(_ref("additional-ca"), f"not a PEM certificate bundle ({exc})")]
    return [] if certs else [Finding(_ref("additional-ca"), "holds no PEM certificate")]


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def chains(leaf: x509.Certificate, pool: list[x509.Certificate], roots: list[x509.Certificate]) -> bool:
    """leaf → (intermediates from the served bundle)* → one of `roots`, by signature."""
    current, seen = leaf, 0
    while seen <= len(pool):
        if any(_issued_by(current, root) for root in roots):
            return True
        parent = next((c for c in pool if c is not current and _issued_by(current, c)), None)
        if parent is None:
            return False
        current, seen = parent, seen + 1
    return False


def _ssl_pair(doc: dict, now: dt.datetime) -> list[str]:
    problems: list[str] = []
    try:
        served = load_pems(str(doc.get("publicCertificate") or ""))
        ca = load_pems(str(doc.get("ca") or ""))
    except ValueError as exc:
        return [f"a certificate does not parse ({exc})"]
    if not served:
        return ["publicCertificate holds no certificate"]
    leaf = served[0]
    if not doc.get("privateKey"):
        problems.append("privateKey is empty")
    else:
        digest = doc.get("privateKeySpkiSha256")
        if digest is None:
            problems.append("the key's public part is unknown (the snapshot holds no digest of it)")
        elif digest == "":
            problems.append("privateKey does not parse as a PEM private key")
        elif digest != spki_sha256(leaf):
            problems.append(f"privateKey does not belong to the certificate (subject {leaf.subject.rfc4514_string()})")
    if leaf.not_valid_after_utc <= now:
        problems.append(f"certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    elif leaf.not_valid_before_utc > now:
        problems.append(f"certificate not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if ca and not chains(leaf, served[1:], ca):
        problems.append("certificate does not chain to the given ca")
    return problems


def check_ssl_certificates(setting: dict | None, now: dt.datetime) -> list[Finding]:
    name = "ssl-certificates"
    doc, bad = _json_object(name, effective(setting) or "{}")
    if bad:
        return [bad]
    assert doc is not None
    if not any(doc.get(k) for k in ("ca", "publicCertificate", "privateKey")):
        return []  # not configured: Harvester serves its own certificate
    return [Finding(_ref(name), p) for p in _ssl_pair(doc, now)]


def check_ssl_parameters(setting: dict | None) -> list[Finding]:
    name = "ssl-parameters"
    doc, bad = _json_object(name, effective(setting) or "{}")
    if bad:
        return [bad]
    assert doc is not None
    protocols = doc.get("protocols") or ""
    if not isinstance(protocols, str):
        return [Finding(_ref(name), f"protocols is {type(protocols).__name__}, expected a space-separated string")]
    # SSLParameter{Protocols, Ciphers string}: json.Unmarshal fails on a cipher list of another type.
    ciphers = doc.get("ciphers")
    if ciphers is not None and not isinstance(ciphers, str):
        return [Finding(_ref(name), f"ciphers is {type(ciphers).__name__}, expected a colon-separated string")]
    unknown = sorted(p for p in protocols.split() if p not in SSL_PROTOCOLS)
    if unknown:
        allowed = ", ".join(sorted(SSL_PROTOCOLS))
        return [Finding(_ref(name), f"unknown protocol(s) {', '.join(unknown)}; allowed {allowed}")]
    return []


def check_containerd_registry(setting: dict | None) -> list[Finding]:
    """JSON decoded into Registry{Mirrors, Configs, Auths} (HV pkg/containerd/registry.go, case-insensitive)."""
    name = "containerd-registry"
    text = effective(setting)
    if not text.strip():
        return []
    doc, bad = _json_object(name, text)
    if bad:
        return [bad]
    assert doc is not None
    maps = ("mirrors", "configs", "auths")
    wrong = [k for k, v in doc.items() if k.lower() in maps and not isinstance(v, dict | None)]
    out = [Finding(_ref(name), f"{k} is not a map") for k in wrong]
    # Each entry decodes into a struct (Mirror, RegistryConfig, AuthConfig): another type fails the whole value.
    for k, v in doc.items():
        if k.lower() in maps and isinstance(v, dict):
            out += [
                Finding(_ref(name), f"{k}[{host!r}] is {type(e).__name__}, expected an object")
                for host, e in v.items()
                if not isinstance(e, dict | None)
            ]
    return out


# -- SEC-06: RKE2 token rotation ------------------------------------------------------------------

# `rke2 token rotate` exists from the November 2023 RKE2 releases (v1.28.3+rke2r2, v1.27.7+rke2r2,
# v1.26.10+rke2r2, v1.25.15+rke2r2: rancher/rke2 issues #2141, #4891-#4893). On Harvester v1.3.0
# with RKE2 v1.27.10+rke2r1, rke2-server no longer starts after the rotation ("bootstrap data already
# found and encrypted with different token", rancher/rke2 issue #6250, closed stale without a fix:
# the maintainer points at tokens Harvester keeps in its own configuration, which the command does
# not update). The KB forbids rotation on every release until Harvester supports it; this check
# names the nodes on the version where the failure was reproduced, as the catalogue row asks.
TOKEN_ROTATION_BREAKS = frozenset({"v1.27.10+rke2r1"})
ROTATION_ISSUE = "rancher/rke2 issue 6250"


def rke2_version(node: dict) -> str:
    """The node's RKE2 release: the kubelet's version string (`v1.27.10+rke2r1`)."""
    return str(((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion") or "")


def check_rke2_token_rotation(nodes: list[dict]) -> list[Finding]:
    """SEC-06: nodes whose RKE2 is one on which `rke2 token rotate` leaves rke2-server unable to restart."""
    return [
        Finding(
            f"Node {n['metadata']['name']}",
            f"runs RKE2 {rke2_version(n)}, on which `rke2 token rotate` leaves rke2-server unable to start "
            f"after the next restart ({ROTATION_ISSUE}): do not rotate the cluster token; Harvester does "
            "not support it on any release yet",
        )
        for n in sorted(nodes, key=lambda n: n["metadata"]["name"])
        if rke2_version(n) in TOKEN_ROTATION_BREAKS
    ]


# -- SEC-04: the API serving certificate and the RKE2 certificates on the hosts ----------------------

# RKE2 keeps its certificates as files (k3s `pkg/daemons/control/deps/deps.go` CreateRuntimeCertFiles,
# `pkg/agent/config/config.go`, `pkg/cli/cert` for the component directories; RKE2 runs k3s's code
# with the program name `rke2`). A server has the CAs and the control-plane leaves under server/tls;
# every node (server or agent) has the kubelet's and kube-proxy's under agent/. Leaves are issued for
# 365 days and renewed only when RKE2 restarts within 90 (from the May 2025 releases 120) days of
# expiry (facts.md §2.4); files a release does not create are simply absent.
RKE2_SERVER_TLS = "/var/lib/rancher/rke2/server/tls"
RKE2_AGENT = "/var/lib/rancher/rke2/agent"
RKE2_SERVER_CERTS = (
    "server-ca.crt",
    "client-ca.crt",
    "request-header-ca.crt",
    "serving-kube-apiserver.crt",
    "client-admin.crt",
    "client-auth-proxy.crt",
    "client-controller.crt",
    "client-kube-apiserver.crt",
    "client-kube-proxy.crt",
    "client-rke2-cloud-controller.crt",
    "client-rke2-controller.crt",
    "client-scheduler.crt",
    "client-supervisor.crt",
    "etcd/server-ca.crt",
    "etcd/peer-ca.crt",
    "etcd/client.crt",
    "etcd/server-client.crt",
    "etcd/peer-server-client.crt",
    "kube-controller-manager/kube-controller-manager.crt",
    "kube-scheduler/kube-scheduler.crt",
)
RKE2_AGENT_CERTS = (
    "server-ca.crt",
    "client-ca.crt",
    "client-kubelet.crt",
    "serving-kubelet.crt",
    "client-kube-proxy.crt",
    "client-rke2-controller.crt",
)
RKE2_CERT_PATHS = tuple(f"{RKE2_SERVER_TLS}/{n}" for n in RKE2_SERVER_CERTS) + tuple(
    f"{RKE2_AGENT}/{n}" for n in RKE2_AGENT_CERTS
)
RKE2_CERT_MARGIN_DAYS = 30.0
API_ENDPOINT = "Service default/kubernetes"  # the object every client reaches the API server through


def cert_margin_from(raw: str | None) -> dt.timedelta:
    """--rke2-cert-margin-days (a number of days, 0 or more), else 30 days."""
    if raw is None or str(raw).strip() == "":
        return dt.timedelta(days=RKE2_CERT_MARGIN_DAYS)
    try:
        days = float(raw)
    except ValueError:
        raise ValueError(f"--rke2-cert-margin-days {raw!r} is not a number of days") from None
    if not days >= 0 or days == float("inf"):
        raise ValueError(f"--rke2-cert-margin-days {raw!r} must be 0 or more")
    return dt.timedelta(days=days)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def expiry_problem(cert: x509.Certificate, now: dt.datetime, margin: dt.timedelta) -> str | None:
    """Why the certificate fails SEC-04 (expired, or fewer than `margin` left), or None."""
    end = cert.not_valid_after_utc
    left = (end - now).total_seconds() / 86400
    if end <= now:
        return f"CN {_cn(cert)} expired on {end:%Y-%m-%d %H:%M} UTC ({-left:.1f} days ago)"
    if end < now + margin:
        days = margin.total_seconds() / 86400
        return f"CN {_cn(cert)} expires on {end:%Y-%m-%d %H:%M} UTC ({left:.1f} days left, margin {days:g} days)"
    return None


@dataclass
class CertificateReport:
    """SEC-04's verdict material: the findings; what UPG-04 reports instead (the served
    certificate within the upgrade gate's window); what could not be judged."""

    findings: list[Finding]
    deferred: list[str]
    unjudged: list[str]

    def deferred_reason(self, shown: int = 3) -> str:
        more = f"; and {len(self.deferred) - shown} more" if len(self.deferred) > shown else ""
        listed = "; ".join(self.deferred[:shown]) + more
        return f"UPG-04 reports the served API certificate, within the upgrade gate's window: {listed}"

    def unjudged_reason(self) -> str:
        return "certificates that could not be read: " + "; ".join(self.unjudged)


def check_certificate_margins(
    served: dict[str, x509.Certificate | str],
    hosts: dict[str, dict[str, bytes | None]],
    now: dt.datetime,
    margin: dt.timedelta,
) -> CertificateReport:
    """SEC-04 over the certificates the API server presented (address -> certificate, or why it
    could not be read) and each read node's RKE2 certificate files (node -> {path: bytes|None}).

    A served certificate that the upgrade gate's own rule flags (UPG-04: fewer than 7 days left)
    is UPG-04's finding, and so is the same certificate (same SHA-256) in a server's
    serving-kube-apiserver.crt: it is listed as deferred, not as a finding of SEC-04.
    """
    report = CertificateReport([], [], [])
    gate: set[str] = set()
    api_problems = []
    for address, cert in sorted(served.items()):
        if isinstance(cert, str):
            report.unjudged.append(f"the API server at {address}: {cert}")
            continue
        problem = expiry_problem(cert, now, margin)
        if problem is None:
            continue
        if ur.check_endpoint_cert(API_ENDPOINT, cert.not_valid_after_utc, now) is not None:
            gate.add(fingerprint(cert))
            report.deferred.append(f"the certificate served at {address}: {problem}")
        else:
            api_problems.append(f"served at {address}: {problem}")
    if api_problems:
        report.findings.append(
            Finding(API_ENDPOINT, f"the Kubernetes API serving certificate {'; '.join(api_problems)}")
        )
    for node in sorted(hosts):
        files = hosts[node]
        present = {p: raw for p in RKE2_CERT_PATHS if (raw := files.get(p)) is not None}
        if not present:
            report.unjudged.append(f"{node}: no RKE2 certificate at {RKE2_SERVER_TLS} or {RKE2_AGENT}")
            continue
        problems = []
        for path, raw in present.items():
            try:
                certs = parse_pem_certificates(raw)
            except ValueError as exc:
                problems.append(f"{path} does not parse: {exc}")
                continue
            for cert in certs:
                problem = expiry_problem(cert, now, margin)
                if problem is None:
                    continue
                if fingerprint(cert) in gate:
                    report.deferred.append(f"{node}:{path}, the served certificate: {problem}")
                else:
                    problems.append(f"{path}: {problem}")
        if problems:
            report.findings.append(Finding(f"Node {node}", "; ".join(problems)))
    return report
