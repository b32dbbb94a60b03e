"""Shared informer caches for the simulator's controllers.

Real controllers read through informers: one list, then a watch per resource type, shared by
every controller of the process. The simulator's controllers did a LIST of every type they read on
every tick, which kept an idle emulated cluster at ~40% of a core (the apiserver serving the
lists). `CachedCluster` gives them the same reads from a watch-fed cache: the first read of a type
lists it once cluster-wide and starts its watch (resumed from the last resourceVersion, listed
again when the apiserver says it expired); writes go to the apiserver, and their answers update
the cache at once, so a controller reads its own writes as a client-go controller does through its
expectations. As client-go's listers do, a list hands out the cache's own objects, read-only
(`frozen`): copying each of them for every reader was most of the simulator's CPU at scale.
Selectors the cache cannot evaluate, and types the simulator may not list cluster-wide, are read
from the apiserver as before.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import urllib3
from kubernetes.client import ApiClient

from harvester_conformance.cluster.client import ApiError, Cluster, ClusterUnreachable
from harvester_conformance.cluster.resources import Resource
from harvester_conformance.emulator.simulator.frozen import freeze, thaw

T = TypeVar("T")

log = logging.getLogger("simulator.informers")

WATCH_SECONDS = 240  # the apiserver ends a watch after this; it is resumed from the last resourceVersion
RETRY_SECONDS = 1.0
# A type that could not be listed (its CRD not established yet, the simulator's role not granted
# yet: both happen while a cluster seeds) is tried again after this; meanwhile it is read directly.
START_RETRY_SECONDS = 5.0
WATCH_POOL = 128  # connections for watches: one per resource type read
_EQUALITY = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*))?\s*$")

Key = tuple[str, str]  # (namespace, name)


def _key(obj: dict) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


def _rv(obj: dict) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def parse_selector(text: str | None) -> list[tuple[str, str, str]] | None:
    """Equality-based label selector terms (op, key, value), or None when it has a term the cache
    does not evaluate (set-based `in`/`notin`): those go to the apiserver."""
    terms: list[tuple[str, str, str]] = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        m = _EQUALITY.match(part)
        if not m:
            return None
        neg, key, op, value = m.groups()
        if neg:
            if op:
                return None
            terms.append(("!", key, ""))
        elif op is None:
            terms.append(("exists", key, ""))
        else:
            terms.append(("!=" if op == "!=" else "=", key, value or ""))
    return terms


def matches(obj: dict, terms: list[tuple[str, str, str]]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for op, key, value in terms:
        if op == "exists" and key not in labels:
            return False
        if op == "!" and key in labels:
            return False
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
    return True


class Informer:
    """One resource type: the objects by (namespace, name), kept current by a watch."""

    def __init__(self, cl: CachedCluster, res: Resource, stop: threading.Event) -> None:
        self.cl, self.res, self.stop = cl, res, stop
        self.lock = threading.Lock()
        self.objects: dict[Key, dict] = {}
        self.gone: dict[Key, int] = {}  # resourceVersion at which an object was seen deleted
        self.rv = ""
        self.changes = 0  # bumped by every change to the cache: what `derived` values are keyed on
        self.stream: Any = None  # the watch's response while it streams, for `close` to end it
        self.last_event = time.monotonic()  # when the watch last said anything (diagnosis)
        self.restarts = 0  # watches ended and resumed, relists included (diagnosis)

    def start(self) -> None:
        """List once (raising if the type cannot be listed cluster-wide), then watch in a thread."""
        self._relist()
        threading.Thread(target=self._run, name=f"informer-{self.res.key}", daemon=True).start()

    def _relist(self) -> None:
        query: dict[str, Any] = {"limit": 500}
        items: list[dict] = []
        rv = ""
        while True:
            page = self.cl.request("GET", self.res.path(), query=query)
            items.extend(page.get("items", []))
            meta = page.get("metadata") or {}
            rv = meta.get("resourceVersion") or rv
            if not meta.get("continue"):
                break
            query["continue"] = meta["continue"]
        objects = {_key(o): self._typed(o) for o in items}
        with self.lock:
            self.objects = objects
            self.gone.clear()
            self.rv = rv
            self.changes += 1

    def _typed(self, obj: dict) -> dict:
        """The cache's read-only copy, with the apiVersion and kind a list's items leave out."""
        if "apiVersion" not in obj or "kind" not in obj:
            obj = {"apiVersion": self.res.api_version, "kind": self.res.kind, **obj}
        return freeze(obj)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self._watch()
            except _Expired:
                self._retry(self._relist)
            except (ApiError, ClusterUnreachable, OSError, ValueError) as exc:
                log.info("watch of %s ended (%s); resuming", self.res.key, exc)
                self.stop.wait(RETRY_SECONDS)
            except Exception:  # noqa: BLE001 - a dead informer thread would freeze every controller on it
                log.exception("watch of %s failed; resuming", self.res.key)
                self.stop.wait(RETRY_SECONDS)
            self.restarts += 1

    def _retry(self, fn) -> None:
        while not self.stop.is_set():
            try:
                fn()
                return
            except (ApiError, ClusterUnreachable, OSError) as exc:
                log.info("list of %s failed (%s); retrying", self.res.key, exc)
                self.stop.wait(RETRY_SECONDS)
            except Exception:  # noqa: BLE001 - as in _run: the thread must outlive any one failure
                log.exception("list of %s failed; retrying", self.res.key)
                self.stop.wait(RETRY_SECONDS)

    def _watch(self) -> None:
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self.rv,
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        for event in self._stream(query):
            kind, obj = event.get("type"), event.get("object") or {}
            self.last_event = time.monotonic()
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _Expired
                raise ValueError(f"watch error: {obj.get('message')}")
            typed = self._typed(obj) if kind in ("ADDED", "MODIFIED") else obj
            with self.lock:
                self.rv = (obj.get("metadata") or {}).get("resourceVersion") or self.rv
                if kind in ("ADDED", "MODIFIED"):
                    self._store(typed)
                elif kind == "DELETED":
                    self._forget(obj)

    def _stream(self, query: dict[str, str]) -> Iterator[dict]:
        api = self.cl.watch_api
        method, url, headers, body, _ = api.param_serialize(
            "GET",
            self.res.path(),
            query_params=list(query.items()),
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        try:
            timeout = (10, WATCH_SECONDS + 30)
            resp = api.call_api(method, url, header_params=headers, body=body, _request_timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - the generated client raises its own types
            raise OSError(f"watch request failed: {exc}") from None
        raw = self.stream = resp.response
        try:
            if resp.status == 410:
                raise _Expired
            if resp.status != 200:
                raise OSError(f"watch answered {resp.status}")
            if self.stop.is_set():  # closed while this watch was being opened
                return
            for line in raw:
                if self.stop.is_set():
                    return
                if line.strip():
                    yield json.loads(line)
        except urllib3.exceptions.HTTPError as exc:
            # The apiserver went away mid-stream (restarted, killed): resume, as client-go's
            # Reflector.Run retries ListAndWatch after any error (tools/cache/reflector.go).
            raise OSError(f"watch stream broke: {exc}") from None
        finally:
            self.stream = None
            raw.release_conn()

    def close(self) -> None:
        """End the watch now: its thread may be blocked reading a quiet stream for minutes."""
        raw = self.stream
        if raw is not None:
            with contextlib.suppress(Exception):  # already ended: nothing to do
                raw.shutdown()

    # -- the cache, under self.lock --------------------------------------------------------
    def _store(self, obj: dict) -> None:
        key = _key(obj)
        if _rv(obj) <= max(_rv(self.objects.get(key, {})), self.gone.get(key, 0)):
            return  # older than what is known (a write's answer arrived before its event)
        self.objects[key] = obj
        self.gone.pop(key, None)
        self.changes += 1

    def _forget(self, obj: dict) -> None:
        key = _key(obj)
        current = self.objects.get(key)
        if current is not None and _rv(current) > _rv(obj):
            return  # created again since
        self.objects.pop(key, None)
        self.gone[key] = _rv(obj)
        self.changes += 1

    # -- reads -------------------------------------------------------------------------------
    def list(self, namespace: str | None, terms: list[tuple[str, str, str]]) -> list[dict]:
        """The cache's own objects, read-only (frozen): a caller that edits one thaws it first."""
        with self.lock:
            found = [
                o for (ns, _), o in self.objects.items() if (not namespace or ns == namespace) and matches(o, terms)
            ]
            found.sort(key=_key)  # the apiserver's order: namespace, then name
            return found

    def get(self, namespace: str | None, name: str) -> dict | None:
        """A private copy: one object is cheap to copy, and gets usually precede an edit."""
        with self.lock:
            obj = self.objects.get((namespace or "", name))
        return thaw(obj) if obj is not None else None

    def compare(self, items: list[dict], version: str) -> tuple[int, int, list[str]]:
        """The cache against a list of its type (`Cluster.list_at`) taken a while ago, time enough
        for its events to have arrived (diagnosis): the cache's resourceVersion, the list's, and
        what the cache missed (`drift`, the watch taken to have reached the list's position)."""
        with self.lock:
            cached_rv, cached = int(self.rv or 0), {k: _rv(o) for k, o in self.objects.items()}
        listed = {_key(o): _rv(o) for o in items}
        listed_rv = int(version or 0)
        return cached_rv, listed_rv, drift(max(cached_rv, listed_rv), cached, listed_rv, listed)

    def wrote(self, obj: dict) -> None:
        typed = self._typed(obj)
        with self.lock:
            self._store(typed)

    def deleted(self, namespace: str | None, name: str) -> None:
        """A DELETE the apiserver accepted: the object is gone or terminating; the watch says
        which (a terminating one comes back as MODIFIED with a later resourceVersion)."""
        with self.lock:
            obj = self.objects.pop((namespace or "", name), None)
            if obj is not None:
                self.gone[(namespace or "", name)] = _rv(obj)
                self.changes += 1


def drift(cached_rv: int, cached: dict[Key, int], listed_rv: int, listed: dict[Key, int]) -> list[str]:
    """How a cache differs from a list of the same type that it should agree with: objects it
    missed or holds in an older version although its watch went past them, and objects it keeps
    that the list shows deleted. Differences the watch has not reached yet are in flight, not
    drift."""
    found: list[str] = []
    for key, rv in sorted(listed.items()):
        if rv > cached_rv:
            continue  # written after the watch's position: in flight
        have = cached.get(key)
        name = "/".join(k for k in key if k)
        if have is None:
            found.append(f"missing {name} (resourceVersion {rv})")
        elif have < rv:
            found.append(f"stale {name} (cached {have}, current {rv})")
    if cached_rv >= listed_rv:
        for key, rv in sorted(cached.items()):
            if key not in listed and rv <= listed_rv:
                found.append(f"kept {'/'.join(k for k in key if k)} (resourceVersion {rv}), deleted since")
    return found


_UNKNOWN: Any = object()


def derived(cl: Cluster, key: str, sources: tuple[Resource, ...], compute: Callable[[], T]) -> T:
    """`CachedCluster.derived` for the simulator's client; a direct client computes every time."""
    return cl.derived(key, sources, compute) if isinstance(cl, CachedCluster) else compute()


class _Expired(Exception):
    """The watch's resourceVersion is too old: list again."""


def lingers(answer: object) -> bool:
    """Whether a DELETE's answer is the object still stored: marked for deletion and held by a
    finalizer or a grace period (an object removed at once comes back as a Status, or as it was)."""
    meta = answer.get("metadata") if isinstance(answer, dict) and answer.get("kind") != "Status" else None
    if not isinstance(meta, dict) or not meta.get("deletionTimestamp") or not meta.get("resourceVersion"):
        return False
    return bool(meta.get("finalizers")) or bool(meta.get("deletionGracePeriodSeconds"))


def removed(answer: object) -> bool:
    """Whether a write's answer is an object already gone: marked for deletion and no longer held
    (its last finalizer just removed)."""
    meta = answer.get("metadata") if isinstance(answer, dict) else None
    return isinstance(meta, dict) and bool(meta.get("deletionTimestamp")) and not lingers(answer)


# A controller entry's flag (areas/__init__.py): its decisions depend only on the objects it reads
# through the cache, never on the clock or on files; the simulator then runs it on change.
ON_CHANGE = True


class Reads:
    """What one reconcile read: the change count of each cached type as it was first read, and
    whether it must run again regardless (`blind`): a read went to the apiserver, which the counts
    cannot vouch for (a type without an informer, a set-based selector), or a call failed."""

    def __init__(self) -> None:
        self.seen: dict[Resource, int] = {}
        self.blind = False


_reading = threading.local()


def current_reads() -> Reads | None:
    """The record of the reconcile running on this thread, if one is being recorded."""
    return getattr(_reading, "reads", None)


@contextlib.contextmanager
def reading_into(reads: Reads | None) -> Iterator[None]:
    """Count this thread's reads and failures in `reads`: a worker's, in its reconcile's record."""
    before = current_reads()
    _reading.reads = reads
    try:
        yield
    finally:
        _reading.reads = before


class CachedCluster(Cluster):
    """The controllers' client: reads from the shared informers, writes through the apiserver."""

    def __init__(self, direct: Cluster, stop: threading.Event) -> None:
        self.__dict__.update(direct.__dict__)  # the same connection pool and request counter
        # Each watch holds a connection for minutes: they get a pool of their own, sized for
        # every type, so that the controllers' writes never wait for (or discard) a connection.
        cfg = copy.copy(direct.api.configuration)
        cfg.connection_pool_maxsize = WATCH_POOL
        self.watch_api = ApiClient(cfg)
        self._stop = stop
        self._informers: dict[Resource, Informer | None] = {}
        self._retry_at: dict[Resource, float] = {}  # when a type that could not be listed is tried again
        self._start_lock = threading.Lock()
        self._derived: dict[str, tuple[tuple[int, ...], Any]] = {}
        self._derived_lock = threading.Lock()

    def _informer(self, res: Resource) -> Informer | None:
        """The type's informer, started on first read. A type that cannot be listed cluster-wide
        (RBAC, not served) is read from the apiserver and tried again every START_RETRY_SECONDS,
        as client-go's reflector retries a failed list: a role granted or a CRD established later
        in the seeding must not leave the type uncached (every reconcile reading it would then
        count as blind and run on every tick)."""
        if not res.stored:  # served by an aggregated API (metrics): listed, never watched
            return None
        known = self._informers.get(res, _UNKNOWN)  # every read asks: no lock once a type is known
        if known is not _UNKNOWN and (known is not None or time.monotonic() < self._retry_at[res]):
            return known
        with self._start_lock:
            if self._informers.get(res) is None and time.monotonic() >= self._retry_at.get(res, 0.0):
                inf = Informer(self, res, self._stop)
                try:
                    inf.start()
                except ApiError as exc:  # not listable cluster-wide (RBAC) or not served: read directly
                    if res not in self._informers:
                        log.info("no informer for %s yet (%s): reading it from the apiserver", res.key, exc)
                    self._retry_at[res] = time.monotonic() + START_RETRY_SECONDS
                    self._informers[res] = None
                else:
                    if res in self._informers:
                        log.info("informer for %s started", res.key)
                    self._informers[res] = inf
            return self._informers[res]

    def started(self) -> list[Informer]:
        """The informers running now (diagnosis)."""
        with self._start_lock:
            return [inf for inf in self._informers.values() if inf is not None]

    def close(self) -> None:
        """Stop every informer and drop its watch: a reader that is done (`cluster up` once the
        cluster has settled) leaves no watch open on the apiserver, which would otherwise hold
        an apiserver that is told to stop for a minute."""
        self._stop.set()
        for inf in list(self._informers.values()):
            if inf is not None:
                inf.close()
        self.watch_api.close()

    def derived(self, key: str, sources: tuple[Resource, ...], compute: Callable[[], T]) -> T:
        """`compute()`, kept until an object of one of `sources` changes: a kubelet's view of its pods
        is one computation per change, not one per request, as a kubelet's pod manager is. The
        value is shared: callers read it and never modify it."""
        informers = [self._informer(res) for res in sources]
        if any(inf is None for inf in informers):
            return compute()
        stamp = tuple(inf.changes for inf in informers if inf is not None)
        with self._derived_lock:
            known = self._derived.get(key)
        if known is not None and known[0] == stamp:
            return known[1]
        value = compute()  # a change meanwhile leaves the stamp behind: the next call computes again
        with self._derived_lock:
            self._derived[key] = (stamp, value)
        return value

    # -- what a reconcile read, to skip the next one when none of it changed ---------------------
    @contextlib.contextmanager
    def recording(self) -> Iterator[Reads]:
        """Note this thread's reads while the block runs (one controller's reconcile)."""
        reads = _reading.reads = Reads()
        try:
            yield reads
        finally:
            _reading.reads = None

    def unchanged(self, reads: Reads) -> bool:
        """Nothing that `reads` saw has changed since (its own writes included: they count)."""
        if reads.blind:
            return False
        return all((inf := self._informers.get(res)) is not None and inf.changes == n for res, n in reads.seen.items())

    def request(self, verb: str, path: str, **kwargs: Any) -> Any:
        """Every API call; a read made here during a recorded reconcile is one the informers'
        counts do not cover (a subresource, a log, a type without an informer)."""
        reads = getattr(_reading, "reads", None)
        if verb == "GET" and reads is not None:
            reads.blind = True
        try:
            return super().request(verb, path, **kwargs)
        except ApiError:
            if reads is not None:  # a write that failed is retried on the next tick, changes or not
                reads.blind = True
            raise

    def _note(self, res: Resource, inf: Informer | None) -> None:
        reads = getattr(_reading, "reads", None)
        if reads is None:
            return
        if inf is None:
            reads.blind = True
        elif res not in reads.seen:
            reads.seen[res] = inf.changes  # before the read: a change after it is one to react to

    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict | None:
        inf = self._informer(res)
        self._note(res, inf)
        return inf.get(namespace if res.namespaced else None, name) if inf else super().get(res, name, namespace)

    def list(self, res: Resource, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        terms = parse_selector(label_selector)
        inf = self._informer(res) if terms is not None else None
        self._note(res, inf)
        if inf is None:
            return list(Cluster.iter_list(self, res, namespace, label_selector))
        return inf.list(namespace if res.namespaced else None, terms or [])

    def iter_list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None
    ) -> Iterator[dict]:
        return iter(self.list(res, namespace, label_selector))

    def _written(self, res: Resource, obj: Any) -> Any:
        inf = self._informers.get(res)
        meta = obj.get("metadata", {}) if isinstance(obj, dict) else {}
        if inf is not None and meta.get("resourceVersion"):
            if removed(obj):
                inf.deleted(meta.get("namespace"), meta["name"])
            else:
                inf.wrote(obj)
        return obj

    def create(self, res: Resource, body: dict, namespace: str | None = None) -> dict:
        return self._written(res, super().create(res, body, namespace))

    def apply(self, res: Resource, body: dict, *, manager: str, sub: str | None = None) -> dict:
        return self._written(res, super().apply(res, body, manager=manager, sub=sub))

    def patch(
        self,
        res: Resource,
        name: str,
        patch: dict,
        namespace: str | None = None,
        sub: str | None = None,
        *,
        dry_run: bool = False,
    ) -> dict:
        out = super().patch(res, name, patch, namespace, sub, dry_run=dry_run)
        return out if dry_run else self._written(res, out)

    def json_patch(self, res: Resource, name: str, ops: list[dict], namespace: str | None = None) -> dict:
        return self._written(res, super().json_patch(res, name, ops, namespace))

    def replace(self, res: Resource, body: dict, sub: str | None = None) -> dict:
        return self._written(res, super().replace(res, body, sub))

    def delete(self, res: Resource, name: str, namespace: str | None = None) -> bool:
        """A deleted object leaves the cache only if it is gone: one held by finalizers or a grace
        period stays, with its deletionTimestamp, as the apiserver answered (until the watch
        reports it removed)."""
        inf = self._informers.get(res)
        out: object = None
        try:
            out = self.request("DELETE", res.path(namespace, name))
            done = True
        except ApiError as exc:
            if not exc.not_found:
                raise
            done = False
        if inf is not None:
            if lingers(out):
                inf.wrote(out)  # type: ignore[arg-type]
            else:
                inf.deleted(namespace if res.namespaced else None, name)
        return done
