"""The run's snapshot: every declared read listed once (paginated), cleaned, indexed in memory.

The controller takes it before workers start and writes it to the run's report folder; workers
load that file, so parametrisation and results are identical under xdist and no worker lists
anything again. A read that no selected package declared raises `UndeclaredRead`: a check
must declare what it reads, never fetch it behind the run's back.

Indexes are built lazily, once per list, so that a check joins objects (by name, owner, node or
label) in constant time instead of scanning a list per object: the suite is measured on
clusters of thousands of VMs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster, ClusterUnreachable
from harvester_conformance.cluster.reads import HARVESTER, Read, union
from harvester_conformance.cluster.sanitize import sanitize_owned
from harvester_conformance.verdict import Broken

FORMAT = 2
_FORBIDDEN = "forbidden"


class MissingPermission(Broken):
    """The run's identity may not read something a check needs: the check is broken, not failed."""

    def __init__(self, verb: str, res: R.Resource, namespace: str | None) -> None:
        where = f" in namespace {namespace}" if namespace else " cluster-wide"
        super().__init__(f"missing permission: {verb} {res.key}{where}")


class UndeclaredRead(Broken):
    """A check read a type its package did not declare in READS: a defect of the suite."""

    def __init__(self, read: Read) -> None:
        super().__init__(
            f"undeclared read of {read}: add Read({read.res.kind}, {read.namespace!r}) to the READS of the "
            "check package (the snapshot lists only what the selected packages declare)"
        )


def _node_of(item: dict) -> str | None:
    """The node an object runs on, for the kinds that have one (pods, VMIs, Longhorn objects)."""
    spec, status = item.get("spec") or {}, item.get("status") or {}
    return spec.get("nodeName") or status.get("nodeName") or spec.get("nodeID") or status.get("ownerID")


class _Indexed:
    """One list with its indexes, each built on first use."""

    def __init__(self, items: list[dict]) -> None:
        self.items = items
        self._by_name: dict[tuple[str, str], dict] | None = None
        self._by_owner: dict[str, list[dict]] | None = None
        self._by_node: dict[str, list[dict]] | None = None
        self._by_label: dict[str, dict[str, list[dict]]] = {}

    def by_name(self) -> dict[tuple[str, str], dict]:
        if self._by_name is None:
            self._by_name = {(i["metadata"].get("namespace") or "", i["metadata"]["name"]): i for i in self.items}
        return self._by_name

    def _group(self, key: Callable[[dict], Iterable[str]]) -> dict[str, list[dict]]:
        groups: dict[str, list[dict]] = defaultdict(list)
        for item in self.items:
            for k in key(item):
                groups[k].append(item)
        return dict(groups)

    def by_owner(self) -> dict[str, list[dict]]:
        if self._by_owner is None:
            self._by_owner = self._group(lambda i: [o["uid"] for o in i["metadata"].get("ownerReferences") or []])
        return self._by_owner

    def by_node(self) -> dict[str, list[dict]]:
        if self._by_node is None:
            self._by_node = self._group(lambda i: [n] if (n := _node_of(i)) else [])
        return self._by_node

    def by_label(self, key: str) -> dict[str, list[dict]]:
        if key not in self._by_label:
            self._by_label[key] = self._group(
                lambda i: [v] if (v := (i["metadata"].get("labels") or {}).get(key)) is not None else []
            )
        return self._by_label[key]


class Snapshot:
    """Lists keyed by `Read.key`; a value that is a string records why the list is unavailable."""

    def __init__(self, lists: dict[str, list[dict] | str], captured_at: dt.datetime) -> None:
        self._lists = lists
        self.captured_at = captured_at
        self._indexed: dict[str, _Indexed] = {}

    # -- taking it ----------------------------------------------------------------------------
    @classmethod
    def take(
        cls,
        clusters: dict[str, Cluster] | Cluster,
        reads: Iterable[Read],
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> Snapshot:
        """List each declared read once, in one pass, from the clusters given by role."""
        if isinstance(clusters, Cluster):
            clusters = {HARVESTER: clusters}
        lists: dict[str, list[dict] | str] = {}
        captured_at = dt.datetime.now(dt.UTC)
        pins: dict[str, str] = {}  # cluster role -> the resourceVersion every stored type is read at
        with _kept_for_the_run():
            for read in union(reads):
                cluster = clusters.get(read.cluster)
                if cluster is None:
                    continue  # that cluster was not given: its checks are skipped by their fixture
                lists[read.key] = _fetch(cluster, read, pins, progress)
                got = lists[read.key]
                progress(f"{read}: {len(got) if isinstance(got, list) else got}")
        return cls(lists, captured_at)

    # -- reading it ---------------------------------------------------------------------------
    def _resolve(self, read: Read) -> str:
        """The stored list that answers `read`: its own, or the every-namespace list it filters."""
        if read.key in self._lists:
            return read.key
        wide = Read(read.res, None, read.cluster).key
        if read.namespace and wide in self._lists:
            return wide
        raise UndeclaredRead(read)

    def _indexed_list(self, read: Read) -> _Indexed:
        key = self._resolve(read)
        value = self._lists[key]
        if isinstance(value, str):
            if value == _FORBIDDEN:
                raise MissingPermission("list", read.res, read.namespace)
            raise Broken(f"could not list {read}: {value}")
        if key != read.key:  # a namespace's share of the every-namespace list
            if read.key not in self._indexed:
                self._indexed[read.key] = _Indexed(
                    [i for i in value if i["metadata"].get("namespace") == read.namespace]
                )
            return self._indexed[read.key]
        if key not in self._indexed:
            self._indexed[key] = _Indexed(value)
        return self._indexed[key]

    def list(self, res: R.Resource, namespace: str | None = None, *, cluster: str = HARVESTER) -> list[dict]:
        return self._indexed_list(Read(res, namespace, cluster)).items

    def get(self, res: R.Resource, name: str, namespace: str | None = None, *, cluster: str = HARVESTER) -> dict | None:
        return self._indexed_list(Read(res, namespace, cluster)).by_name().get((namespace or "", name))

    def by_owner(self, res: R.Resource, uid: str, namespace: str | None = None, *, cluster: str = HARVESTER) -> list:
        return self._indexed_list(Read(res, namespace, cluster)).by_owner().get(uid, [])

    def by_node(self, res: R.Resource, node: str, namespace: str | None = None, *, cluster: str = HARVESTER) -> list:
        return self._indexed_list(Read(res, namespace, cluster)).by_node().get(node, [])

    def by_label(
        self,
        res: R.Resource,
        key: str,
        value: str | None = None,
        namespace: str | None = None,
        *,
        cluster: str = HARVESTER,
    ) -> list[dict]:
        """Objects carrying label `key` (with `value`, when given)."""
        groups = self._indexed_list(Read(res, namespace, cluster)).by_label(key)
        if value is not None:
            return groups.get(value, [])
        return [i for items in groups.values() for i in items]

    def declared(self) -> list[str]:
        return sorted(self._lists)

    # -- on disk ------------------------------------------------------------------------------
    def dump(self, path: Path) -> None:
        """Written owner-only: cleaned of secrets, but still the cluster's inventory."""
        doc = {"format": FORMAT, "captured_at": self.captured_at.isoformat(), "lists": self._lists}
        path.touch(mode=0o600)
        path.write_text(json.dumps(doc))

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        with _kept_for_the_run():
            doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT:
            raise ValueError(f"{path}: snapshot format {doc.get('format')!r}, expected {FORMAT}")
        return cls(doc["lists"], dt.datetime.fromisoformat(doc["captured_at"]))


@contextlib.contextmanager
def _kept_for_the_run() -> Iterator[None]:
    """Objects built by the million and kept until the run ends (a snapshot at 2,000 VMs): the cycle
    collector is paused while they are built, since its passes would walk them again and again
    (decoding took 2.5x as long), and they are then moved out of its reach (`gc.freeze`), so that
    later collections (pytest forces several at its end) do not walk them either. They are freed
    by reference counting as any object is."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _fetch(cluster: Cluster, read: Read, pins: dict[str, str], progress: Callable[[str], None]) -> list[dict] | str:
    """One declared read. Stored types are read at the version of the first one (`pins`), so that a
    check joining two types never sees one before a change and the other after it (a
    VolumeAttachment still attached beside the ticket its detach already removed). When that version
    is compacted away meanwhile (410: etcd keeps about five minutes), the rest is read at a new one."""
    at = pins.get(read.cluster) if read.res.stored else None
    try:
        try:
            items, version = cluster.list_at(read.res, read.namespace, at)
        except ApiError as exc:
            if not (at and exc.status == 410):
                raise
            progress(f"resourceVersion {at} compacted; reading on at the current one")
            items, version = cluster.list_at(read.res, read.namespace, None)
            at = None
        if read.res.stored and at is None and version:
            pins[read.cluster] = version
        return [sanitize_owned(read.res, i) for i in items]  # decoded for this read alone
    except ApiError as exc:
        if exc.forbidden:
            return _FORBIDDEN
        if exc.not_found:
            return []  # the API (CRD) is not installed: nothing of that kind exists
        return str(exc)
    except ClusterUnreachable as exc:  # gone after /version answered: its readers are broken, saying so
        return f"cluster unreachable: {exc}"
