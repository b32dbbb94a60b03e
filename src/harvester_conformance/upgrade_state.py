"""The state an upgrade must preserve, read from a cluster (checks/upgrade_regression.py compares
two of them).

Two readers share one recipe: `harvester-conformance snapshot FILE` reads the cluster itself (the
same sanitized lists a run takes, and the hosts' NICs through the node probe when one can be
had), and a run given `--baseline BEFORE` builds the after-state from its own snapshot and host
files, so that the regression invariants (IPP-06, NIC-02, UPG-08) are judged in the run's report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from harvester_conformance.changes import Changes
from harvester_conformance.checks import nic_naming as nic
from harvester_conformance.checks import upgrade_regression as ur
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.cluster.reads import CORE, Read
from harvester_conformance.cluster.snapshot import Snapshot
from harvester_conformance.cluster.versions import detect

READS: tuple[Read, ...] = (
    *CORE,
    Read(R.VMS),
    Read(R.LOADBALANCERS),
    Read(R.IPPOOLS),
    Read(R.VLAN_CONFIGS),
    Read(R.VLAN_STATUSES),
    Read(R.CLUSTER_NETWORKS),
    Read(R.NODE_NETWORKS),
)
PRIVILEGED = {"pod-security.kubernetes.io/enforce": "privileged"}


class BadBaseline(ValueError):
    """--baseline names no readable state document: a usage error."""


def nic_uses(snap: Snapshot) -> list[nic.NicUse]:
    """Every network object naming NICs, with the nodes it applies to."""
    nodes = snap.list(R.NODES)
    return [
        *nic.vlan_config_uses(snap.list(R.VLAN_CONFIGS), snap.list(R.VLAN_STATUSES), nodes),
        *nic.legacy_uses(snap.list(R.CLUSTER_NETWORKS), snap.list(R.NODE_NETWORKS), nodes),
    ]


def baseline_nics(baseline: Mapping | None) -> list[str]:
    """The NIC names the networks named in a baseline: read on the hosts after, as well."""
    networks = (baseline or {}).get("networks") or {}
    return sorted({name for use in networks.values() for name in use.get("nics", [])})


def host_paths(uses: Iterable[nic.NicUse], also: Iterable[str] = ()) -> list[str]:
    names = set(nic.referenced_nics(uses)) | set(also)
    return [nic.ifindex_path(n) for n in sorted(names) if nic.valid_name(n)]


def present_nics(paths: Iterable[str], files: Mapping[str, Mapping[str, bytes | None]]) -> dict[str, list[str]]:
    """node -> the NICs among `paths` that exist there, for the nodes that were read."""
    out = {}
    for node, read in files.items():
        out[node] = sorted(p.split("/")[4] for p in paths if read.get(p) is not None)
    return out


def of_snapshot(
    snap: Snapshot,
    versions: Mapping[str, str | None],
    host_files: Mapping[str, Mapping[str, bytes | None]] | None = None,
    also_nics: Iterable[str] = (),
) -> dict:
    """The state document of what `snap` holds; `host_files`, when the hosts were read, gives each
    node's NICs among those the networks name (and `also_nics`, a baseline's)."""
    uses = nic_uses(snap)
    present = None
    if host_files is not None:
        present = present_nics(host_paths(uses, also_nics), host_files)
    return ur.record(
        taken_at=snap.captured_at.isoformat(),
        versions=versions,
        vms=snap.list(R.VMS),
        load_balancers=snap.list(R.LOADBALANCERS),
        ip_pools=snap.list(R.IPPOOLS),
        settings=snap.list(R.HARVESTER_SETTINGS),
        nic_uses=uses,
        host_nics=present,
    )


def read_baseline(path: str | Path) -> dict:
    """A state document from disk; BadBaseline says in one line why it cannot be used."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise BadBaseline(f"cannot read the baseline {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise BadBaseline(f"the baseline {path} is not JSON: {exc}") from None
    try:
        return ur.load(doc)
    except ur.NotAState as exc:
        raise BadBaseline(f"{path}: {exc}") from None


def write(doc: Mapping, path: str | Path) -> None:
    """Owner-only: sanitized, but still the cluster's inventory (as snapshot.json)."""
    target = Path(path)
    target.touch(mode=0o600)
    target.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def take(
    cluster: Cluster,
    probe_factory: Callable[[Cluster, str | None], object] | None,
    pod_probe: bool,
    run_id: str,
    progress: Callable[[str], None] = lambda _m: None,
) -> tuple[dict, str, list[str]]:
    """Read the cluster's state: (document, how the hosts were read or why not, cleanup steps that
    failed). The probe, when `probe_factory` gives one, reads each node's NICs; a pod probe's
    namespace is removed afterwards."""
    from harvester_conformance.hosts import read_nodes
    from harvester_conformance.probes import ProbeUnavailable

    snap = Snapshot.take(cluster, READS, progress)
    versions = detect(snap, cluster.version(timeout=5, attempts=2).get("gitVersion"))
    if probe_factory is None:
        return of_snapshot(snap, versions), "hosts not probed", []
    paths = host_paths(nic_uses(snap))
    nodes = sorted(n["metadata"]["name"] for n in snap.list(R.NODES))
    collector = Changes(cluster, run_id, "snapshot node probe")
    read = None
    try:
        namespace = collector.namespace(labels=PRIVILEGED) if pod_probe else None
        probe = probe_factory(cluster, namespace)
        try:
            read = read_nodes(probe, nodes, paths)  # type: ignore[arg-type]
        finally:
            probe.close()  # type: ignore[attr-defined]
    except ProbeUnavailable as exc:
        note = f"hosts not probed: {exc.reason}"
    finally:
        failed = [f"{f.step}: {f.error}" for f in collector.undo()]
    if read is None:
        return of_snapshot(snap, versions), note, failed
    note = f"hosts read through the {read.backend} probe: {len(read.files)} of {len(read.nodes)} node(s)"
    if read.errors:
        note += "; not read: " + "; ".join(f"{n}: {why}" for n, why in sorted(read.errors.items()))
    return of_snapshot(snap, versions, read.readable()), note, failed
