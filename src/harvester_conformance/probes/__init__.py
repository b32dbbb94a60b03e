"""Node probes: how `node` checks read host files (kernel command line, GRUB, certificates...).

Three backends behind one interface (`NodeProbe.read(node, paths)`, and `collect(node, files,
dirs, units)` for directory listings and systemd unit states in the same call): a privileged pod
per call, SSH, or the emulated cluster's simulated hosts. `make_probe` builds the one the options chose;
`parsers` turns the bytes into data. ProbeUnavailable means SKIP with its reason; ProbeError
means the check is broken.
"""

from __future__ import annotations

from harvester_conformance.cluster.client import Cluster
from harvester_conformance.probes.base import NodeProbe, ProbeError, ProbeUnavailable
from harvester_conformance.probes.options import ProbeSettings, add_options, settings_from

__all__ = [
    "NodeProbe",
    "ProbeError",
    "ProbeSettings",
    "ProbeUnavailable",
    "add_options",
    "make_probe",
    "settings_from",
]


def make_probe(settings: ProbeSettings, *, cluster: Cluster | None, namespace: str | None, run_id: str) -> NodeProbe:
    """The probe the settings name. The pod backend needs the cluster and the run's own
    namespace (created by the caller, privileged pods admitted); the others ignore them."""
    if settings.backend == "simulated":
        from harvester_conformance.probes.simulated import SimulatedProbe

        assert settings.hosts_dir is not None  # ProbeSettings validated it
        return SimulatedProbe(settings.hosts_dir)
    if settings.backend == "ssh":
        from harvester_conformance.probes.ssh import SshProbe

        assert settings.ssh_key is not None  # ProbeSettings validated it
        return SshProbe(
            settings.host_map,
            user=settings.ssh_user,
            key_file=settings.ssh_key,
            known_hosts=settings.ssh_known_hosts,
            insecure=settings.ssh_insecure,
            sudo=settings.ssh_sudo,
        )
    from harvester_conformance.probes.pod import PodProbe

    if cluster is None or not namespace:
        raise ValueError("the pod probe needs the cluster and the run's namespace")
    return PodProbe(cluster, namespace, run_id, settings.image)
