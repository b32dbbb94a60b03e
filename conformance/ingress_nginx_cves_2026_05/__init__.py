"""Article: Upstream Ingress-Nginx CVEs - CVE-2026-42945, CVE-2026-42946, CVE-2026-40701,
CVE-2026-42934 (kb/since-seed/2026-05-14_nginx-rift-cve.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# ING-04: the Ingresses of every namespace, the article's ValidatingAdmissionPolicy and binding
# (cluster-scoped), and the kube-system/rke2-ingress-nginx HelmChartConfig and HelmChart (whether
# RKE2's ingress-nginx is deployed at all).
READS = (
    Read(R.HELM_CHART_CONFIGS, "kube-system"),
    Read(R.HELM_CHARTS, "kube-system"),
    Read(R.VALIDATING_ADMISSION_POLICIES),
    Read(R.VALIDATING_ADMISSION_POLICY_BINDINGS),
    Read(R.INGRESSES),
)
