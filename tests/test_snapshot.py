"""The run's snapshot without a cluster: declared reads only, namespace shares of wide lists,
indexes, unavailable lists as broken, and the file round trip."""

from __future__ import annotations

import datetime as dt

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster, ClusterUnreachable
from harvester_conformance.cluster.reads import Read, union
from harvester_conformance.cluster.snapshot import MissingPermission, Snapshot, UndeclaredRead
from harvester_conformance.verdict import Broken

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _pod(ns: str, name: str, node: str, owner: str, app: str) -> dict:
    meta = {"namespace": ns, "name": name, "labels": {"app": app}, "ownerReferences": [{"uid": owner}]}
    return {"metadata": meta, "spec": {"nodeName": node}}


PODS = [_pod("a", "p1", "n1", "u1", "x"), _pod("b", "p2", "n1", "u2", "y"), _pod("b", "p3", "n2", "u1", "x")]


def _snap() -> Snapshot:
    return Snapshot(
        {
            Read(R.PODS).key: PODS,
            Read(R.SECRETS, "harvester-system").key: [],
            Read(R.CONFIGMAPS, "kube-system").key: "forbidden",
            Read(R.NODES).key: "GET /api/v1/nodes: HTTP 500 Internal Server Error",
        },
        NOW,
    )


def test_undeclared_reads_raise_instead_of_fetching() -> None:
    snap = _snap()
    with pytest.raises(UndeclaredRead, match="services"):
        snap.list(R.SERVICES)
    with pytest.raises(UndeclaredRead, match="in default"):
        snap.list(R.SECRETS, "default")  # declared in one namespace only
    with pytest.raises(UndeclaredRead):
        snap.list(R.PODS, cluster="rancher")


def test_a_namespace_is_served_from_the_every_namespace_list() -> None:
    snap = _snap()
    assert [p["metadata"]["name"] for p in snap.list(R.PODS, "b")] == ["p2", "p3"]
    assert snap.get(R.PODS, "p1", "a") is PODS[0]
    assert snap.get(R.PODS, "p1", "b") is None


def test_indexes() -> None:
    snap = _snap()
    assert [p["metadata"]["name"] for p in snap.by_owner(R.PODS, "u1")] == ["p1", "p3"]
    assert [p["metadata"]["name"] for p in snap.by_node(R.PODS, "n1")] == ["p1", "p2"]
    assert [p["metadata"]["name"] for p in snap.by_label(R.PODS, "app", "x")] == ["p1", "p3"]
    assert len(snap.by_label(R.PODS, "app")) == 3
    assert snap.by_node(R.PODS, "n9") == []


def test_unavailable_lists_are_broken_not_empty() -> None:
    snap = _snap()
    with pytest.raises(MissingPermission, match="list configmaps in namespace kube-system"):
        snap.list(R.CONFIGMAPS, "kube-system")
    with pytest.raises(Broken, match="HTTP 500"):
        snap.list(R.NODES)


def test_file_round_trip_keeps_the_capture_time(tmp_path) -> None:
    path = tmp_path / "snapshot.json"
    _snap().dump(path)
    assert path.stat().st_mode & 0o077 == 0
    loaded = Snapshot.load(path)
    assert loaded.captured_at == NOW
    assert loaded.list(R.PODS, "a") == [PODS[0]]


def test_union_lists_each_type_once() -> None:
    reads = [Read(R.SECRETS, "a"), Read(R.SECRETS), Read(R.SECRETS, "b"), Read(R.PODS, "x"), Read(R.PODS, "x")]
    assert [r.key for r in union(reads)] == ["harvester:pods@x", "harvester:secrets@*"]


def test_a_cluster_scoped_read_has_no_namespace() -> None:
    with pytest.raises(ValueError, match="cluster-scoped"):
        Read(R.NODES, "default")


class _GoneCluster(Cluster):
    """A cluster that answered /version and then went away (its lists fail as the client's do)."""

    def __init__(self) -> None:  # no connection: list_at is all Snapshot.take calls
        pass

    def list_at(self, res, namespace, at):  # noqa: ANN001, ANN201 - the client's signature
        raise ClusterUnreachable("https://127.0.0.1:6443: MaxRetryError: timed out")


def test_a_cluster_gone_mid_snapshot_breaks_its_readers_instead_of_the_run() -> None:
    snap = Snapshot.take(_GoneCluster(), [Read(R.NODES)])
    with pytest.raises(Broken, match="could not list nodes: cluster unreachable: .*timed out"):
        snap.list(R.NODES)
