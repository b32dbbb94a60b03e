"""One client for every call: kubeconfig/context/in-cluster loading, plain-dict REST,
and tenacity retries on transient errors only (connection resets, timeouts, 429, 5xx), waiting
what the server's Retry-After asks for when it says (as client-go does)."""

from __future__ import annotations

import json
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from harvester_conformance.cluster.resources import Resource
from harvester_conformance.waits import timeout_scale

TRANSIENT_STATUS = {429, 500, 502, 503, 504}
PAGE_SIZE = 500
REQUEST_TIMEOUT = 30.0  # seconds one API call may take, before the timeout scale
# A Retry-After longer than this is cut to it: the call's attempts stay bounded (client-go waits
# the header's seconds on 429 and 5xx, rest/request.go checkWait).
RETRY_AFTER_MAX = 10.0
_BACKOFF = wait_random_exponential(multiplier=0.2, max=3)


class ClusterUnreachable(Exception):
    """The API server could not be reached at all: the suite cannot run (exit code 3)."""


class ConfigError(Exception):
    """Kubeconfig or context is unusable: a usage/configuration error (exit code 2)."""


class ApiError(Exception):
    """A non-transient API failure: status, reason and the server's own message (a Status
    object's `message`; Kubernetes puts no secret data there)."""

    def __init__(self, status: int, reason: str, verb: str, path: str, message: str = "") -> None:
        super().__init__(status, reason, verb, path, message)
        self.status, self.reason, self.verb, self.path, self.message = status, reason, verb, path, message

    def __str__(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"{self.verb} {self.path}: HTTP {self.status} {self.reason}{detail}"

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def forbidden(self) -> bool:
        return self.status == 403


def _transient(exc: BaseException, verb: str = "GET") -> bool:
    """Worth asking again: the server said so (429, 5xx), or a read timed out or its connection
    dropped. The latter only for reads: a write may have landed before its answer was lost."""
    if isinstance(exc, ApiException):
        return exc.status in TRANSIENT_STATUS
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        # With urllib3's own retries off (cfg.retries = 0) a timeout or a dropped connection
        # arrives wrapped: its reason is what happened.
        exc = exc.reason or exc
    lost = isinstance(exc, urllib3.exceptions.ProtocolError | urllib3.exceptions.ReadTimeoutError)
    return lost and verb in ("GET", "HEAD")


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds a throttled or unavailable server asked to wait (Retry-After, whole seconds as the
    apiserver writes it), capped at RETRY_AFTER_MAX; None when it did not say."""
    if not isinstance(exc, ApiException) or exc.status not in TRANSIENT_STATUS:
        return None
    value = (getattr(exc, "headers", None) or {}).get("Retry-After")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def _wait(retry_state: Any) -> float:
    after = retry_after(retry_state.outcome.exception() if retry_state.outcome else None)
    return after if after is not None else _BACKOFF(retry_state)


def request_timeout() -> float:
    """Seconds one API call may take: $HC_REQUEST_TIMEOUT when set, else 30 s times the timeout
    scale (a slow lab cluster given --timeout-scale gets slower calls too)."""
    explicit = os.environ.get("HC_REQUEST_TIMEOUT")
    if explicit:
        return float(explicit)
    return REQUEST_TIMEOUT * timeout_scale()


def resolve_kubeconfig(explicit: str | None) -> str | None:
    """The kubeconfig to use: the one given, $KUBECONFIG, ~/.kube/config, or None inside a pod
    (in-cluster configuration); ConfigError when there is none of these."""
    given = explicit or os.environ.get("KUBECONFIG")
    if given:
        return given
    default = Path.home() / ".kube" / "config"
    if default.exists():
        return str(default)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    raise ConfigError("no cluster given: pass --kubeconfig (or set KUBECONFIG)")


def load_configuration(kubeconfig: str | None, context: str | None) -> client.Configuration:
    cfg = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
        else:
            config.load_incluster_config(client_configuration=cfg)
    except config.ConfigException as exc:
        raise ConfigError(str(exc)) from None
    except FileNotFoundError:
        raise ConfigError(f"kubeconfig not found: {kubeconfig}") from None
    except (TypeError, AttributeError, KeyError, ValueError, yaml.YAMLError) as exc:
        # The client library assumes a well-formed file: anything else is not a kubeconfig.
        raise ConfigError(f"{kubeconfig} is not a kubeconfig ({type(exc).__name__}: {str(exc)[:120]})") from None
    except IsADirectoryError:
        raise ConfigError(f"{kubeconfig} is a directory, not a kubeconfig") from None
    return cfg


class Cluster:
    """A connection to one cluster. Everything returns plain JSON-like dicts."""

    def __init__(self, cfg: client.Configuration, *, timeout: float | None = None) -> None:
        cfg.retries = 0  # retries are ours, on transient errors only
        self.api = client.ApiClient(cfg)
        self.host = cfg.host
        self.timeout = timeout or request_timeout()
        # HTTP requests made, by (verb, resource): LIST is a GET of a collection, CONTINUE its next pages.
        self.requests: Counter[tuple[str, str]] = Counter()
        self._count_lock = threading.Lock()

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | None, context: str | None = None) -> Cluster:
        return cls(load_configuration(kubeconfig, context))

    def close(self) -> None:
        self.api.close()

    # -- raw REST ---------------------------------------------------------------------
    def request(
        self,
        verb: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        attempts: int = 4,
        text: bool = False,
    ) -> Any:
        """One API call, retried on transient errors; the decoded JSON body, or with `text` the
        body as text (a pod's log)."""

        kind = request_kind(verb, path)
        if kind[0] == "LIST" and query and query.get("continue"):
            kind = ("CONTINUE", kind[1])  # a later page of one list (the apiserver counts it as a LIST)

        def once() -> Any:
            with self._count_lock:
                self.requests[kind] += 1
            method, url, headers, data, _ = self.api.param_serialize(
                verb,
                path,
                query_params=list((query or {}).items()),
                header_params={
                    "Accept": "text/plain, */*" if text else "application/json",
                    "Content-Type": content_type,
                },
                body=body,
                auth_settings=["BearerToken"],
            )
            resp = self.api.call_api(
                method, url, header_params=headers, body=data, _request_timeout=timeout or self.timeout
            )
            raw = resp.read()
            if not 200 <= resp.status < 300:
                exc = ApiException(status=resp.status, reason=resp.reason)
                exc.body, exc.headers = raw, resp.headers
                raise exc
            if text:
                return raw.decode("utf-8", errors="replace")
            return json.loads(raw) if raw else None

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=_wait,
            retry=retry_if_exception(lambda exc: _transient(exc, verb)),
            reraise=True,
        )
        try:
            return retrying(once)
        except ApiException as exc:
            raise ApiError(exc.status or 0, str(exc.reason), verb, path, _status_message(exc.body)) from None
        except urllib3.exceptions.HTTPError as exc:
            raise ClusterUnreachable(f"{self.host}: {type(exc).__name__}: {_short(exc)}") from None

    # -- typed helpers ---------------------------------------------------------------------
    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict | None:
        try:
            return self.request("GET", res.path(namespace, name))
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    def _pages(self, res: Resource, namespace: str | None, query: dict[str, Any]) -> Iterator[dict]:
        """Each page of a list. A continue token carries the version of the first page, and the API
        refuses a resourceVersion beside it, so later pages send the token alone."""
        while True:
            page = self.request("GET", res.path(namespace), query=query)
            yield page
            token = page.get("metadata", {}).get("continue")
            if not token:
                return
            query = {k: v for k, v in query.items() if k not in ("resourceVersion", "resourceVersionMatch")}
            query["continue"] = token

    def iter_list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None
    ) -> Iterator[dict]:
        query: dict[str, Any] = {"limit": PAGE_SIZE}
        if label_selector:
            query["labelSelector"] = label_selector
        for page in self._pages(res, namespace, query):
            for item in page.get("items", []):
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                yield item

    def list_at(self, res: Resource, namespace: str | None, at: str | None) -> tuple[list[dict], str]:
        """Every item and the resourceVersion the list was read at. With `at`, the list as it was at
        that version (`resourceVersionMatch=Exact`): etcd's revision counts the writes of every type,
        so lists read at one version are one picture of the cluster, not a blend of moments."""
        query: dict[str, Any] = {"limit": PAGE_SIZE}
        if at:
            query.update(resourceVersion=at, resourceVersionMatch="Exact")
        items: list[dict] = []
        version = ""
        for page in self._pages(res, namespace, query):
            version = version or (page.get("metadata") or {}).get("resourceVersion", "")
            for item in page.get("items", []):
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                items.append(item)
        return items, version

    def list(self, res: Resource, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        return list(self.iter_list(res, namespace, label_selector))

    def create(self, res: Resource, body: dict, namespace: str | None = None) -> dict:
        return self.request("POST", res.path(namespace or body.get("metadata", {}).get("namespace")), body=body)

    def apply(self, res: Resource, body: dict, *, manager: str, sub: str | None = None) -> dict:
        """Server-side apply, so that repeated seeding converges instead of conflicting."""
        meta = body["metadata"]
        body = {"apiVersion": res.api_version, "kind": res.kind, **body}
        return self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"], sub),
            body=body,
            query={"fieldManager": manager, "force": "true"},
            content_type="application/apply-patch+yaml",
        )

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
        """JSON merge patch. With dry_run, admission (webhooks included) runs but nothing is stored."""
        return self.request(
            "PATCH",
            res.path(namespace, name, sub),
            body=patch,
            query={"dryRun": "All"} if dry_run else None,
            content_type="application/merge-patch+json",
        )

    def json_patch(self, res: Resource, name: str, ops: list[dict], namespace: str | None = None) -> dict:
        """RFC 6902 patch: several changes (a field restored, an annotation removed) in one write."""
        return self.request("PATCH", res.path(namespace, name), body=ops, content_type="application/json-patch+json")

    def replace(self, res: Resource, body: dict, sub: str | None = None) -> dict:
        meta = body["metadata"]
        return self.request("PUT", res.path(meta.get("namespace"), meta["name"], sub), body=body)

    def delete(self, res: Resource, name: str, namespace: str | None = None) -> bool:
        try:
            self.request("DELETE", res.path(namespace, name))
            return True
        except ApiError as exc:
            if exc.not_found:
                return False
            raise

    def version(self, timeout: float = 5.0, attempts: int = 1) -> dict:
        return self.request("GET", "/version", timeout=timeout, attempts=attempts)


_PATH = re.compile(
    r"^/(?:api/(?P<cv>[^/]+)|apis/(?P<g>[^/]+)/(?P<gv>[^/]+))(?:/namespaces/(?P<ns>[^/]+))?"
    r"(?:/(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>.+))?)?)?$"
)


def request_kind(verb: str, path: str) -> tuple[str, str]:
    """(verb, resource key) of a request, as the apiserver's metrics name them: LIST for a GET of
    a collection, GET of one object; a namespace's own path counts as `namespaces`."""
    m = _PATH.match(path.split("?", 1)[0])
    if not m:
        return verb, path
    plural, name, sub = m.group("plural"), m.group("name"), m.group("sub")
    if plural is None and m.group("ns"):
        plural, name = "namespaces", m.group("ns")
    if plural is None:
        return verb, path
    key = f"{plural}.{m.group('g')}" if m.group("g") else plural
    if sub:
        key += f"/{sub}"
    if verb == "GET":
        return ("GET" if name else "LIST"), key
    return verb, key


def _status_message(body: bytes | str | None) -> str:
    try:
        doc = json.loads(body or b"")
    except (ValueError, TypeError):
        return ""
    return str(doc.get("message", ""))[:500] if isinstance(doc, dict) else ""


def _short(exc: BaseException) -> str:
    """urllib3 messages embed object reprs; keep the errno and reason a person can act on."""
    text = str(exc)
    m = re.search(r"\[Errno \d+\] [^'\")]+", text)
    if m:
        return m.group(0)
    for marker in ("timed out", "Connection refused", "Name or service not known"):
        if marker in text:
            return marker
    return text[:200]
