"""A read-through snapshot: each resource type is listed once per run (paginated), and every
read-only check filters in memory. The controller process takes it before workers start and
workers load it, so that parametrisation and results are identical under xdist.

Secrets keep only their public parts (certificates, CA bundles): the snapshot never holds a
private key, a token or a password, so it can be written to disk without leaking them.
"""

from __future__ import annotations

import json
from pathlib import Path

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.reporting.redact import REDACT

PUBLIC_SECRET_KEYS = {"tls.crt", "ca.crt", "ca-bundle"}

# Read by the read-only checks; listed up front by the controller.
PRELOAD: list[tuple[R.Resource, str | None]] = [
    (R.NODES, None),
    (R.HARVESTER_SETTINGS, None),
    (R.KUBEVIRTS, "harvester-system"),
    (R.LONGHORN_SETTINGS, "longhorn-system"),
    (R.SECRETS, "harvester-system"),
    (R.CONFIGMAPS, "harvester-system"),
]


class MissingPermission(Exception):
    """The run's identity may not read something a check needs: the check is broken, not failed."""

    def __init__(self, verb: str, res: R.Resource, namespace: str | None) -> None:
        where = f" in namespace {namespace}" if namespace else " cluster-wide"
        super().__init__(f"missing permission: {verb} {res.key}{where}")


def sanitize(res: R.Resource, item: dict) -> dict:
    if res is not R.SECRETS:
        return item
    data = item.get("data") or {}
    REDACT.add_secret_data(data)
    item = {
        **item,
        "data": {k: v for k, v in data.items() if k in PUBLIC_SECRET_KEYS},
        "redactedKeys": sorted(k for k in data if k not in PUBLIC_SECRET_KEYS),
    }
    return item


class Snapshot:
    def __init__(self, cluster: Cluster | None) -> None:
        self.cluster = cluster
        self._lists: dict[str, list[dict] | str] = {}

    @staticmethod
    def _key(res: R.Resource, namespace: str | None) -> str:
        return f"{res.key}@{namespace or '*'}"

    def list(self, res: R.Resource, namespace: str | None = None) -> list[dict]:
        key = self._key(res, namespace)
        if key not in self._lists:
            self._lists[key] = self._fetch(res, namespace)
        value = self._lists[key]
        if isinstance(value, str):
            if value.startswith("forbidden"):
                raise MissingPermission("list", res, namespace)
            raise LookupError(value)
        return value

    def get(self, res: R.Resource, name: str, namespace: str | None = None) -> dict | None:
        return next((i for i in self.list(res, namespace) if i["metadata"]["name"] == name), None)

    def _fetch(self, res: R.Resource, namespace: str | None) -> list[dict] | str:
        if self.cluster is None:
            return f"not in the snapshot: {res.key}"
        try:
            return [sanitize(res, i) for i in self.cluster.iter_list(res, namespace)]
        except ApiError as exc:
            if exc.forbidden:
                return "forbidden"
            if exc.not_found:
                return []  # the API (CRD) is not installed: nothing of that kind exists
            raise

    def preload(self) -> None:
        for res, ns in PRELOAD:
            key = self._key(res, ns)
            if key not in self._lists:
                self._lists[key] = self._fetch(res, ns)

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(self._lists))
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path, cluster: Cluster | None) -> Snapshot:
        snap = cls(cluster)
        snap._lists = json.loads(path.read_text())
        return snap
