"""The run's snapshot is one moment of the cluster: every stored type is read at the resourceVersion
of the first list, over every page, so that a write landing between two lists shows in neither or,
for a later snapshot, in both (a torn read made VAT-01 report a VolumeAttachment whose detach was in
flight). Against the emulated cluster's real kube-apiserver; the compaction fallback without one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harvester_conformance.cluster import client as client_module
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.cluster.reads import Read
from harvester_conformance.cluster.snapshot import Snapshot
from harvester_conformance.waits import wait_for

NS = "hc-snapshot-versions"


def _object(kind: str, name: str) -> dict:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": NS}}


@pytest.fixture
def namespace(cl: Cluster) -> Iterator[str]:
    cl.apply(R.NAMESPACES, {"metadata": {"name": NS}}, manager="test")
    yield NS
    cl.delete(R.NAMESPACES, NS)
    wait_for("namespace-deleted", lambda: cl.get(R.NAMESPACES, NS) is None)


def test_a_write_between_two_lists_is_in_neither(cl: Cluster, namespace: str, monkeypatch) -> None:
    monkeypatch.setattr(client_module, "PAGE_SIZE", 2)  # the pinned version holds across pages too
    for i in range(5):
        cl.create(R.SECRETS, _object("Secret", f"before-{i}"), NS)
    writes = []

    def write_after_first_list(msg: str) -> None:
        if not writes:  # configmaps are listed first (reads are taken in key order)
            writes.append(cl.create(R.SECRETS, _object("Secret", "after"), NS))
            writes.append(cl.create(R.CONFIGMAPS, _object("ConfigMap", "after"), NS))

    reads = [Read(R.CONFIGMAPS, NS), Read(R.SECRETS, NS)]
    snap = Snapshot.take(cl, reads, write_after_first_list)
    secrets = sorted(s["metadata"]["name"] for s in snap.list(R.SECRETS, NS))
    assert len(writes) == 2 and cl.get(R.SECRETS, "after", NS) is not None
    assert secrets == [f"before-{i}" for i in range(5)], secrets
    assert snap.get(R.CONFIGMAPS, "after", NS) is None

    later = Snapshot.take(cl, reads)
    assert later.get(R.SECRETS, "after", NS) is not None and later.get(R.CONFIGMAPS, "after", NS) is not None


class _CompactingCluster(Cluster):
    """A cluster whose etcd compacted the first list's version before the second list (410)."""

    def __init__(self) -> None:  # no connection: list_at is all Snapshot.take calls
        self.calls: list[tuple[str, str | None]] = []

    def list_at(self, res, namespace, at):  # noqa: ANN001, ANN201 - the client's signature
        self.calls.append((res.key, at))
        if at == "100":
            raise ApiError(410, "Gone", "GET", res.path(namespace), "too old resource version: 100 (300)")
        return [{"metadata": {"name": f"{res.plural}-at-{at}"}}], "100" if not self.calls[1:] else "300"


def test_a_compacted_version_moves_the_rest_to_a_new_one() -> None:
    fake, said = _CompactingCluster(), []
    snap = Snapshot.take(fake, [Read(R.CONFIGMAPS), Read(R.NODES), Read(R.PODS), Read(R.NODE_METRICS)], said.append)
    assert fake.calls == [
        ("configmaps", None),
        ("nodes.metrics.k8s.io", None),  # an aggregated API is read as it is now, never pinned
        ("nodes", "100"),
        ("nodes", None),
        ("pods", "300"),
    ]
    assert "resourceVersion 100 compacted; reading on at the current one" in said
    assert [n["metadata"]["name"] for n in snap.list(R.PODS)] == ["pods-at-300"]
