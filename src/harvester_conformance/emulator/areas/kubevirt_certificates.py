"""Area module (see areas/__init__.py): KubeVirt's certificates (article "KubeVirt Certificates
Rotation", facts.md §1 and §17.9; the suite's `conformance/kubevirt_certificates`).

virt-operator issues and rotates the certificates, keeps the CA bundles and writes the bundle into
its own and virt-api's webhook configurations and the subresources APIServices
(kubevirt_certificates_operator and _registrations); virt-api and virt-operator's webhook server
serve with the certificates the operator issued (kubevirt_certificates_serving, what they answer in
_handlers). The faults are KVC-01..07's.
"""

from __future__ import annotations

import base64
import datetime as dt
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import pki
from harvester_conformance.emulator.areas import kubevirt_certificates_registrations as reg
from harvester_conformance.emulator.areas.kubevirt_certificates_handlers import (
    OPERATOR_ROUTES,
    VIRT_API_ROUTES,
    discovery,
)
from harvester_conformance.emulator.areas.kubevirt_certificates_operator import (
    CA,
    OBSERVED_ANNOTATION,
    STUCK,
    VirtOperator,
    available,
    leaves,
)
from harvester_conformance.emulator.areas.kubevirt_certificates_serving import TlsComponent
from harvester_conformance.emulator.areas.kubevirt_model import version_tuple
from harvester_conformance.emulator.faults import FAULT_ANNOTATION, Fault
from harvester_conformance.emulator.seed import grant_simulator
from harvester_conformance.waits import wait_for

NS = "harvester-system"


def server_name(service: str) -> str:
    """The name the apiserver verifies a webhook's or APIService's certificate for."""
    return f"{service}.{NS}.svc"


# -- controllers -----------------------------------------------------------------------------
_components: dict[Path, dict[str, TlsComponent]] = {}


def _servers(cl: Cluster, state_dir: Path) -> dict[str, TlsComponent]:
    """The simulator's virt-api and virt-operator webhook server by Service (started on first use)."""
    if state_dir not in _components:
        _components[state_dir] = {
            reg.SERVICE: TlsComponent(
                cl, state_dir, "virt-api", reg.CERT_SECRET, VIRT_API_ROUTES, lambda path: discovery(cl, path)
            ),
            reg.OPERATOR_SERVICE: TlsComponent(
                cl, state_dir, "virt-operator", reg.OPERATOR_CERT_SECRET, OPERATOR_ROUTES
            ),
        }
    return _components[state_dir]


def _virt_api(cl: Cluster, state_dir: Path) -> Callable[[], None]:
    return _servers(cl, state_dir)[reg.SERVICE].sync  # virt-api's Deployment is not modelled: always up


def _virt_operator(cl: Cluster, state_dir: Path) -> Callable[[], None]:
    """virt-operator's pod: its webhook server serves while the Deployment has an available replica
    (hung or not); its reconcile loop is the certificate management."""
    servers = _servers(cl, state_dir)
    operator = VirtOperator(cl, lambda: {name: server.port for name, server in servers.items()})

    def run() -> None:
        servers[reg.OPERATOR_SERVICE].sync(serving=available(cl) is not None)
        operator.reconcile()

    return run


CONTROLLERS = [("virt-api", _virt_api, 1.0), ("virt-operator", _virt_operator, 1.0)]
WEBHOOKS: list[dict] = []  # virt-operator registers its own and virt-api's webhooks
API_GROUPS: list = []  # served by virt-api on its own port, behind its own APIServices


# -- seed and readiness ----------------------------------------------------------------------
# What virt-operator's ClusterRole grants beyond the simulator's: the registrations.
OPERATOR_RULES = [
    {
        "apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
        "verbs": ["get", "list", "watch", "create", "update", "patch"],
    },
    {
        "apiGroups": ["apiregistration.k8s.io"],
        "resources": ["apiservices"],
        "verbs": ["get", "list", "watch", "create", "update", "patch"],
    },
]


def served_certificate_problem(cl: Cluster, bundle_pem: str, service: str = reg.SERVICE) -> str | None:
    """Why a TLS client trusting only `bundle_pem` cannot reach `service` as the apiserver does
    (its Service's port, its Service name); None when it can."""
    svc = cl.get(R.SERVICES, service, NS)
    if svc is None:
        return f"Service {NS}/{service} does not exist"
    port = svc["spec"]["ports"][0]["port"]
    try:
        ctx = ssl.create_default_context(cadata=bundle_pem)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=server_name(service)):
                return None
    except (OSError, ssl.SSLError, ValueError) as exc:
        return f"TLS to {service} on port {port}: {exc}"


def registration_problems(cl: Cluster) -> list[str]:
    """What keeps the registrations from carrying the kubevirt-ca bundle, or from being served."""
    bundle = ((cl.get(R.CONFIGMAPS, CA, NS) or {}).get("data") or {}).get("ca-bundle")
    if not bundle:
        return [f"ConfigMap {NS}/{CA} has no ca-bundle"]
    encoded = base64.b64encode(bundle.encode()).decode()
    problems = []
    for name, (res, _, _, _) in reg.CONFIGURATIONS.items():
        hooks = (cl.get(res, name) or {}).get("webhooks")
        if not hooks or any(h["clientConfig"].get("caBundle") != encoded for h in hooks):
            problems.append(f"{res.kind} {name} missing or without the current bundle")
    for name in reg.APISERVICES:
        svc = cl.get(R.API_SERVICES, name) or {}
        conds = (svc.get("status") or {}).get("conditions") or []
        if (svc.get("spec") or {}).get("caBundle") != encoded:
            problems.append(f"APIService {name} missing or without the current bundle")
        elif not any(c["type"] == "Available" and c["status"] == "True" for c in conds):
            problems.append(f"APIService {name} not Available: {conds}")
    served = [served_certificate_problem(cl, bundle, s) for s in (reg.SERVICE, reg.OPERATOR_SERVICE)]
    return problems + [p for p in served if p]


def seed(cl: Cluster, spec: Any, state_dir: Path, progress: Callable[[str], None]) -> None:
    """Grant virt-operator its registrations, then wait until virt-api and virt-operator serve their
    webhooks: the apiserver calls them for every KubeVirt object the later seeds write."""
    grant_simulator(cl, "kubevirt-operator", OPERATOR_RULES)

    def webhooks_served() -> bool:
        if any(cl.get(res, name) is None for name, (res, _, _, _) in reg.CONFIGURATIONS.items()):
            return False
        bundle = ((cl.get(R.CONFIGMAPS, CA, NS) or {}).get("data") or {}).get("ca-bundle")
        return bool(bundle) and not any(
            served_certificate_problem(cl, bundle, s) for s in (reg.SERVICE, reg.OPERATOR_SERVICE)
        )

    wait_for("cluster-seeded", webhooks_served)
    progress("virt-operator registered its and virt-api's webhooks; both serve")


def ready(cl: Cluster, spec: Any) -> bool:
    """Registrations carry the current bundle, the APIServices are Available, the servers verify,
    and every leaf of the running KubeVirt version is issued (the operator writes them last)."""
    try:
        if registration_problems(cl) != []:
            return False
        kv = cl.get(R.KUBEVIRTS, "kubevirt", NS) or {}
        version = version_tuple((kv.get("status") or {}).get("observedKubeVirtVersion") or "v1.1.1")
        return all(cl.get(R.SECRETS, leaf.secret, NS) is not None for leaf in leaves(NS, version))
    except ApiError:
        return False


# -- faults ----------------------------------------------------------------------------------
def _set_operator_stuck(cl: Cluster, stuck: bool) -> None:
    """virt-operator's reconcile loop hangs (or resumes); its pod keeps serving its webhooks, so the
    KubeVirt CR can still be edited. Returns once the operator has acknowledged the change at the
    start of a reconcile, so that none that began before it is still writing."""
    value = STUCK if stuck else None
    cl.patch(R.DEPLOYMENTS, "virt-operator", {"metadata": {"annotations": {FAULT_ANNOTATION: value}}}, NS)

    def acknowledged() -> bool:
        dep = cl.get(R.DEPLOYMENTS, "virt-operator", NS) or {}
        return (dep.get("metadata", {}).get("annotations") or {}).get(OBSERVED_ANNOTATION) == value

    wait_for("cluster-seeded", acknowledged)


def _secret_pair(cl: Cluster, name: str) -> tuple[dict, pki.KeyPair]:
    secret = cl.get(R.SECRETS, name, NS)
    if secret is None:
        raise RuntimeError(f"Secret {NS}/{name} does not exist; is the cluster seeded?")
    data = secret["data"]
    return secret, pki.load(base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"]))


def _replace_certificate(cl: Cluster, name: str, pair: pki.KeyPair) -> None:
    secret = cl.get(R.SECRETS, name, NS)
    assert secret is not None
    secret["data"] = {
        "tls.crt": base64.b64encode(pair.cert_pem).decode(),
        "tls.key": base64.b64encode(pair.key_pem).decode(),
    }
    cl.replace(R.SECRETS, secret)


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        return tuple(
            cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        )
    except x509.ExtensionNotFound:
        return ()


def _leaf_signed_by_current_ca(
    cl: Cluster, name: str, duration: dt.timedelta, age: dt.timedelta = dt.timedelta(0)
) -> pki.KeyPair:
    """A leaf as virt-operator would have issued it `age` ago for `duration` (same names, so that
    virt-api keeps serving when it is its certificate)."""
    _, ca = _secret_pair(cl, CA)
    _, old = _secret_pair(cl, name)
    cn = old.cert.subject.rfc4514_string().removeprefix("CN=")
    issued = pki.now() - age
    return pki.issue(
        ca,
        cn,
        duration,
        dns=_dns_names(old.cert),
        not_before=min(ca.cert.not_valid_before_utc, issued),
        not_after=issued + duration,
    )


def _await_reissue(cl: Cluster, name: str, bad_serial: int) -> None:
    def fresh() -> bool:
        _, pair = _secret_pair(cl, name)
        return pair.cert.serial_number != bad_serial

    wait_for("certificate-reissued", fresh)


def _kvc01(cl: Cluster) -> None:
    # Go durations have no "d" unit: writing 7d is the classic mistake.
    cl.patch(
        R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": {"selfSigned": {"ca": {"duration": "7d"}}}}}, NS
    )


def _kvc01_revert(cl: Cluster) -> None:
    cl.patch(R.KUBEVIRTS, "kubevirt", {"spec": {"certificateRotateStrategy": {"selfSigned": None}}}, NS)


def _kvc02(cl: Cluster) -> None:
    # A stale object: a certificate restored from elsewhere, signed by the current CA and carrying
    # the right duration annotation, but issued for 48h. virt-operator only compares the
    # annotation, so it keeps it (upstream certificationNeedsRotation).
    _replace_certificate(
        cl,
        "kubevirt-controller-certs",
        _leaf_signed_by_current_ca(cl, "kubevirt-controller-certs", dt.timedelta(hours=48)),
    )


def _kvc02_revert(cl: Cluster) -> None:
    _, pair = _secret_pair(cl, "kubevirt-controller-certs")
    cl.delete(R.SECRETS, "kubevirt-controller-certs", NS)
    _await_reissue(cl, "kubevirt-controller-certs", pair.cert.serial_number)


def _kvc03(cl: Cluster) -> None:
    # virt-operator down for most of a day: a 24h server certificate issued 22h ago is inside
    # its 4.8h renewal window and nobody rotates it.
    _set_operator_stuck(cl, True)
    _replace_certificate(
        cl,
        "kubevirt-virt-api-certs",
        _leaf_signed_by_current_ca(cl, "kubevirt-virt-api-certs", dt.timedelta(hours=24), age=dt.timedelta(hours=22)),
    )


def _kvc04(cl: Cluster) -> None:
    # virt-operator stuck while a certificate signed by another CA is put in place.
    _set_operator_stuck(cl, True)
    _, old = _secret_pair(cl, "kubevirt-virt-handler-server-certs")
    foreign = pki.make_ca("kubevirt.io", dt.timedelta(hours=168))
    cn = old.cert.subject.rfc4514_string().removeprefix("CN=")
    _replace_certificate(cl, "kubevirt-virt-handler-server-certs", pki.issue(foreign, cn, dt.timedelta(hours=24)))


def _operator_stuck(cl: Cluster) -> None:
    _set_operator_stuck(cl, True)


def _operator_back(cl: Cluster) -> None:
    _set_operator_stuck(cl, False)


def _operator_back_and_reissued(secret: str) -> Callable[[Cluster], None]:
    def revert(cl: Cluster) -> None:
        _, pair = _secret_pair(cl, secret)
        _set_operator_stuck(cl, False)
        _await_reissue(cl, secret, pair.cert.serial_number)

    return revert


CR = f"KubeVirt {NS}/kubevirt"
VIRT_API_SECRET = f"Secret {NS}/kubevirt-virt-api-certs"
FAULTS = [
    Fault(
        "KVC-01",
        "a CA duration written as 7d, which Go durations do not accept",
        _kvc01,
        _kvc01_revert,
        objects=(CR,),
    ),
    Fault(
        "KVC-02",
        "a stale controller certificate issued for 48h with a 24h annotation",
        _kvc02,
        _kvc02_revert,
        objects=(f"Secret {NS}/kubevirt-controller-certs",),
    ),
    Fault(
        "KVC-03",
        "virt-operator stuck while virt-api's certificate entered its renewal window",
        _kvc03,
        _operator_back_and_reissued("kubevirt-virt-api-certs"),
        objects=(VIRT_API_SECRET,),
    ),
    Fault(
        "KVC-04",
        "virt-operator stuck with virt-handler's server certificate signed by a foreign CA",
        _kvc04,
        _operator_back_and_reissued("kubevirt-virt-handler-server-certs"),
        objects=(f"Secret {NS}/kubevirt-virt-handler-server-certs",),
    ),
    Fault(
        "KVC-05",
        "virt-operator stuck (its reconcile loop hangs): a deleted certificate is never re-issued",
        _operator_stuck,
        _operator_back,
        objects=(VIRT_API_SECRET,),
    ),
    Fault(
        "KVC-06",
        "virt-operator stuck (its reconcile loop hangs): a foreign-signed certificate stays",
        _operator_stuck,
        _operator_back,
        objects=(VIRT_API_SECRET,),
    ),
    Fault(
        "KVC-07",
        "virt-operator stuck (its reconcile loop hangs): a new duration is never applied",
        _operator_stuck,
        _operator_back,
        objects=(VIRT_API_SECRET,),
    ),
]
