"""Faults of the core objects (settings, nodes, recorded Longhorn version), proven both ways on
the objects themselves, and the webhooks restored after a "webhook was down" injection."""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import areas as faults


def _value(cl: Cluster, name: str) -> str:
    s = cl.get(R.HARVESTER_SETTINGS, name)
    return s.get("value") or s.get("default") or ""


def _key_fits(cfg: dict) -> bool:
    cert = x509.load_pem_x509_certificate(cfg["publicCertificate"].encode())
    key = serialization.load_pem_private_key(cfg["privateKey"].encode(), password=None)
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt)


def _holds(cl: Cluster, fault_id: str) -> bool:
    """The invariant's statement, evaluated directly on the objects (independent of the suite)."""
    node = cl.get(R.NODES, "harvester-node-0")
    if fault_id == "SCH-01":
        cfg = json.loads(_value(cl, "overcommit-config"))
        return all(cfg[k] >= 100 for k in ("cpu", "memory", "storage"))
    if fault_id == "SEC-03":
        try:
            json.loads(_value(cl, "auto-rotate-rke2-certs"))
            return True
        except ValueError:
            return False
    if fault_id == "SEC-05":
        cfg = json.loads(_value(cl, "ssl-certificates") or "{}")
        return not cfg.get("publicCertificate") or _key_fits(cfg)
    if fault_id == "MET-05":
        alloc, cap = node["status"]["allocatable"]["cpu"], node["status"]["capacity"]["cpu"]
        to_milli = lambda q: int(q[:-1]) if q.endswith("m") else int(q) * 1000  # noqa: E731
        return to_milli(alloc) <= to_milli(cap)
    if fault_id == "UPG-02":
        return not node["spec"].get("unschedulable")
    if fault_id == "TRM-01":
        lh = cl.get(R.LONGHORN_SETTINGS, "current-longhorn-version", "longhorn-system")["value"]
        return lh == "v1.6.2"  # Harvester v1.3.1 ships Longhorn v1.6.2 (facts.md §0.1)
    if fault_id in ("SEC-02", "LPC-04"):
        name = {"SEC-02": "validator.harvesterhci.io", "LPC-04": "validator.longhorn.io"}[fault_id]
        cfg = cl.get(R.VALIDATING_WEBHOOKS, "harvester-simulator-validating")
        return name in {h["name"] for h in cfg["webhooks"]}
    if fault_id == "CCR-02":
        return cl.get(R.RANCHER_SETTINGS, "kubeconfig-default-token-ttl-minutes").get("value") in ("0", "")
    if fault_id == "CSI-01":
        classes = {c["metadata"]["name"] for c in cl.list(R.VOLUME_SNAPSHOT_CLASSES)}
        cfg = json.loads(_value(cl, "csi-driver-config"))
        named = {v for entry in cfg.values() for v in entry.values()}
        return named <= classes
    if fault_id == "UPG-06":
        chart = cl.get(R.MANAGED_CHARTS, "harvester", "fleet-local")
        return any(c["type"] == "Ready" and c["status"] == "True" for c in chart["status"]["conditions"])
    if fault_id == "NTA-01":
        return any(sc["provisioner"] == "csi.trident.netapp.io" for sc in cl.list(R.STORAGE_CLASSES))
    if fault_id == "LHP-02":
        return not any(
            sc["provisioner"] == "driver.longhorn.io"
            and sc.get("parameters", {}).get("dataLocality") == "strict-local"
            and sc["parameters"].get("numberOfReplicas") != "1"
            for sc in cl.list(R.STORAGE_CLASSES)
        )
    if fault_id == "LHP-03":
        lh = cl.get(R.LONGHORN_SETTINGS, "storage-network", "longhorn-system")["value"]
        return bool(_value(cl, "storage-network")) and lh.startswith("harvester-system/storagenetwork-")
    if fault_id == "FSR-01":
        return tuple(int(x) for x in _value(cl, "server-version").lstrip("v").split(".")[:3]) >= (1, 1, 0)
    if fault_id == "SEC-06":  # facts.md: Harvester v1.3.0 shipped RKE2 v1.27.10+rke2r1
        return all(n["status"]["nodeInfo"]["kubeletVersion"] != "v1.27.10+rke2r1" for n in cl.list(R.NODES))
    if fault_id == "MIG-01":  # the KubeVirt CR leaves the documented defaults alone
        kv = cl.get(R.KUBEVIRTS, "kubevirt", "harvester-system")
        return not (kv["spec"].get("configuration") or {}).get("migrations")
    raise AssertionError(fault_id)


CORE_FAULTS = [
    "SCH-01",
    "SEC-03",
    "SEC-05",
    "MET-05",
    "UPG-02",
    "TRM-01",
    "SEC-02",
    "LPC-04",
    "CCR-02",
    "CSI-01",
    "UPG-06",
    "NTA-01",
    "LHP-02",
    "LHP-03",
    "FSR-01",
    "SEC-06",
    "MIG-01",
]


@pytest.mark.parametrize("fault_id", CORE_FAULTS)
def test_fault_violates_and_revert_restores(emulated, fault_id: str) -> None:
    c = emulated("v1.3.1")
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    assert _holds(cl, fault_id)
    faults.inject(fault_id, c.kubeconfig)
    try:
        assert not _holds(cl, fault_id)
    finally:
        faults.revert(fault_id, c.kubeconfig)
    assert _holds(cl, fault_id)
    # whatever the fault did to the webhooks, they are back
    with pytest.raises(ApiError):
        cl.patch(R.HARVESTER_SETTINGS, "overcommit-config", {"value": '{"cpu":10,"memory":150,"storage":200}'})


def test_ssl_certificates_webhook_rejects_what_does_not_parse(emulated) -> None:
    cl = Cluster.from_kubeconfig(str(emulated("v1.3.1").kubeconfig))
    with pytest.raises(ApiError) as err:
        cl.patch(R.HARVESTER_SETTINGS, "ssl-certificates", {"value": '{"publicCertificate": "not a pem"}'})
    assert err.value.status == 400 and "publicCertificate" in err.value.message
