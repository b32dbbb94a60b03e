"""`harvester-conformance cleanup`: remove the namespaces active tests created (labelled with
their run ID) when a run was killed before its own cleanup ran. Reports what it could not remove."""

from __future__ import annotations

import os
import sys

from harvester_conformance import exitcodes
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster

RUN_LABEL = "harvester-conformance.io/run-id"


def cleanup(kubeconfig: str | None, context: str | None, run_id: str | None) -> int:
    cl = Cluster.from_kubeconfig(kubeconfig or os.environ.get("KUBECONFIG"), context)
    selector = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
    failed = []
    removed = 0
    for ns in cl.list(R.NAMESPACES, label_selector=selector):
        name = ns["metadata"]["name"]
        try:
            cl.delete(R.NAMESPACES, name)
            removed += 1
        except ApiError as exc:
            failed.append(f"{name}: {exc}")
    print(f"removed {removed} namespace(s) labelled {selector}")
    for f in failed:
        print(f"could not remove {f}", file=sys.stderr)
    return exitcodes.CANNOT_RUN if failed else exitcodes.CONFORMS
