"""What OFF-01 reads on each host, through the node probe: one `collect` per node selected by a
CloudInit that turns offloads off, for /proc/stat and `ethtool -k` of the NICs it names."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import cloud_init_files as cif
from harvester_conformance.checks import nic_offloads as off
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.probes import NodeProbe, ProbeUnavailable
from harvester_conformance.probes.base import HostRead
from harvester_conformance.probes.survey import Survey, survey


def node_labels(hc: RunContext) -> dict[str, dict[str, str]]:
    return {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in hc.snapshot.list(R.NODES)}


@pytest.fixture(scope="session")
def offload_hosts(hc: RunContext, node_probe: NodeProbe) -> Survey[HostRead]:
    wanted = off.nics_to_read(hc.snapshot.list(R.CLOUD_INITS), node_labels(hc))
    try:
        return survey(
            node_probe, sorted(wanted), lambda p, node: p.collect(node, files=[cif.PROC_STAT], offloads=wanted[node])
        )
    except ProbeUnavailable as exc:
        pytest.skip(f"no node probe: {exc.reason}")
