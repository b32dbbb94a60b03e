"""Least-privilege RBAC for a run, derived from what its checks declare they read.

A security team deploys the suite with exactly the rights its selected checks use: `get`/`list`
on each declared type, cluster-wide only where a check reads it in every namespace, otherwise a
Role in the one namespace it reads (Secrets included: a check that reads the Secrets of one
namespace gets a Role there and nothing cluster-wide). The pod node probe adds what it does in
the run's own namespace (created and deleted by the run, so its name is not known in advance).
Active and disruptive checks write objects their code names at run time, with no declaration to
derive rights from: a selection that holds them is refused rather than covered by a guess.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from harvester_conformance import declared
from harvester_conformance.catalogue import entries
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import CLUSTERS, HARVESTER, Read, union
from harvester_conformance.selection import PROFILES

READ_VERBS = ["get", "list"]
NAME = "harvester-conformance"
# What the pod probe does (probes/pod.py): the run's namespace created and deleted, a pod per
# node created, watched, its log read and deleted.
POD_PROBE_RULES = (
    ("", "namespaces", ["create", "delete", "get"]),
    ("", "pods", ["create", "delete", "get"]),
    ("", "pods/log", ["get"]),
)


class NotDerivable(ValueError):
    """The selection holds checks whose rights cannot be derived from declarations."""


@dataclass(frozen=True)
class Selection:
    profile: str
    ids: tuple[str, ...]
    reads: tuple[Read, ...]
    node_checks: bool
    # Rights the checks use outside the snapshot: (API group, resource[/subresource], verb).
    rights: tuple[tuple[str, str, str], ...] = ()


def select(profile: str, ids: Iterable[str] = ()) -> Selection:
    """The profile's (or the given IDs') testable invariants and their declared reads."""
    if profile not in PROFILES:
        raise NotDerivable(f"unknown profile {profile!r}; profiles: {', '.join(PROFILES)}")
    chosen = sorted(declared.selected_ids(PROFILES[profile][1], ids))
    catalogue = entries()
    unknown = [i for i in chosen if i not in catalogue]
    if unknown:
        raise NotDerivable(f"unknown invariant(s): {', '.join(unknown)}")
    writing = [i for i in chosen if set(catalogue[i].markers()) & {"active", "disruptive"}]
    if writing:
        raise NotDerivable(
            f"{', '.join(writing)} create or change objects, and their writes are not declared: the generated "
            "roles cover read-only selections (profiles quick, default, pre-upgrade, or --id of read-only IDs)"
        )
    node = any("node" in catalogue[i].markers() for i in chosen)
    rights = sorted({r for p in declared.packages_for(chosen) for r in package_rights(p)})
    return Selection(profile, tuple(chosen), tuple(declared.reads_for(chosen)), node, tuple(rights))


def package_rights(package: str) -> tuple[tuple[str, str, str], ...]:
    """A check package's `RIGHTS`: what its read-only checks ask the API outside the snapshot."""
    return tuple(getattr(importlib.import_module(f"conformance.{package}"), "RIGHTS", ()))


def _rules(pairs: Iterable[tuple[str, str, list[str]]]) -> list[dict]:
    """One rule per API group and verb set, resources sorted: stable output for `ci/`."""
    grouped: dict[tuple[str, tuple[str, ...]], set[str]] = defaultdict(set)
    for group, plural, verbs in pairs:
        grouped[(group, tuple(verbs))].add(plural)
    return [
        {"apiGroups": [group], "resources": sorted(plurals), "verbs": list(verbs)}
        for (group, verbs), plurals in sorted(grouped.items())
    ]


def manifests(
    selection: Selection, cluster: str = HARVESTER, service_account: str = f"{NAME}/{NAME}", pod_probe: bool = True
) -> list[dict]:
    """ClusterRole and binding for cluster-wide reads (and the pod probe's writes), a Role and
    binding per namespace read only there; bound to `service_account` ("namespace/name")."""
    if cluster not in CLUSTERS:
        raise NotDerivable(f"unknown cluster role {cluster!r}; one of {', '.join(CLUSTERS)}")
    sa_ns, _, sa_name = service_account.partition("/")
    if not sa_ns or not sa_name:
        raise NotDerivable(f"--service-account {service_account!r} is not NAMESPACE/NAME")
    reads = [r for r in union(selection.reads) if r.cluster == cluster]
    wide = [(r.res.group, r.res.plural, READ_VERBS) for r in reads if r.namespace is None]
    if cluster == HARVESTER:
        wide += [(g, res, [verb]) for g, res, verb in selection.rights]
    if pod_probe and selection.node_checks and cluster == HARVESTER:
        wide += list(POD_PROBE_RULES)
    by_ns: dict[str, list[tuple[str, str, list[str]]]] = defaultdict(list)
    for r in reads:
        if r.namespace is not None:
            by_ns[r.namespace].append((r.res.group, r.res.plural, READ_VERBS))
    role = f"{NAME}-{selection.profile}" + ("" if cluster == HARVESTER else f"-{cluster}")
    subject = [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_ns}]
    docs: list[dict] = []
    if wide:
        docs += [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": role},
             "rules": _rules(wide)},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": role},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
             "subjects": subject},
        ]  # fmt: skip
    for ns in sorted(by_ns):
        docs += [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": role, "namespace": ns},
             "rules": _rules(by_ns[ns])},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": role, "namespace": ns},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
             "subjects": subject},
        ]  # fmt: skip
    return docs


def secret_scopes(docs: list[dict]) -> list[str]:
    """Where the manifests grant Secrets: "*" for cluster-wide, else the namespaces."""
    where = []
    for d in docs:
        if d["kind"] in ("ClusterRole", "Role") and any(
            "secrets" in rule["resources"] and "" in rule["apiGroups"] for rule in d["rules"]
        ):
            where.append("*" if d["kind"] == "ClusterRole" else d["metadata"]["namespace"])
    return sorted(where)


def header(selection: Selection, cluster: str) -> str:
    """A YAML comment saying what the roles are for and which checks read Secrets where."""
    secret_readers = sorted(
        {f"{r.namespace or 'every namespace'}" for r in selection.reads if r.res == R.SECRETS and r.cluster == cluster}
    )
    lines = [
        f"# Generated by `harvester-conformance rbac --profile {selection.profile}` for the {cluster} cluster:",
        f"# get/list on what the {len(selection.ids)} selected checks declare they read, nothing else.",
    ]
    if secret_readers:
        lines.append(f"# Secrets are read in: {', '.join(secret_readers)}.")
    return "\n".join(lines) + "\n"
