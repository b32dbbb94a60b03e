"""`harvester-conformance cleanup`: undo what a killed run left behind, and only that.

First the saved originals written onto cluster-wide objects (`changes.SAVED_LABEL`) are put
back, then the namespaces labelled with a run ID are deleted. With --run-id only that run's
leftovers are touched. Whatever could not be undone is printed and makes the exit code 3.
"""

from __future__ import annotations

import sys

from harvester_conformance import exitcodes
from harvester_conformance.changes import RESTORABLE, RUN_LABEL, SAVED_LABEL, label_value, restore
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster, ClusterUnreachable, ConfigError, resolve_kubeconfig

# Cluster-scoped types that active tests create, labelled with the run ID: MIG-07's MigrationPolicy,
# CCR-03's kubeconfig Token (on the Rancher cluster; its copy Secret goes with the run namespace).
CREATED_CLUSTER_WIDE: tuple[R.Resource, ...] = (R.MIGRATION_POLICIES, R.RANCHER_TOKENS)


def _selector(label: str, run_id: str | None) -> str:
    return f"{label}={label_value(run_id)}" if run_id else label


def cleanup_cluster(cl: Cluster, run_id: str | None) -> tuple[list[str], list[str]]:
    """(what was undone, what could not be) on one cluster."""
    done: list[str] = []
    failed: list[str] = []
    for res in RESTORABLE:
        try:
            objects = cl.list(res, label_selector=_selector(SAVED_LABEL, run_id))
        except ApiError as exc:
            if not exc.not_found:  # a type whose API is not installed has nothing to restore
                failed.append(f"{res.key}: cannot list ({exc})")
            continue
        for obj in objects:
            meta = obj["metadata"]
            what = f"{res.kind} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta['name']}"
            try:
                if restore(cl, res, meta["name"], meta.get("namespace")):
                    done.append(f"restored {what}")
            except ApiError as exc:
                failed.append(f"{what}: {exc}")
    # Cluster-scoped objects a run created (namespaced ones go with their namespace).
    for res in CREATED_CLUSTER_WIDE:
        try:
            created = cl.list(res, label_selector=_selector(RUN_LABEL, run_id))
        except ApiError as exc:
            if not exc.not_found:
                failed.append(f"{res.key}: cannot list ({exc})")
            continue
        for obj in created:
            try:
                cl.delete(res, obj["metadata"]["name"])
                done.append(f"deleted {res.kind} {obj['metadata']['name']}")
            except ApiError as exc:
                failed.append(f"{res.kind} {obj['metadata']['name']}: {exc}")
    for ns in cl.list(R.NAMESPACES, label_selector=_selector(RUN_LABEL, run_id)):
        name = ns["metadata"]["name"]
        if ns["metadata"].get("deletionTimestamp"):
            done.append(f"Namespace {name} already being deleted")
            continue
        try:
            cl.delete(R.NAMESPACES, name)
            done.append(f"deleted Namespace {name}")
        except ApiError as exc:
            failed.append(f"Namespace {name}: {exc}")
    return done, failed


def cleanup(
    kubeconfig: str | None, context: str | None, run_id: str | None, rancher_kubeconfig: str | None = None
) -> int:
    """Clean the Harvester cluster, and the Rancher cluster when given (CCR-03 works there)."""
    targets = [("", kubeconfig, context)]
    if rancher_kubeconfig:
        targets.append(("Rancher: ", rancher_kubeconfig, None))
    done: list[str] = []
    failed: list[str] = []
    for prefix, config, ctx in targets:
        try:
            cl = Cluster.from_kubeconfig(resolve_kubeconfig(config), ctx)
        except ConfigError as exc:
            print(f"harvester-conformance: {prefix}{exc}", file=sys.stderr)
            return exitcodes.USAGE
        try:
            ok, bad = cleanup_cluster(cl, run_id)
        except ClusterUnreachable as exc:
            print(f"harvester-conformance: {prefix}cluster unreachable: {exc}", file=sys.stderr)
            return exitcodes.CANNOT_RUN
        finally:
            cl.close()
        done += [prefix + line for line in ok]
        failed += [prefix + line for line in bad]
    for line in done:
        print(line)
    if not done and not failed:
        print("nothing to clean up" + (f" for run {run_id}" if run_id else ""))
    for line in failed:
        print(f"could not undo {line}", file=sys.stderr)
    return exitcodes.CANNOT_RUN if failed else exitcodes.CONFORMS
