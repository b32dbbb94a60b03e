"""The emulator's fault registry: every fault declares the objects it breaks, spelled as the
suite's findings spell objects, and those objects are real: a healthy emulated cluster has each
of them, except the ones the fault declares it creates (which it must not have).

The declarations are what a conformance check is held to when the fault is injected, so a name
that no cluster has would make such a test fail for the wrong reason."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import FAULTS
from harvester_conformance.emulator.faults import Fault

PROFILE = "v1.3.1"
# "Kind namespace/name" or "Kind name" (cluster-scoped); names as Kubernetes allows them.
OBJECT = re.compile(
    r"^(?P<kind>[A-Z][A-Za-z]+) (?:(?P<ns>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)/)?(?P<name>[a-z0-9][a-z0-9.-]*)$"
)
IDS = sorted(FAULTS)


def _resources() -> dict[str, list[R.Resource]]:
    """Every resource type of the suite, by kind (a kind may have several: Node, Setting, Cluster)."""
    by_kind: dict[str, list[R.Resource]] = {}
    for value in vars(R).values():
        if isinstance(value, R.Resource):
            by_kind.setdefault(value.kind, []).append(value)
    return by_kind


KINDS = _resources()


def candidates(obj: str) -> tuple[list[R.Resource], str | None, str]:
    """The resource types `obj` may be (same kind and scope), its namespace and its name."""
    m = OBJECT.match(obj)
    assert m, f"{obj!r} is not 'Kind namespace/name' or 'Kind name'"
    ns = m["ns"]
    types = [r for r in KINDS.get(m["kind"], []) if r.namespaced == (ns is not None)]
    return types, ns, m["name"]


def declared(release: str = "") -> Iterator[tuple[str, str]]:
    """(fault, object) for every fault, or for those that apply to `release`."""
    for fid in IDS:
        if release and not FAULTS[fid].applies_to(release):
            continue
        for obj in FAULTS[fid].objects:
            yield fid, obj


@pytest.mark.parametrize("fid", IDS)
def test_fault_declares_well_formed_objects(fid: str) -> None:
    fault: Fault = FAULTS[fid]
    assert fault.objects, f"{fid} declares no object"
    assert len(set(fault.objects)) == len(fault.objects), fault.objects
    assert set(fault.creates) <= set(fault.objects), "what a fault creates is among the objects it declares"
    for obj in fault.objects:
        types, _, _ = candidates(obj)
        assert types, f"{fid}: {obj!r} names no resource type of cluster.resources in that scope"


@pytest.fixture(scope="module")
def healthy(emulated) -> Iterator[Cluster]:
    """A client of the v1.3.1 emulated cluster, every fault reverted (each test that injects one does)."""
    c = Cluster.from_kubeconfig(str(emulated(PROFILE).kubeconfig))
    yield c
    c.close()


def _exists(cl: Cluster, obj: str) -> bool:
    types, ns, name = candidates(obj)
    return any(cl.get(res, name, ns) is not None for res in types)


def test_declared_objects_exist_on_a_healthy_cluster(healthy: Cluster) -> None:
    """On the v1.3.1 cluster, for the faults that apply to it (the release-profile proofs hold the
    others to their objects)."""
    kept = [
        (fid, obj) for fid, obj in declared() if obj not in FAULTS[fid].creates and FAULTS[fid].applies_to("v1.3.1")
    ]
    assert [f"{fid}: {obj}" for fid, obj in kept if not _exists(healthy, obj)] == []


def test_objects_a_fault_creates_are_absent_from_a_healthy_cluster(healthy: Cluster) -> None:
    made = [(fid, obj) for fid, obj in declared("v1.3.1") if obj in FAULTS[fid].creates]
    assert [f"{fid}: {obj}" for fid, obj in made if _exists(healthy, obj)] == []
