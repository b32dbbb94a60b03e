"""virt-operator's certificate management (KubeVirt pkg/virt-operator, facts.md §1).

Issues the CA, export CA and the server/client certificates, rotates them on the documented
triggers (missing or unloadable, duration annotation changed, not signed by the current CA,
past NotAfter - renewBefore) and keeps the CA bundle ConfigMaps. It only acts while the
`virt-operator` Deployment has an available replica, as the real operator would.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import clock, pki
from harvester_conformance.emulator.simulator import godur

log = logging.getLogger("virt-operator")
NS = "harvester-system"
MANAGED_BY = {"app.kubernetes.io/managed-by": "virt-operator"}
DURATION_ANNOTATION = "kubevirt.io/duration"
MAX_BUNDLE = 10


@dataclass(frozen=True)
class Leaf:
    secret: str
    cn: str
    dns: tuple[str, ...]
    client: bool = False


def leaves(ns: str) -> list[Leaf]:
    svc = lambda name: (name, f"{name}.{ns}", f"{name}.{ns}.svc")  # noqa: E731
    return [
        Leaf("kubevirt-operator-certs", f"kubevirt-operator-webhook.{ns}.svc", svc("kubevirt-operator-webhook")),
        Leaf("kubevirt-virt-api-certs", f"virt-api.{ns}.pod.cluster.local", svc("virt-api")),
        Leaf("kubevirt-controller-certs", f"virt-controller.{ns}.svc", svc("virt-controller")),
        Leaf("kubevirt-virt-handler-server-certs", "kubevirt.io:system:node:virt-handler", ("*",)),
        Leaf("kubevirt-virt-handler-certs", "kubevirt.io:system:client:virt-handler", (), client=True),
    ]


EXPORT_PROXY = Leaf(
    "kubevirt-exportproxy-certs",
    f"virt-exportproxy.{NS}.svc",
    ("virt-exportproxy", f"virt-exportproxy.{NS}", f"virt-exportproxy.{NS}.svc"),
)


def _version_tuple(v: str) -> tuple[int, ...]:
    core = v.lstrip("v").split("-")[0]
    return tuple(int(x) for x in core.split(".")[:3] if x.isdigit())


@dataclass(frozen=True)
class Config:
    ca_duration: dt.timedelta
    ca_renew: dt.timedelta
    server_duration: dt.timedelta
    server_renew: dt.timedelta


def config_from(spec: dict) -> Config:
    """Effective durations; deprecated intervals take priority, renewBefore defaults to 20%."""
    self_signed = (spec.get("certificateRotateStrategy") or {}).get("selfSigned") or {}
    ca = self_signed.get("ca") or {}
    server = self_signed.get("server") or {}

    def pick(*values: str | None, default: dt.timedelta) -> dt.timedelta:
        for v in values:
            if v:
                return godur.parse(v)
        return default

    ca_d = pick(self_signed.get("caRotateInterval"), ca.get("duration"), default=dt.timedelta(hours=168))
    srv_d = pick(self_signed.get("certRotateInterval"), server.get("duration"), default=dt.timedelta(hours=24))
    ca_r = pick(self_signed.get("caOverlapInterval"), ca.get("renewBefore"), default=ca_d * 0.2)
    srv_r = pick(server.get("renewBefore"), default=srv_d * 0.2)
    return Config(ca_d, ca_r, srv_d, srv_r)


class VirtOperator:
    def __init__(self, cluster: Cluster) -> None:
        self.cl = cluster

    # -- inputs -------------------------------------------------------------------------
    def _running(self) -> bool:
        dep = self.cl.get(R.DEPLOYMENTS, "virt-operator", NS)
        return bool(dep) and (dep.get("status", {}).get("availableReplicas") or 0) > 0

    def reconcile(self) -> None:
        if not self._running():
            return
        kv = self.cl.get(R.KUBEVIRTS, "kubevirt", NS)
        if not kv:
            return
        try:
            cfg = config_from(kv.get("spec") or {})
        except ValueError as exc:
            self._condition(kv, "Degraded", "True", "InvalidCertificateRotateStrategy", str(exc))
            return
        version = (kv.get("status") or {}).get("observedKubeVirtVersion") or "v1.1.1"
        ca = self._ensure_ca("kubevirt-ca", "kubevirt.io", cfg.ca_duration, cfg.ca_renew, cfg)
        for leaf in leaves(NS):
            self._ensure_leaf(leaf, ca, cfg)
        if _version_tuple(version) >= (0, 55):
            self._ensure_ca("kubevirt-export-ca", "export.kubevirt.io", cfg.ca_duration, cfg.server_renew, cfg)
            self._ensure_leaf(EXPORT_PROXY, ca, cfg)
        self._condition(kv, "Degraded", "False", "AllComponentsReady", "certificates reconciled")

    # -- certificates ---------------------------------------------------------------------
    def _load(self, secret: dict | None) -> pki.KeyPair | None:
        if not secret:
            return None
        data = secret.get("data") or {}
        try:
            return pki.load(base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"]))
        except (KeyError, ValueError, AssertionError):
            return None

    def _ensure_ca(self, name: str, cn: str, duration: dt.timedelta, renew: dt.timedelta, cfg: Config) -> pki.KeyPair:
        secret = self.cl.get(R.SECRETS, name, NS)
        pair = self._load(secret)
        annotation = ((secret or {}).get("metadata", {}).get("annotations") or {}).get(DURATION_ANNOTATION)
        if pair is None or annotation != godur.format(duration) or pki.now() >= pair.cert.not_valid_after_utc - renew:
            pair = pki.make_ca(cn, duration)
            self._write_secret(name, pair, duration, secret)
        self._merge_bundle(name, pair)
        return pair

    def _ensure_leaf(self, leaf: Leaf, ca: pki.KeyPair, cfg: Config) -> None:
        secret = self.cl.get(R.SECRETS, leaf.secret, NS)
        pair = self._load(secret)
        annotation = ((secret or {}).get("metadata", {}).get("annotations") or {}).get(DURATION_ANNOTATION)
        if pair is not None and annotation == godur.format(cfg.server_duration):
            try:
                pair.cert.verify_directly_issued_by(ca.cert)
                verified = True
            except (InvalidSignature, ValueError, TypeError):
                verified = False
            deadline = pair.cert.not_valid_after_utc - cfg.server_renew
            if ca.cert.not_valid_after_utc < pair.cert.not_valid_after_utc:
                deadline = ca.cert.not_valid_after_utc - cfg.ca_renew * 0.5
            if verified and pki.now() < deadline:
                return
        # Upstream (triple/cert.NewSignedCert): NotBefore is the CA's NotBefore, NotAfter is now + duration.
        new = pki.issue(
            ca,
            leaf.cn,
            cfg.server_duration,
            dns=leaf.dns,
            client=leaf.client,
            server=not leaf.client,
            not_before=ca.cert.not_valid_before_utc,
            not_after=pki.now() + cfg.server_duration,
        )
        self._write_secret(leaf.secret, new, cfg.server_duration, secret)

    def _write_secret(self, name: str, pair: pki.KeyPair, duration: dt.timedelta, old: dict | None) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": dict(MANAGED_BY),
                "annotations": {DURATION_ANNOTATION: godur.format(duration)},
            },
            "data": {
                "tls.crt": base64.b64encode(pair.cert_pem).decode(),
                "tls.key": base64.b64encode(pair.key_pem).decode(),
            },
        }
        if old:
            body["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            self.cl.replace(R.SECRETS, body)
        else:
            self.cl.create(R.SECRETS, body, NS)
        # The operator's own log line for a rotation (KubeVirt apply/core.go).
        log.info(
            json.dumps(
                {
                    "component": "virt-operator",
                    "level": "info",
                    "msg": f"secret {name} updated",
                    "timestamp": pki.now().isoformat(),
                }
            )
        )

    def _merge_bundle(self, name: str, current: pki.KeyPair) -> None:
        """Current CA first, then older CAs until they expire (they were replaced `overlap` before
        expiry, which is the overlap period upstream keeps them for); at most 10."""
        cm = self.cl.get(R.CONFIGMAPS, name, NS)
        old_pem = ((cm or {}).get("data") or {}).get("ca-bundle", "")
        kept: list[x509.Certificate] = [current.cert]
        now = pki.now()
        try:
            olds = x509.load_pem_x509_certificates(old_pem.encode()) if old_pem.strip() else []
        except ValueError:
            olds = []
        for cert in olds[:MAX_BUNDLE]:
            if cert == current.cert or cert.not_valid_after_utc <= now:
                continue
            kept.append(cert)
        bundle = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in kept[:MAX_BUNDLE])
        if bundle == old_pem:
            return
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NS, "labels": dict(MANAGED_BY)},
            "data": {"ca-bundle": bundle},
        }
        if cm:
            body["metadata"]["resourceVersion"] = cm["metadata"]["resourceVersion"]
            self.cl.replace(R.CONFIGMAPS, body)
        else:
            self.cl.create(R.CONFIGMAPS, body, NS)

    def _condition(self, kv: dict, ctype: str, status: str, reason: str, message: str) -> None:
        conds = [c for c in (kv.get("status") or {}).get("conditions") or [] if c.get("type") != ctype]
        old = next((c for c in (kv.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), {})
        if old.get("status") == status and old.get("reason") == reason and old.get("message") == message:
            return
        conds.append(
            {
                "type": ctype,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": clock.stamp(),
            }
        )
        self.cl.patch(R.KUBEVIRTS, "kubevirt", {"status": {"conditions": conds}}, NS, sub="status")
