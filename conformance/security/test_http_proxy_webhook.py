"""Section "HTTP Proxy", exercised: Harvester's Setting webhook refuses an http-proxy value whose
noProxy misses a node's InternalIP and admits one that covers them all (HV
pkg/webhook/resources/setting/validator.go, v1.3.1+). Both values are submitted as server-side dry
runs: admission runs in full (the webhook is registered with sideEffects None, HV
pkg/webhook/server/server.go), and nothing is stored, so no proxy ever reaches the cluster's
components and there is nothing to restore."""

from __future__ import annotations

from harvester_conformance.checks import security as sec
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.context import RunContext
from harvester_conformance.invariant import invariant
from harvester_conformance.verdict import Broken, require

SETTING = "http-proxy"


def _submit(cl: Cluster, value: str) -> str | None:
    """The admission refusal's message, or None when the API would store the value."""
    try:
        cl.patch(R.HARVESTER_SETTINGS, SETTING, {"value": value}, dry_run=True)
    except ApiError as exc:
        if exc.status in (400, 422) or (exc.status == 403 and "admission webhook" in exc.message):
            return exc.message or exc.reason
        raise
    return None


@invariant("SEC-02")
def test_webhook_refuses_a_proxy_that_misses_a_node(hc: RunContext) -> None:
    cl = hc.cluster
    setting = cl.get(R.HARVESTER_SETTINGS, SETTING)
    if setting is None:
        raise Broken(f"Setting {SETTING} does not exist")
    probe = sec.proxy_probe(setting, cl.list(R.NODES))
    if probe is None:
        raise Broken("no node reports an InternalIP: nothing for noProxy to cover")
    require(
        sec.check_proxy_admission(probe, _submit(cl, probe.refused), _submit(cl, probe.admitted)),
        "Harvester's webhook does not hold the http-proxy noProxy rule",
    )
