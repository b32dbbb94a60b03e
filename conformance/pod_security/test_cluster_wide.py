"""Section "Cluster scoped enablement": where the article's CloudInit is applied, every
control-plane kube-apiserver runs with its admission configuration file. Its drop-in is written by
the `initramfs` stage, so a node that has the /oem file but has not rebooted since is pending,
not failing."""

from __future__ import annotations

import pytest

from harvester_conformance.checks import pod_security as pss
from harvester_conformance.cluster import resources as R
from harvester_conformance.context import RunContext
from harvester_conformance.hosts import HostFiles
from harvester_conformance.invariant import invariant

from .conftest import active_configurations, apiserver_pods


@invariant("PSS-04")
def test_apiservers_run_with_the_cluster_wide_configuration(hc: RunContext, host_files: HostFiles) -> None:
    confs = active_configurations(hc)
    _, unparsable = pss.cluster_wide(hc.snapshot.list(R.CLOUD_INITS))
    if not confs and not unparsable:
        pytest.skip("not applicable: no active CloudInit configures cluster-wide Pod Security enforcement")
    hosts = host_files.readable()
    pods = apiserver_pods(hc)
    states = [
        pss.judge_apiserver(conf, node, pods.get(pss.apiserver_pod_name(node["metadata"]["name"])),
                            hosts.get(node["metadata"]["name"]))
        for conf in confs
        for node in pss.control_plane_nodes(hc.snapshot.list(R.NODES))
    ]  # fmt: skip
    pending = sorted({s.node for s in states if s.pending})
    note = f" (pending reboot, not counted: {', '.join(pending)})" if pending else ""
    host_files.judge(
        [*unparsable, *(s.finding for s in states)],
        f"kube-apiservers not running with the cluster-wide admission configuration{note}",
    )
    if pending:
        pytest.skip(
            f"pending: {', '.join(pending)} have the CloudInit file but have not rebooted since; the "
            "configuration takes effect at the next boot"
        )
