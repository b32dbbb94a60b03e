"""What CSI-05 reads on each host, through the node probe: one `collect` call per node shows
whether the host runs Rook (Rook's data directory, the kubelet's CSI plugin directories), the
loaded modules and the mounts; a second, on a Rook host only, reads its /oem files (and the
kernel's modules.builtin when rbd or nbd is not loaded)."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import rook_ceph as rc
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.probes import NodeProbe, ProbeError, ProbeUnavailable
from harvester_conformance.probes.parsers import module_loaded, parse_mountinfo, parse_proc_modules
from harvester_conformance.probes.survey import Survey, survey

OEM = "/oem"
MODULES = "/proc/modules"
# The host's own mount table: PID 1's (the pod backend's shell runs in the container's mount
# namespace, so /proc/self would show the container's mounts, not the host's).
MOUNTINFO = "/proc/1/mountinfo"
OSRELEASE = "/proc/sys/kernel/osrelease"


def gather_rook(probe: NodeProbe, node: str) -> rc.RookHost | None:
    """One host's Rook facts, or None when the host does not run Rook. Only /oem's *.yaml and
    *.yml files are read (what elemental applies; /oem/harvester.config is never read)."""
    first = probe.collect(node, files=[MODULES, MOUNTINFO, OSRELEASE], dirs=[OEM, rc.ROOK_DATA_DIR, rc.KUBELET_PLUGINS])
    evidence = rc.rook_evidence(first.dirs[rc.ROOK_DATA_DIR], first.dirs[rc.KUBELET_PLUGINS])
    if not evidence:
        return None
    if first.files[MOUNTINFO] is None:
        raise ProbeError(f"{node}: {MOUNTINFO} is missing: the host's mounts cannot be seen")
    modules = tuple(parse_proc_modules(first.files[MODULES] or b""))
    mounts = tuple(parse_mountinfo(first.files[MOUNTINFO]))
    oem = [f"{OEM}/{n}" for n in first.dirs[OEM] or () if n.endswith((".yaml", ".yml"))]
    release = (first.files[OSRELEASE] or b"").decode(errors="replace").strip()
    builtin = f"/lib/modules/{release}/modules.builtin" if release and "/" not in release else None
    need_builtin = builtin and not all(module_loaded(list(modules), m) for m in rc.ROOK_MODULES)
    wanted = [*oem, *([builtin] if need_builtin and builtin else [])]
    got = probe.collect(node, files=wanted).files if wanted else {}
    return rc.RookHost(
        node=node,
        evidence=tuple(evidence),
        modules=modules,
        builtin=rc.builtin_modules(got.get(builtin)) if need_builtin and builtin else (),
        mounts=mounts,
        oem={p: got[p] for p in oem},
    )


@pytest.fixture(scope="session")
def rook_hosts(hc: RunContext, node_probe: NodeProbe) -> Survey[rc.RookHost | None]:
    nodes = sorted(n["metadata"]["name"] for n in hc.snapshot.list(R.NODES))
    try:
        return survey(node_probe, nodes, gather_rook)
    except ProbeUnavailable as exc:
        pytest.skip(f"no node probe: {exc.reason}")
