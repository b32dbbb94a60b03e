"""The simulator's informer cache: label selectors as the apiserver evaluates them (equality-based
terms, apimachinery pkg/labels/selector.go), and the cache keeping the newest version of an
object whichever of a write's answer and its watch event arrives first."""

from __future__ import annotations

import json
import threading

import pytest

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.simulator import informers
from harvester_conformance.emulator.simulator.frozen import thaw
from harvester_conformance.emulator.simulator.informers import (
    CachedCluster,
    Informer,
    Reads,
    lingers,
    matches,
    parse_selector,
)
from harvester_conformance.waits import wait_for


def _obj(name: str, rv: int, ns: str = "default", **labels: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv), "labels": labels}}


@pytest.mark.parametrize(
    "selector,labels,selected",
    [
        ("kubevirt.io=virt-launcher", {"kubevirt.io": "virt-launcher"}, True),
        ("kubevirt.io==virt-launcher", {"kubevirt.io": "virt-launcher"}, True),
        ("kubevirt.io=virt-launcher", {"kubevirt.io": "virt-handler"}, False),
        ("app!=x", {}, True),
        ("app!=x", {"app": "x"}, False),
        ("harvesterhci.io/creator", {"harvesterhci.io/creator": ""}, True),
        ("harvesterhci.io/creator", {}, False),
        ("!harvesterhci.io/creator", {}, True),
        ("a=1, b=2", {"a": "1", "b": "2"}, True),
        ("a=1,b=2", {"a": "1"}, False),
        ("", {"a": "1"}, True),
    ],
)
def test_equality_selectors(selector: str, labels: dict, selected: bool) -> None:
    terms = parse_selector(selector)
    assert terms is not None
    assert matches({"metadata": {"labels": labels}}, terms) is selected


@pytest.mark.parametrize("selector", ["env in (a,b)", "env notin (a)", "!a=b"])
def test_set_based_selectors_go_to_the_apiserver(selector: str) -> None:
    assert parse_selector(selector) is None


def _informer() -> Informer:
    return Informer(None, R.PODS, threading.Event())  # type: ignore[arg-type] - no watch is started


def test_newest_version_wins_in_either_order() -> None:
    inf = _informer()
    inf.wrote(_obj("a", 7, phase="new"))
    inf._store(_obj("a", 5, phase="old"))  # the event of an earlier write, arriving late
    assert inf.get("default", "a")["metadata"]["labels"] == {"phase": "new"}
    inf._store(_obj("a", 9, phase="newer"))
    assert inf.get("default", "a")["metadata"]["labels"] == {"phase": "newer"}


def test_a_deleted_object_does_not_come_back_from_a_late_event() -> None:
    inf = _informer()
    inf.wrote(_obj("a", 7))
    inf.deleted("default", "a")
    inf._store(_obj("a", 6))
    assert inf.get("default", "a") is None
    inf._store(_obj("a", 11))  # terminating (finalizers) or created again: a later version
    assert inf.get("default", "a") is not None


def test_lists_share_read_only_objects_in_the_apiservers_order_and_gets_are_private() -> None:
    inf = _informer()
    for name, ns in (("b", "x"), ("a", "y"), ("a", "x")):
        inf.wrote(_obj(name, 1, ns))
    listed = inf.list(None, [])
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in listed] == [("x", "a"), ("x", "b"), ("y", "a")]
    with pytest.raises(TypeError, match="thaw"):
        listed[0]["metadata"]["labels"]["edited"] = "yes"
    with pytest.raises(TypeError, match="thaw"):
        listed[0]["metadata"].setdefault("finalizers", []).append("x")
    editable = thaw(listed[0])
    editable["metadata"]["labels"]["edited"] = "yes"
    got = inf.get("x", "a")
    assert got is not None
    got["metadata"]["labels"]["also"] = "yes"
    assert inf.list("x", [])[0]["metadata"]["labels"] == {}
    assert json.loads(json.dumps(listed[0])) == listed[0]  # still encodes and compares as plain JSON


def test_a_derived_value_is_computed_again_only_after_a_change() -> None:
    inf = _informer()
    cached = CachedCluster.__new__(CachedCluster)  # no connection: the informer is already there
    cached._informers, cached._start_lock = {R.PODS: inf}, threading.Lock()
    cached._derived, cached._derived_lock = {}, threading.Lock()
    computed = []

    def names() -> list[str]:
        computed.append(1)
        return sorted(k[1] for k in inf.objects)

    inf.wrote(_obj("a", 1))
    assert cached.derived("names", (R.PODS,), names) == ["a"]
    assert cached.derived("names", (R.PODS,), names) == ["a"] and len(computed) == 1
    inf.wrote(_obj("a", 1))  # an older or equal version changes nothing
    assert cached.derived("names", (R.PODS,), names) == ["a"] and len(computed) == 1
    inf.wrote(_obj("b", 2))
    assert cached.derived("names", (R.PODS,), names) == ["a", "b"] and len(computed) == 2
    inf.deleted("default", "a")
    assert cached.derived("names", (R.PODS,), names) == ["b"] and len(computed) == 3


@pytest.mark.parametrize(
    ("answer", "stays"),
    [
        ({"kind": "Status", "status": "Success"}, False),  # removed at once
        ({"kind": "VirtualMachine", "metadata": {"name": "a", "resourceVersion": "9"}}, False),  # as it was
        (  # held by a finalizer
            {"metadata": {"name": "a", "resourceVersion": "9", "deletionTimestamp": "t", "finalizers": ["f"]}},
            True,
        ),
        (  # a pod in its grace period
            {"metadata": {"resourceVersion": "9", "deletionTimestamp": "t", "deletionGracePeriodSeconds": 9}},
            True,
        ),
        ({"metadata": {"name": "a", "resourceVersion": "9", "deletionTimestamp": "t", "finalizers": []}}, False),
        (None, False),
    ],
)
def test_a_delete_answer_says_whether_the_object_is_still_stored(answer: object, stays: bool) -> None:
    """A DELETE held by a finalizer or a grace period leaves the object stored (the cache keeps it,
    terminating); any other answer means it is gone."""
    assert lingers(answer) is stays


def test_a_reconcile_is_skipped_only_while_nothing_it_read_changed() -> None:
    """`recording` notes each type's change count as first read; `unchanged` holds until an object
    of one of them changes (an event or the reconcile's own write), and never after a read the
    cache could not answer."""
    pods, nodes = _informer(), _informer()
    cached = CachedCluster.__new__(CachedCluster)
    cached._informers, cached._start_lock = {R.PODS: pods, R.NODES: nodes}, threading.Lock()
    pods.wrote(_obj("a", 1))
    with cached.recording() as reads:
        cached.list(R.PODS)
        cached.get(R.NODES, "n1")
    assert cached.unchanged(reads)
    pods.wrote(_obj("a", 1))  # the same version again: no change
    assert cached.unchanged(reads)
    nodes.wrote({"metadata": {"name": "n1", "resourceVersion": "2"}})
    assert not cached.unchanged(reads)
    with cached.recording() as again:
        cached.list(R.PODS)
        cached.get(R.NODES, "n1")
    pods.deleted("default", "a")
    assert not cached.unchanged(again)
    blind = Reads()
    blind.blind = True  # a read that went to the apiserver, or a failed call
    assert not cached.unchanged(blind)


def test_a_type_not_listable_yet_is_cached_once_it_is(cl, emulated, monkeypatch) -> None:
    """A type the simulator may not list cluster-wide while the cluster seeds (its role granted
    later) is read from the apiserver meanwhile and cached once it can be listed, as a reflector
    retries a failed list: read directly for good, every reconcile reading it would run blind."""
    monkeypatch.setattr(informers, "START_RETRY_SECONDS", 0.2)
    user, ns, res = "informer-retry-test", "longhorn-system", R.LONGHORN_SETTINGS
    rule = {"apiGroups": ["longhorn.io"], "resources": ["settings"], "verbs": ["get", "list", "watch"]}
    subject = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    direct = Cluster.from_kubeconfig(str(emulated("v1.3.1").kubeconfig))
    direct.api.set_default_header("Impersonate-User", user)
    stop = threading.Event()
    cached = CachedCluster(direct, stop)
    granted: list[tuple[R.Resource, str, str | None]] = []
    try:
        cl.create(R.ROLES, {"metadata": {"name": user, "namespace": ns}, "rules": [rule]}, ns)
        granted.append((R.ROLES, user, ns))
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user}
        cl.create(
            R.ROLE_BINDINGS, {"metadata": {"name": user, "namespace": ns}, "roleRef": ref, "subjects": subject}, ns
        )
        granted.append((R.ROLE_BINDINGS, user, ns))
        wait_for("rbac-granted", lambda: readable(cached, res, ns))
        assert cached._informers[res] is None  # listed in its namespace only, from the apiserver

        cl.create(R.CLUSTER_ROLES, {"metadata": {"name": user}, "rules": [rule]})
        granted.append((R.CLUSTER_ROLES, user, None))
        ref = {**ref, "kind": "ClusterRole"}
        cl.create(R.CLUSTER_ROLE_BINDINGS, {"metadata": {"name": user}, "roleRef": ref, "subjects": subject})
        granted.append((R.CLUSTER_ROLE_BINDINGS, user, None))

        def cached_now() -> bool:
            cached.list(res, ns)
            return cached._informers[res] is not None

        wait_for("informer-started", cached_now)
        with cached.recording() as reads:
            assert cached.list(res, ns)
        assert not reads.blind
    finally:
        stop.set()
        for kind, name, where in reversed(granted):
            cl.delete(kind, name, where)
        direct.close()


def readable(cached: CachedCluster, res: R.Resource, ns: str) -> bool:
    try:
        return bool(cached.list(res, ns))
    except ApiError as exc:
        if exc.forbidden:  # the binding has not reached the apiserver's authorizer yet
            return False
        raise


def test_a_closed_reader_leaves_no_watch_open(emulated) -> None:
    """`cluster up` reads its readiness through informers and closes them once settled: a watch
    left open would hold the apiserver a minute when the cluster is stopped."""
    direct = Cluster.from_kubeconfig(str(emulated("v1.3.1").kubeconfig))
    cached = CachedCluster(direct, threading.Event())
    try:
        assert cached.list(R.NODES)
        watching = [t for t in threading.enumerate() if t.name == f"informer-{R.NODES.key}"]
        assert watching
        wait_for("informer-started", lambda: cached._informers[R.NODES].stream is not None)
        cached.close()
        wait_for("watch-closed", lambda: not any(t.is_alive() for t in watching))
    finally:
        direct.close()


def test_an_aggregated_api_is_read_from_the_apiserver_not_watched() -> None:
    """metrics.k8s.io answers a watch with a list, not events: an informer on it would re-request
    it in a loop and never see a change. Its reads go to the apiserver and count as blind."""
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = "https://127.0.0.1:9"  # nothing is requested
    cached = CachedCluster(Cluster(cfg), threading.Event())
    assert cached._informer(R.NODE_METRICS) is None
    with cached.recording() as reads:
        cached._note(R.NODE_METRICS, cached._informer(R.NODE_METRICS))
    assert reads.blind


def test_drift_names_what_the_cache_missed_and_leaves_what_is_in_flight() -> None:
    """The diagnosis's comparison: an object the watch went past but the cache lacks or holds
    older, and one kept after a deletion the watch went past, are drift; anything newer than the
    watch's position is in flight."""
    listed = {("default", "a"): 5, ("default", "b"): 8, ("default", "new"): 12}
    cached = {("default", "a"): 5, ("default", "b"): 6, ("default", "gone"): 3, ("default", "late"): 11}
    assert informers.drift(10, cached, 12, listed) == [
        "stale default/b (cached 6, current 8)",
    ]
    assert informers.drift(12, cached, 12, listed) == [
        "stale default/b (cached 6, current 8)",
        "missing default/new (resourceVersion 12)",
        "kept default/gone (resourceVersion 3), deleted since",
        "kept default/late (resourceVersion 11), deleted since",
    ]
    assert informers.drift(12, dict(listed), 12, listed) == []


def test_a_cache_that_lost_an_object_is_found_against_the_apiserver(emulated) -> None:
    """On a live watch: an object dropped from the cache (as a lost event would) is named, and a
    cache that agrees has nothing to say."""
    direct = Cluster.from_kubeconfig(str(emulated("v1.3.1").kubeconfig))
    cached = CachedCluster(direct, threading.Event())
    try:
        items, version = direct.list_at(R.NODES, None, None)
        assert cached.list(R.NODES)  # listed after that list: it holds at least what the list does
        inf = cached._informers[R.NODES]
        assert inf.compare(items, version)[2] == []
        victim = items[0]["metadata"]["name"]
        with inf.lock:
            inf.objects.pop(("", victim))
        found = inf.compare(items, version)[2]
        assert [line for line in found if line.startswith(f"missing {victim} ")], found
    finally:
        cached.close()
        direct.close()
