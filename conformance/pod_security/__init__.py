"""Article: Using Pod Security Standards (PSS) in Harvester To Enforce Secure Workload Isolation
(kb/since-seed/2025-05-08_using-pod-security-standard.md)."""

from harvester_conformance.checks import pod_security as pss
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read
from harvester_conformance.context import RunContext
from harvester_conformance.verdict import Broken

# Namespaces and their enforce labels (PSS-01..03); the VMs and their host devices (PSS-01); the
# CloudInits that configure cluster-wide enforcement and the kube-apiserver mirror pods that show
# whether it is in force, on the nodes (PSS-01, 02, 04); the cluster-pod-security-standard setting
# (PSS-03, 05; settings are a core read too); the ValidatingAdmissionPolicies and bindings (PSS-05).
READS = (
    Read(R.NAMESPACES),
    Read(R.NODES),
    Read(R.VMS),
    Read(R.CLOUD_INITS),
    Read(R.PODS, pss.APISERVER_NS),
    Read(R.HARVESTER_SETTINGS),
    Read(R.VALIDATING_ADMISSION_POLICIES),
    Read(R.VALIDATING_ADMISSION_POLICY_BINDINGS),
)


def host_paths(hc: RunContext) -> list[str]:
    """PSS-04 on the hosts: each cluster-wide CloudInit's /oem file and the RKE2 drop-in its stage writes."""
    try:
        found, _ = pss.cluster_wide(hc.snapshot.list(R.CLOUD_INITS))
    except Broken:
        return []
    return sorted({p for c in found for p in (c.oem_path, c.drop_in) if p.startswith("/") and c.filename})


HOST_PATHS = host_paths
