"""Seed profiles: one healthy cluster per Harvester release, with that release's component
versions (facts.md §0.1, facts-releases.md R0.1), plus `scale` for the benchmarks."""

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
    # The release this cluster was upgraded from ("" = installed fresh). Some defaults differ
    # between the two: an upgrade from v1.7.x to v1.8 pins the old overcommit-config default into
    # its value (HV `package/upgrade/upgrade_manifests.sh` preserve_overcommit_config, R2.2).
    upgraded_from: str = ""
    # Whether kube-apiserver keeps its watch cache (its default, and every real cluster's). The
    # cache holds every object decoded: at 2,000 VMs, 72% of a 1.35 GB live heap and 3.8 GiB of
    # RSS, so the `scale` profile, which emulates a lab's size on one runner, does without it and
    # serves lists and watches from etcd (what a read costs is then etcd's, as the bench shows).
    watch_cache: bool = True

    def with_size(self, nodes: int | None = None, vms: int | None = None) -> ProfileSpec:
        return replace(self, nodes=nodes or self.nodes, vms=self.vms if vms is None else vms)

    @property
    def kubevirt_upstream(self) -> str:
        return "v" + self.kubevirt.split("-")[0]


def suse_repository(tag: str) -> str:
    """The SUSE registry path of a KubeVirt build tag: the SLE service pack is in the build number
    ("1.5.2-150700.3.5.2" -> registry.suse.com/suse/sles/15.7), as Harvester's chart names the
    images (HV values.yaml `kubevirt-operator` repositories: sles/15.6 @v1.5.0, sles/15.7 @v1.6.1 …
    v1.8.2); 15.5 for a tag without one."""
    build = tag.partition("-")[2]
    if len(build) >= 6 and build[:6].isdigit():
        return f"registry.suse.com/suse/sles/{int(build[:2])}.{int(build[3:4])}"
    return "registry.suse.com/suse/sles/15.5"


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
        ProfileSpec("v1.6.1", "v1.6.1", "1.5.2-150700.3.5.2", "v1.9.2", "v1.33.5+rke2r1", "v2.12.2"),
        ProfileSpec("v1.7.3", "v1.7.3", "1.6.6-150700.15.7.1", "v1.10.2", "v1.34.10+rke2r1", "v2.13.3"),
        # A fresh v1.8.2 install: overcommit-config keeps the v1.8 default (1000/150/100).
        ProfileSpec("v1.8.2", "v1.8.2", "1.7.4-150700.3.24.2", "v1.11.2", "v1.35.7+rke2r1", "v2.14.3"),
        ProfileSpec(
            "scale",
            "v1.4.3",
            "1.3.1-150600.5.9.1",
            "v1.7.3",
            "v1.31.7+rke2r1",
            "v2.10.1",
            nodes=10,
            vms=200,
            watch_cache=False,
        ),
    )
}
