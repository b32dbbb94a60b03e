"""The collector of changes against a real apiserver: the run's namespace, save-and-restore in one
write, reverse-order undo that waits, and failures recorded instead of raised."""

from __future__ import annotations

import json

import pytest

from harvester_conformance.changes import RUN_LABEL, SAVED_ANNOTATION, SAVED_LABEL, Changes
from harvester_conformance.cluster import resources as R

NS = "harvester-system"


def test_namespace_is_labelled_and_removed(cl) -> None:
    changes = Changes(cl, "hc-test-ns", "test")
    ns = changes.namespace()
    assert changes.namespace() == ns  # one per collector
    created = cl.get(R.NAMESPACES, ns)
    assert created["metadata"]["labels"][RUN_LABEL] == "hc-test-ns"
    cm = changes.create(R.CONFIGMAPS, {"metadata": {"name": "probe"}, "data": {"a": "b"}})
    assert cm["metadata"]["namespace"] == ns and cm["metadata"]["labels"][RUN_LABEL] == "hc-test-ns"
    assert changes.undo() == []
    assert cl.get(R.NAMESPACES, ns) is None


def test_saved_field_is_restored_in_one_write(cl) -> None:
    before = cl.get(R.KUBEVIRTS, "kubevirt", NS)
    changes = Changes(cl, "hc-test-save", "test")
    present, value = changes.save(R.KUBEVIRTS, "kubevirt", NS, ("spec", "configuration", "developerConfiguration"))
    saved = cl.get(R.KUBEVIRTS, "kubevirt", NS)
    record = json.loads(saved["metadata"]["annotations"][SAVED_ANNOTATION])
    assert record["run"] == "hc-test-save" and saved["metadata"]["labels"][SAVED_LABEL] == "hc-test-save"
    assert record["fields"]["/spec/configuration/developerConfiguration"] == {"present": present, "value": value}
    cl.patch(
        R.KUBEVIRTS,
        "kubevirt",
        {"spec": {"configuration": {"developerConfiguration": {"pvcTolerateLessSpaceUpToPercent": 7}}}},
        NS,
    )
    rv = int(cl.get(R.KUBEVIRTS, "kubevirt", NS)["metadata"]["resourceVersion"])
    assert changes.undo() == []
    after = cl.get(R.KUBEVIRTS, "kubevirt", NS)
    assert after["spec"] == before["spec"]
    assert SAVED_ANNOTATION not in (after["metadata"].get("annotations") or {})
    assert SAVED_LABEL not in (after["metadata"].get("labels") or {})
    # The restore of field, annotation and label is one write (the simulator may write status after).
    assert int(after["metadata"]["resourceVersion"]) > rv


def test_undo_runs_last_first_and_records_failures(cl, monkeypatch) -> None:
    monkeypatch.setenv("HC_TIMEOUT_SCALE", "0.1")
    order: list[str] = []
    changes = Changes(cl, "hc-test-order", "test")
    changes.defer("first", lambda: order.append("first"))
    changes.defer("broken", lambda: (_ for _ in ()).throw(RuntimeError("cannot")))
    changes.defer("never settles", lambda: order.append("third"), settled=lambda: False, timeout="process-exit")
    failures = changes.undo()
    assert order == ["third", "first"]
    assert [f.step for f in failures] == ["never settles", "broken"]
    assert "timed out" in failures[0].error and "RuntimeError: cannot" in failures[1].error


def test_only_restorable_types_are_saved(cl) -> None:
    with pytest.raises(ValueError, match="RESTORABLE"):
        Changes(cl, "hc-test-refuse", "test").save(R.CONFIGMAPS, "kubevirt-ca", NS, ("data",))
