"""Safe changes for active and disruptive tests: what a test changes, the collector undoes.

- A namespace of the run's own, labelled with the run ID, for what a test creates.
- Save-and-restore of fields of cluster-wide objects. The original is written onto the object
  itself (annotation `SAVED_ANNOTATION`, label `SAVED_LABEL`) before the change, so that
  `harvester-conformance cleanup` can restore it after a run that was killed.
- Undo in reverse order, each step waited until it has taken effect (with the named timeout),
  its failure recorded apart and never raised: a cleanup failure must not replace the verdict.
- Diagnostics (the objects involved and their events, cleaned of secrets) taken before cleanup.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harvester_conformance import stopping
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster, ClusterUnreachable
from harvester_conformance.cluster.sanitize import sanitize
from harvester_conformance.reporting.redact import REDACT
from harvester_conformance.waits import WaitTimeout, wait_for

RUN_LABEL = "harvester-conformance.io/run-id"
SAVED_LABEL = "harvester-conformance.io/saved-by"
SAVED_ANNOTATION = "harvester-conformance.io/saved"
# Cluster-wide objects a test may change in place; `cleanup` searches these types for saved
# originals, and the generated RBAC grants patch on them to disruptive profiles only.
RESTORABLE: tuple[R.Resource, ...] = (
    R.KUBEVIRTS,
    R.HARVESTER_SETTINGS,
    R.LONGHORN_SETTINGS,
    R.LONGHORN_NODES,
    R.MIGRATION_POLICIES,
)
_SEQ = itertools.count(1)


@dataclass(frozen=True)
class CleanupFailure:
    step: str
    error: str

    def as_dict(self) -> dict:
        return {"step": self.step, "error": REDACT(self.error)}


@dataclass(frozen=True)
class _Step:
    what: str
    undo: Callable[[], None]
    settled: Callable[[], object] | None
    timeout: str


def pointer(path: tuple[str, ...]) -> str:
    """A JSON pointer (RFC 6901) to a field."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def _dig(obj: dict, path: tuple[str, ...]) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return False, None
        obj = obj[part]
    return True, obj


def restore_ops(obj: dict) -> list[dict]:
    """The JSON patch that puts back every field saved on `obj` and removes the record, in one write."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    saved = json.loads(annotations[SAVED_ANNOTATION])
    ops: list[dict] = []
    for ptr, original in saved["fields"].items():
        path = tuple(p.replace("~1", "/").replace("~0", "~") for p in ptr.split("/")[1:])
        present, _ = _dig(obj, path)
        if original["present"]:
            ops.append({"op": "add", "path": ptr, "value": original["value"]})
        elif present:
            ops.append({"op": "remove", "path": ptr})
    ops.append({"op": "remove", "path": pointer(("metadata", "annotations", SAVED_ANNOTATION))})
    if SAVED_LABEL in ((obj.get("metadata") or {}).get("labels") or {}):
        ops.append({"op": "remove", "path": pointer(("metadata", "labels", SAVED_LABEL))})
    return ops


def label_value(text: str) -> str:
    """A run ID as a label value (the CLI refuses run IDs that are not one)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63].strip("-_.") or "run"


class Changes:
    """The collector of one test: records each change as it is made, undoes them all at the end."""

    def __init__(self, cluster: Cluster, run_id: str, owner: str = "") -> None:
        self.cluster = cluster
        self.run_id = run_id
        self.owner = owner  # the test, for messages
        self._steps: list[_Step] = []
        self._involved: list[tuple[R.Resource, str, str | None]] = []
        self._namespace: str | None = None

    # -- changes ------------------------------------------------------------------------------
    def defer(
        self,
        what: str,
        undo: Callable[[], None],
        settled: Callable[[], object] | None = None,
        timeout: str = "object-restored",
    ) -> None:
        """Register an undo step (run in reverse order), and how to know it has taken effect."""
        self._steps.append(_Step(what, undo, settled, timeout))

    def involve(self, res: R.Resource, name: str, namespace: str | None = None) -> None:
        """Name an object whose state the diagnostics should show if the test does not pass."""
        if (res, name, namespace) not in self._involved:
            self._involved.append((res, name, namespace))

    def namespace(self, labels: dict[str, str] | None = None) -> str:
        """The test's own namespace, labelled with the run ID (and `labels`, the first time),
        deleted (and waited for) at the end."""
        if self._namespace is None:
            name = f"{label_value(self.run_id).lower()}-{os.getpid()}-{next(_SEQ)}"[:63].strip("-")
            body = {"metadata": {"name": name, "labels": {**(labels or {}), RUN_LABEL: label_value(self.run_id)}}}
            with stopping.shielded():
                self.cluster.create(R.NAMESPACES, body)
                self._namespace = name
                self.defer(
                    f"delete Namespace {name}",
                    lambda: self.cluster.delete(R.NAMESPACES, name),
                    lambda: self.cluster.get(R.NAMESPACES, name) is None,
                    "namespace-deleted",
                )
        return self._namespace

    def create(self, res: R.Resource, body: dict) -> dict:
        """Create an object labelled with the run ID (in the test's namespace when namespaced)."""
        meta = body.setdefault("metadata", {})
        meta.setdefault("labels", {})[RUN_LABEL] = label_value(self.run_id)
        ns = self.namespace() if res.namespaced else None
        if ns:
            meta["namespace"] = ns
        with stopping.shielded():
            created = self.cluster.create(res, body, ns)
            name = created["metadata"]["name"]
            self.involve(res, name, ns)
            self.defer(
                f"delete {res.kind} {ns + '/' if ns else ''}{name}",
                lambda: self.cluster.delete(res, name, ns),
                lambda: self.cluster.get(res, name, ns) is None,
                "object-deleted",
            )
        return created

    def save(
        self,
        res: R.Resource,
        name: str,
        namespace: str | None,
        path: tuple[str, ...],
        settled: Callable[[], object] | None = None,
        timeout: str = "object-restored",
    ) -> tuple[bool, Any]:
        """Record a field's original value on the object before the test changes it; the undo
        puts it back in one write, then waits (the named `timeout`) until `settled`. Returns
        (present, value) of the original."""
        if res not in RESTORABLE:
            raise ValueError(f"{res.kind} is not in changes.RESTORABLE: `cleanup` could not find it after a crash")
        obj = self.cluster.get(res, name, namespace)
        if obj is None:
            raise LookupError(f"{res.kind} {namespace + '/' if namespace else ''}{name} does not exist")
        annotations = obj["metadata"].get("annotations") or {}
        record = json.loads(annotations.get(SAVED_ANNOTATION) or '{"fields": {}}')
        present, value = _dig(obj, path)
        record["run"] = label_value(self.run_id)
        record["fields"].setdefault(pointer(path), {"present": present, "value": value})
        with stopping.shielded():
            self.cluster.patch(
                res,
                name,
                {
                    "metadata": {
                        "annotations": {SAVED_ANNOTATION: json.dumps(record)},
                        "labels": {SAVED_LABEL: label_value(self.run_id)},
                    }
                },
                namespace,
            )
            self.involve(res, name, namespace)
            self.defer(
                f"restore {res.kind} {namespace + '/' if namespace else ''}{name} {'.'.join(path)}",
                lambda: restore(self.cluster, res, name, namespace),
                settled,
                timeout,
            )
        return present, value

    # -- the end ------------------------------------------------------------------------------
    def diagnostics(self) -> dict:
        """The involved objects as they are now, and their events, cleaned and redacted."""
        out: dict[str, Any] = {"test": self.owner, "objects": [], "events": []}
        for res, name, ns in self._involved:
            try:
                obj = self.cluster.get(res, name, ns)
                out["objects"].append(sanitize(res, obj) if obj else f"{res.kind} {name}: absent")
                selector = f"involvedObject.name={name},involvedObject.kind={res.kind}"
                events = self.cluster.request("GET", R.EVENTS.path(ns), query={"fieldSelector": selector, "limit": 50})
                out["events"] += [
                    {k: e.get(k) for k in ("type", "reason", "message", "lastTimestamp", "count")}
                    for e in events.get("items", [])
                ]
            except (ApiError, ClusterUnreachable) as exc:
                out["objects"].append(f"{res.kind} {name}: could not read ({exc})")
        return json.loads(REDACT(json.dumps(out, default=str)))

    def undo(self) -> list[CleanupFailure]:
        """Every step, last first; each waited for; failures collected, never raised."""
        failures: list[CleanupFailure] = []
        while self._steps:
            step = self._steps.pop()
            try:
                step.undo()
                if step.settled is not None:
                    wait_for(step.timeout, step.settled)
            except WaitTimeout as exc:
                failures.append(CleanupFailure(step.what, str(exc)))
            except Exception as exc:  # noqa: BLE001 - recorded apart from the verdict
                failures.append(CleanupFailure(step.what, f"{type(exc).__name__}: {exc}"))
        return failures


def restore(cl: Cluster, res: R.Resource, name: str, namespace: str | None) -> bool:
    """Put back what was saved on one object; False when nothing was saved there."""
    obj = cl.get(res, name, namespace)
    if obj is None or SAVED_ANNOTATION not in ((obj.get("metadata") or {}).get("annotations") or {}):
        return False
    cl.json_patch(res, name, restore_ops(obj), namespace)
    return True
