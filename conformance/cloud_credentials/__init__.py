"""Article: Renew Harvester Cloud Credentials (kb/renew_harvester_cloud_credentials.md)."""

from harvester_conformance.checks.cloud_credentials import NAMESPACE
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.reads import RANCHER, Read

# On the Rancher cluster (--rancher-kubeconfig): the cloud credentials (cleaned: only servers and
# token names survive), the tokens they name, and the token TTL settings. CCR-03 reads it live.
READS = (
    Read(R.SECRETS, NAMESPACE, cluster=RANCHER),
    Read(R.RANCHER_TOKENS, cluster=RANCHER),
    Read(R.RANCHER_SETTINGS, cluster=RANCHER),
)
