"""Area module (see areas/__init__.py): faults of the core objects (Harvester settings,
nodes, the recorded Longhorn version). Seeding of these objects stays in emulator/seed.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator import pki
from harvester_conformance.emulator.faults import Fault, webhooks_unavailable
from harvester_conformance.emulator.profiles import PROFILES

CONTROLLERS: list[Any] = []
WEBHOOKS: list[dict] = []
FIRST_NODE = "harvester-node-0"


def seed(cl: Any, spec: Any, state_dir: Path, progress: Any) -> None:
    return None


def ready(cl: Any, spec: Any) -> bool:
    return True


def _set(cl: Cluster, name: str, value: str) -> None:
    cl.patch(R.HARVESTER_SETTINGS, name, {"value": value})


def _set_unvalidated(name: str, value: str):
    def inject(cl: Cluster) -> None:
        with webhooks_unavailable(cl):
            _set(cl, name, value)

    return inject


def _reset(name: str):
    return lambda cl: _set(cl, name, "")


def _mismatched_ssl_pair(cl: Cluster) -> None:
    # A certificate and a key from two different issuances pasted together: valid PEM each, so
    # Harvester's webhook accepts it (it checks parsing, not that the key fits).
    ca = pki.make_ca("ingress-ca", dt.timedelta(days=365))
    served = pki.issue(ca, "harvester.example.internal", dt.timedelta(days=365), dns=("harvester.example.internal",))
    other = pki.issue(ca, "harvester.example.internal", dt.timedelta(days=365), dns=("harvester.example.internal",))
    _set(
        cl,
        "ssl-certificates",
        json.dumps(
            {
                "ca": ca.cert_pem.decode(),
                "publicCertificate": served.cert_pem.decode(),
                "privateKey": other.key_pem.decode(),
            }
        ),
    )


def _allocatable_above_capacity(cl: Cluster) -> None:
    # A kubelet reporting more allocatable CPU than the node has (a bad --system-reserved edit).
    node = cl.get(R.NODES, FIRST_NODE)
    assert node is not None
    cpu = int(node["status"]["capacity"]["cpu"])
    cl.patch(R.NODES, FIRST_NODE, {"status": {"allocatable": {"cpu": str(cpu + 8)}}}, sub="status")


def _allocatable_restored(cl: Cluster) -> None:
    cl.patch(R.NODES, FIRST_NODE, {"status": {"allocatable": {"cpu": "31800m"}}}, sub="status")


def _cordon(unschedulable: bool):
    # Left cordoned after maintenance: the upgrade gate needs every node schedulable.
    return lambda cl: cl.patch(R.NODES, FIRST_NODE, {"spec": {"unschedulable": unschedulable or None}})


def _longhorn_version(cl: Cluster, version: str | None) -> None:
    if version is None:  # back to the release's own version
        server = (cl.get(R.HARVESTER_SETTINGS, "server-version") or {}).get("value")
        version = next(p.longhorn for p in PROFILES.values() if p.harvester == server and p.name == server)
    cl.patch(R.LONGHORN_SETTINGS, "current-longhorn-version", {"value": version}, "longhorn-system")


FAULTS: list[Fault] = [
    Fault(
        "SCH-01",
        "overcommit-config cpu 50 (under 100) written while the webhook was unavailable",
        _set_unvalidated("overcommit-config", '{"cpu":50,"memory":150,"storage":200}'),
        _reset("overcommit-config"),
    ),
    Fault(
        "SEC-03",
        "auto-rotate-rke2-certs holding JSON that does not parse, written while the webhook was down",
        _set_unvalidated("auto-rotate-rke2-certs", '{"enable": true, "expiringInHours": '),
        _reset("auto-rotate-rke2-certs"),
    ),
    Fault(
        "SEC-05",
        "ssl-certificates whose private key does not belong to its certificate",
        _mismatched_ssl_pair,
        _reset("ssl-certificates"),
    ),
    Fault(
        "MET-05",
        "a node reporting more allocatable CPU than its capacity",
        _allocatable_above_capacity,
        _allocatable_restored,
    ),
    Fault("UPG-02", "a node left cordoned after maintenance", _cordon(True), _cordon(False)),
    Fault(
        "TRM-01",
        "Longhorn left at v1.4.2 by a half-finished upgrade (the release ships another)",
        lambda cl: _longhorn_version(cl, "v1.4.2"),
        lambda cl: _longhorn_version(cl, None),
    ),
]
