"""ServiceAccounts with generated roles on the emulated cluster's real RBAC: the roles applied and
removed, and the account's token from a TokenRequest (shared by the RBAC and in-cluster tests)."""

from __future__ import annotations

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster

KINDS = {
    "ClusterRole": R.CLUSTER_ROLES,
    "ClusterRoleBinding": R.CLUSTER_ROLE_BINDINGS,
    "Role": R.ROLES,
    "RoleBinding": R.ROLE_BINDINGS,
}


def apply(cl: Cluster, docs: list[dict]) -> None:
    for d in docs:
        cl.create(KINDS[d["kind"]], d, d["metadata"].get("namespace"))


def remove(cl: Cluster, docs: list[dict]) -> None:
    for d in reversed(docs):
        cl.delete(KINDS[d["kind"]], d["metadata"]["name"], d["metadata"].get("namespace"))


def token(cl: Cluster, ns: str, sa: str, seconds: int = 3600) -> str:
    """A bound token of the account, as the kubelet projects one into its pods."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}}
    return cl.request("POST", R.SERVICE_ACCOUNTS.path(ns, sa, "token"), body=body)["status"]["token"]
