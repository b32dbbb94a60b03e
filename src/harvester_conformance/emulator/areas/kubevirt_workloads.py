"""Area module (see areas/__init__.py): KubeVirt/Harvester VM workloads (facts.md §10, §15).

The seed is in kubevirt_seed, the controllers in kubevirt_controllers (and Harvester's
kubevirt-migration syncer in kubevirt_migration_setting), the webhooks in kubevirt_webhooks and the
faults in kubevirt_faults.
"""

from __future__ import annotations

from typing import Any

from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import kubevirt_migration_setting, kubevirt_seed, kubevirt_webhooks
from harvester_conformance.emulator.areas.kubevirt_controllers import MigrationController, VirtController
from harvester_conformance.emulator.areas.kubevirt_faults import FAULTS
from harvester_conformance.emulator.areas.kubevirt_seed import seed
from harvester_conformance.emulator.simulator.informers import ON_CHANGE

CONTROLLERS = [
    ("virt-controller", lambda cl, state_dir: VirtController(cl).reconcile, 2.0, ON_CHANGE),
    ("migration-controller", lambda cl, state_dir: MigrationController(cl).reconcile, 1.0),
    ("harvester-kubevirt-migration", kubevirt_migration_setting.factory, 2.0, ON_CHANGE),
]
WEBHOOKS = kubevirt_webhooks.WEBHOOKS
API_GROUPS: list = []


def ready(cl: Cluster, spec: Any) -> bool:
    """Every seeded VM has settled (kubevirt_seed.ready) and, from v1.7.0, the KubeVirt CR holds
    the kubevirt-migration setting's migration block."""
    return kubevirt_seed.ready(cl, spec) and not kubevirt_migration_setting.pending(cl)


__all__ = ["API_GROUPS", "CONTROLLERS", "FAULTS", "WEBHOOKS", "ready", "seed"]
