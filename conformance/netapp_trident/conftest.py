"""What NTA-03 reads on each host, through the node probe: two `collect` calls per node (the
second asks for what the first listed: the /oem files, the multipath conf.d files, and the
attributes of the block devices /sys/block shows)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import netapp_trident as nt
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.probes import NodeProbe, ProbeUnavailable
from harvester_conformance.probes.base import HostRead
from harvester_conformance.probes.survey import Survey, survey

OEM = "/oem"
SYS_BLOCK = "/sys/block"


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace").strip()


def gather_multipath(probe: NodeProbe, node: str) -> nt.MultipathHost:
    """One host's multipathd facts. Only /oem's *.yaml and *.yml files are read (what elemental
    applies; /oem/harvester.config is never read)."""
    first = probe.collect(
        node, files=[nt.MULTIPATH_CONF], dirs=[OEM, nt.MULTIPATH_CONF_DIR, SYS_BLOCK], units=[nt.MULTIPATHD]
    )
    oem = [f"{OEM}/{n}" for n in first.dirs[OEM] or () if n.endswith((".yaml", ".yml"))]
    confd = [f"{nt.MULTIPATH_CONF_DIR}/{n}" for n in first.dirs[nt.MULTIPATH_CONF_DIR] or () if n.endswith(".conf")]
    block = first.dirs[SYS_BLOCK] or ()
    maps = [b for b in block if b.startswith("dm-")]
    disks = [b for b in block if b.startswith("sd")]
    files = [
        *oem,
        *confd,
        *(f"{SYS_BLOCK}/{d}/dm/{a}" for d in maps for a in ("uuid", "name")),
        *(f"{SYS_BLOCK}/{s}/device/{a}" for s in disks for a in ("vendor", "model")),
    ]
    slaves = [f"{SYS_BLOCK}/{d}/slaves" for d in maps]
    second = probe.collect(node, files=files, dirs=slaves) if files or slaves else HostRead()
    got = second.files
    return nt.MultipathHost(
        node=node,
        unit=first.units[nt.MULTIPATHD],
        oem={p: got[p] for p in oem},
        config={nt.MULTIPATH_CONF: first.files[nt.MULTIPATH_CONF], **{p: got[p] for p in confd}},
        maps=tuple(
            nt.MultipathMap(
                d, _text(got[f"{SYS_BLOCK}/{d}/dm/name"]) or d, second.dirs[f"{SYS_BLOCK}/{d}/slaves"] or ()
            )
            for d in maps
            if _text(got[f"{SYS_BLOCK}/{d}/dm/uuid"]).startswith("mpath-")
        ),
        disks=tuple(
            nt.ScsiDisk(s, _text(got[f"{SYS_BLOCK}/{s}/device/vendor"]), _text(got[f"{SYS_BLOCK}/{s}/device/model"]))
            for s in disks
        ),
    )


@pytest.fixture(scope="session")
def multipath_hosts(hc: RunContext, node_probe: NodeProbe) -> Survey[nt.MultipathHost]:
    nodes = sorted(n["metadata"]["name"] for n in hc.snapshot.list(R.NODES))
    try:
        return survey(node_probe, nodes, gather_multipath)
    except ProbeUnavailable as exc:
        pytest.skip(f"no node probe: {exc.reason}")
