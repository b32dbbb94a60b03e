"""Article: CVE-2025-1974: ingress-nginx admission controller RCE escalation
(kb/since-seed/2025-03-25_cve-2025-1974.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# ING-01, ING-02, ING-06: the kube-system/rke2-ingress-nginx HelmChartConfig (and its HelmChart, to
# tell whether RKE2's ingress-nginx is deployed at all); ING-01 the chart's admission webhook
# configuration rke2-ingress-nginx-admission.
READS = (
    Read(R.HELM_CHART_CONFIGS, "kube-system"),
    Read(R.HELM_CHARTS, "kube-system"),
    Read(R.VALIDATING_WEBHOOKS),
)
