"""virt-operator's certificate management (KubeVirt `pkg/virt-operator/resource/apply/core.go`,
`generate/components/secrets.go`; facts.md §1, §17.9).

One reconcile is upstream's `createOrUpdateComponentsWithCertificates`, in its order: the CA (and
from 0.55 the export CA), their bundle ConfigMaps (`MergeCABundle`), virt-api's webhook
configurations and subresources APIServices carrying the bundle, then the leaf certificates,
rotated on the documented triggers (missing or unloadable, duration annotation changed, not
signed by the current CA, past NotAfter - renewBefore). It only acts while the `virt-operator`
Deployment has an available replica, as the real operator would, and not while the Deployment
carries the fault annotation `reconcile-stuck` (a hung operator whose pod still serves webhooks).

Version differences follow the tags: KubeVirt 0.54 issues its CA with serial number 0
(`triple/cert/cert.go@v0.54.0`, random from 0.55) and RSA-2048 keys (`triple/triple.go`, ECDSA
P-256 from 1.0); the export CA and export-proxy certificate exist from 0.55.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import clock, pki
from harvester_conformance.emulator.areas import kubevirt_certificates_registrations as registrations
from harvester_conformance.emulator.areas.kubevirt_model import version_tuple
from harvester_conformance.emulator.faults import fault_of
from harvester_conformance.emulator.simulator import godur

log = logging.getLogger("virt-operator")
NS, MANAGED_BY = registrations.NS, registrations.MANAGED_BY
DURATION_ANNOTATION = "kubevirt.io/duration"
MAX_BUNDLE = 10  # MergeCABundle parses at most this many earlier certificates
CA, EXPORT_CA = "kubevirt-ca", "kubevirt-export-ca"
EXTERNAL_CA = "kubevirt-external-ca"  # ConfigMap, KubeVirt 1.6+ (ExternalKubeVirtCAConfigMapName)
SYNCHRONIZATION_SINCE = (1, 6)
HANDLER_CLIENTS_SINCE = (1, 7)
STUCK = "reconcile-stuck"  # value of FAULT_ANNOTATION on the Deployment: the reconcile loop hangs
# Where the stand-in acknowledges the fault it is modelling, so that an injection can wait for it.
OBSERVED_ANNOTATION = "emulator.harvester-conformance.io/observed-fault"


@dataclass(frozen=True)
class Leaf:
    secret: str
    cn: str
    dns: tuple[str, ...]
    client: bool = False


def _service_names(service: str, ns: str) -> tuple[str, ...]:
    """The SANs of triple.NewServerKeyPair: the Service's names down to cluster.local."""
    return (service, f"{service}.{ns}", f"{service}.{ns}.svc", f"{service}.{ns}.svc.cluster.local")


def _server(secret: str, service: str, ns: str, cn: str | None = None) -> Leaf:
    """A server leaf; CN `<service>.<ns>.pod.cluster.local` unless given (components/secrets.go)."""
    return Leaf(secret, cn or f"{service}.{ns}.pod.cluster.local", _service_names(service, ns))


def leaves(ns: str, version: tuple[int, ...]) -> list[Leaf]:
    """The leaf certificates virt-operator manages at this KubeVirt version, all signed by kubevirt-ca."""
    out = [
        _server("kubevirt-virt-api-certs", "virt-api", ns),
        _server("kubevirt-controller-certs", "virt-controller", ns),
        _server("kubevirt-virt-handler-server-certs", "virt-handler", ns, "kubevirt.io:system:node:virt-handler"),
        Leaf("kubevirt-virt-handler-certs", "kubevirt.io:system:client:virt-handler", (), client=True),
        _server("kubevirt-operator-certs", "kubevirt-operator-webhook", ns),
    ]
    if version >= (0, 55):
        out.append(_server("kubevirt-exportproxy-certs", "virt-exportproxy", ns))
    if version >= SYNCHRONIZATION_SINCE:  # decentralized live migration (secrets.go @v1.6.6)
        out.append(
            Leaf(
                "kubevirt-synchronization-controller-certs",
                "kubevirt.io:system:client:virt-synchronization-controller",
                (),
                client=True,
            )
        )
        out.append(
            _server(
                "kubevirt-synchronization-controller-server-certs",
                "virt-synchronization-controller",
                ns,
                "kubevirt.io:system:node:virt-synchronization-controller",
            )
        )
    if version >= HANDLER_CLIENTS_SINCE:  # mounted by virt-handler (secrets.go, daemonsets.go @v1.7.4)
        out.append(
            Leaf("kubevirt-virt-handler-migration-client-certs", "kubevirt.io:system:client:migration", (), client=True)
        )
        out.append(Leaf("kubevirt-virt-handler-vsock-client-certs", "kubevirt.io:system:client:vsock", (), client=True))
    return out


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


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def merge_ca_bundle(current: x509.Certificate, bundle: str, overlap: dt.timedelta, now: dt.datetime) -> str:
    """components.MergeCABundle (secrets.go@v0.54.0, unchanged at v1.1.1 and v1.3.1): the current CA
    first, then the earlier CAs of the bundle (at most 10 parsed) newest first, each kept while the
    CA that replaced it is younger than the overlap period, expired ones dropped. ValueError when
    the bundle does not parse (upstream then writes the current CA alone)."""
    certs = x509.load_pem_x509_certificates(bundle.encode()) if bundle.strip() else []
    certs = sorted(certs[:MAX_BUNDLE], key=lambda c: int(c.not_valid_before_utc.timestamp()), reverse=True)
    kept: list[x509.Certificate] = []
    for i, cert in enumerate(certs):
        successor = current if i == 0 else certs[i - 1]
        if successor.not_valid_before_utc + overlap < now:
            break
        if cert.not_valid_after_utc < now or cert == current:
            continue
        kept.append(cert)
    return "".join(_pem(c) for c in [current, *kept])


def available(cl: Cluster) -> dict | None:
    """The virt-operator Deployment when it has an available replica (a pod that serves)."""
    dep = cl.get(R.DEPLOYMENTS, "virt-operator", NS)
    return dep if dep and (dep.get("status", {}).get("availableReplicas") or 0) > 0 else None


class VirtOperator:
    """One reconcile per resync; `ports` says where the emulated components listen, by Service."""

    def __init__(self, cluster: Cluster, ports: Callable[[], dict[str, int]]) -> None:
        self.cl = cluster
        self.ports = ports

    def reconcile(self) -> None:
        dep = available(self.cl)
        if dep is None:
            return
        stuck = fault_of(dep) == STUCK
        if (dep["metadata"].get("annotations") or {}).get(OBSERVED_ANNOTATION) != (STUCK if stuck else None):
            ack = {"metadata": {"annotations": {OBSERVED_ANNOTATION: STUCK if stuck else None}}}
            self.cl.patch(R.DEPLOYMENTS, "virt-operator", ack, NS)
        if stuck:
            return
        kv = self.cl.get(R.KUBEVIRTS, "kubevirt", NS)
        if not kv:
            return
        try:
            cfg = config_from(kv.get("spec") or {})
        except ValueError as exc:
            self._condition(kv, "Degraded", "True", "InvalidCertificateRotateStrategy", str(exc))
            return
        version = version_tuple((kv.get("status") or {}).get("observedKubeVirtVersion") or "v1.1.1")
        ca = self._ensure_ca(CA, "kubevirt.io", cfg.ca_duration, cfg.ca_renew, version)
        export_ca = None
        if version >= (0, 55):  # the export CA takes the *server* renewBefore (core.go@v1.1.1)
            export_ca = self._ensure_ca(EXPORT_CA, "export.kubevirt.io", cfg.ca_duration, cfg.server_renew, version)
        external = self._external_ca() if version >= SYNCHRONIZATION_SINCE else ""
        bundle = self._ensure_bundle(CA, ca, cfg.ca_renew, external)
        if external:
            self._write_external_ca(cleared=True)
        if export_ca is not None:
            self._ensure_bundle(EXPORT_CA, export_ca, cfg.server_renew)
        registrations.apply(self.cl, self.ports(), bundle, version)
        for leaf in leaves(NS, version):
            self._ensure_leaf(leaf, ca, cfg, version)
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

    def _ensure_ca(
        self, name: str, cn: str, duration: dt.timedelta, renew: dt.timedelta, version: tuple[int, ...]
    ) -> pki.KeyPair:
        secret = self.cl.get(R.SECRETS, name, NS)
        pair = self._load(secret)
        annotation = ((secret or {}).get("metadata", {}).get("annotations") or {}).get(DURATION_ANNOTATION)
        if pair is None or annotation != godur.format(duration) or pki.now() >= pair.cert.not_valid_after_utc - renew:
            serial = 0 if version < (0, 55) else None
            pair = pki.make_ca(cn, duration, serial=serial, rsa_key=version < (1, 0))
            self._write_secret(name, pair, duration, secret)
        return pair

    def _ensure_leaf(self, leaf: Leaf, ca: pki.KeyPair, cfg: Config, version: tuple[int, ...]) -> None:
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
            rsa_key=version < (1, 0),
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

    def _external_ca(self) -> str:
        """KubeVirt 1.6+ (`createExternalKubeVirtCAConfigMap`, `getRemotePublicCas`, apply/core.go
        @v1.6.6): the ConfigMap kubevirt-external-ca exists (created empty); the certificates put in
        it are returned, to be merged into the kubevirt-ca bundle."""
        cm = self.cl.get(R.CONFIGMAPS, EXTERNAL_CA, NS)
        if cm is None:
            self._write_external_ca(cleared=False)
            return ""
        return ((cm.get("data") or {}).get("ca-bundle") or "").strip()

    def _write_external_ca(self, cleared: bool) -> None:
        """Created empty, or emptied once its certificates are in the bundle (`cleanupExternalCACerts`)."""
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": EXTERNAL_CA, "namespace": NS, "labels": dict(MANAGED_BY)},
            "data": {"ca-bundle": ""},
        }
        if cleared:
            self.cl.patch(R.CONFIGMAPS, EXTERNAL_CA, {"data": {"ca-bundle": ""}}, NS)
        else:
            self.cl.create(R.CONFIGMAPS, body, NS)

    def _ensure_bundle(self, name: str, current: pki.KeyPair, overlap: dt.timedelta, external: str = "") -> str:
        """createOrUpdateKubeVirtCAConfigMap: a new ConfigMap holds the current CA; an existing one
        is merged (an unparseable bundle is replaced by the current CA); external CA certificates
        (KubeVirt 1.6+) are appended. Returns the bundle."""
        cm = self.cl.get(R.CONFIGMAPS, name, NS)
        old = ((cm or {}).get("data") or {}).get("ca-bundle", "")
        try:
            bundle = merge_ca_bundle(current.cert, old, overlap, pki.now()) if cm else _pem(current.cert)
        except ValueError:
            bundle = _pem(current.cert)
        if external and external not in bundle:
            bundle = bundle.rstrip("\n") + "\n" + external + "\n"
        if cm and bundle == old:
            return bundle
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
        return bundle

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
