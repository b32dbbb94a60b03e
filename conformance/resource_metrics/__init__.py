"""Article: Calculation of Resource Metrics in Harvester (kb/calculation_of_resource_metrics_in_harvester.md)."""

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import Read

# Nodes and Longhorn settings are core reads. MET-01 sums every pod by node; MET-02 reads the
# NodeMetrics of the metrics API (metrics.k8s.io, served by metrics-server); MET-03/04 the
# Longhorn nodes.
READS = (
    Read(R.PODS),
    Read(R.NODE_METRICS),
    Read(R.LONGHORN_NODES, "longhorn-system"),
)
