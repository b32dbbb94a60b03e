"""Area module (see areas/__init__.py): KubeVirt/Harvester VM workloads (facts.md §10, §15).

The seed is in kubevirt_seed, the controllers in kubevirt_controllers, the webhooks in
kubevirt_webhooks and the faults in kubevirt_faults.
"""

from __future__ import annotations

from harvester_conformance.emulator.areas import kubevirt_webhooks
from harvester_conformance.emulator.areas.kubevirt_controllers import MigrationController, VirtController
from harvester_conformance.emulator.areas.kubevirt_faults import FAULTS
from harvester_conformance.emulator.areas.kubevirt_seed import ready, seed

CONTROLLERS = [
    ("virt-controller", lambda cl, state_dir: VirtController(cl).reconcile, 2.0),
    ("migration-controller", lambda cl, state_dir: MigrationController(cl).reconcile, 1.0),
]
WEBHOOKS = kubevirt_webhooks.WEBHOOKS
API_GROUPS: list = []

__all__ = ["API_GROUPS", "CONTROLLERS", "FAULTS", "WEBHOOKS", "ready", "seed"]
