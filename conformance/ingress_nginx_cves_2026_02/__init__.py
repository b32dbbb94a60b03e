"""Article: Upstream Ingress-Nginx CVEs - CVE-2025-15566, CVE-2026-1580, CVE-2026-24512,
CVE-2026-24513, and CVE-2026-24514 (kb/since-seed/2026-02-23_nginx-ingress-cve.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# ING-03, ING-05: the kube-system/rke2-ingress-nginx HelmChartConfig and HelmChart, the chart's
# admission webhook configuration, the advisories' ValidatingAdmissionPolicies and bindings
# (cluster-scoped) and the Ingresses of every namespace.
READS = (
    Read(R.HELM_CHART_CONFIGS, "kube-system"),
    Read(R.HELM_CHARTS, "kube-system"),
    Read(R.VALIDATING_WEBHOOKS),
    Read(R.VALIDATING_ADMISSION_POLICIES),
    Read(R.VALIDATING_ADMISSION_POLICY_BINDINGS),
    Read(R.INGRESSES),
)
