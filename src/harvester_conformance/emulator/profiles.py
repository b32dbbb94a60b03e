"""Seed profiles: one healthy cluster per Harvester release, with that release's component
versions (facts.md §0.1), plus `scale` for the benchmarks."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace


class UnknownProfile(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")


@dataclass(frozen=True)
class ProfileSpec:
    name: str
    harvester: str
    kubevirt: str  # SUSE virt-operator image tag, as observedKubeVirtVersion reports it
    longhorn: str
    rke2: str
    rancher: str
    nodes: int = 3
    vms: int = 20

    def with_size(self, nodes: int | None = None, vms: int | None = None) -> ProfileSpec:
        return replace(self, nodes=nodes or self.nodes, vms=self.vms if vms is None else vms)

    @property
    def kubevirt_upstream(self) -> str:
        return "v" + self.kubevirt.split("-")[0]


# Every profile follows the Longhorn best practice of a dedicated storage network (KB "Best
# Practices for Optimizing Longhorn Disk Performance"): Harvester's `storage-network` setting and
# the NetworkAttachmentDefinition its controller creates, which Longhorn's setting names.
STORAGE_NETWORK = {"vlan": 2012, "clusterNetwork": "vm-net", "range": "10.0.12.0/24", "exclude": []}
STORAGE_NETWORK_NAD = ("harvester-system", "storagenetwork-hc7q2")
STORAGE_NETWORK_SETTING = json.dumps(STORAGE_NETWORK, separators=(",", ":"))  # as Harvester writes it


PROFILES: dict[str, ProfileSpec] = {
    p.name: p
    for p in (
        ProfileSpec("v1.2.1", "v1.2.1", "0.54.0-150400.3.19.1", "v1.4.3", "v1.25.9+rke2r1", "v2.7.5"),
        ProfileSpec("v1.3.1", "v1.3.1", "1.1.1-150500.8.15.1", "v1.6.2", "v1.27.13+rke2r1", "v2.8.3"),
        ProfileSpec("v1.4.3", "v1.4.3", "1.3.1-150600.5.9.1", "v1.7.3", "v1.31.7+rke2r1", "v2.10.1"),
        ProfileSpec("v1.5.0", "v1.5.0", "1.4.0-150600.5.15.1", "v1.8.1", "v1.32.3+rke2r1", "v2.11.0"),
        ProfileSpec("scale", "v1.4.3", "1.3.1-150600.5.9.1", "v1.7.3", "v1.31.7+rke2r1", "v2.10.1", nodes=10, vms=200),
    )
}
