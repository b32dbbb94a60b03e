"""Every resource type the suite reads or writes: group, version, plural, scope.

One place for these facts (facts.md): checks name a resource by its key here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    # Kept in etcd (built-in types and CRDs): lists of such types read at one resourceVersion are
    # one consistent picture. An aggregated API (metrics) answers from its own memory.
    stored: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if sub:
                base += f"/{sub}"
        return base

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _r(group: str, version: str, plural: str, kind: str, namespaced: bool = True, stored: bool = True) -> Resource:
    return Resource(group, version, plural, kind, namespaced, stored)


NAMESPACES = _r("", "v1", "namespaces", "Namespace", False)
NODES = _r("", "v1", "nodes", "Node", False)
PODS = _r("", "v1", "pods", "Pod")
SECRETS = _r("", "v1", "secrets", "Secret")
CONFIGMAPS = _r("", "v1", "configmaps", "ConfigMap")
SERVICES = _r("", "v1", "services", "Service")
SERVICE_ACCOUNTS = _r("", "v1", "serviceaccounts", "ServiceAccount")
PVCS = _r("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
DEPLOYMENTS = _r("apps", "v1", "deployments", "Deployment")
DAEMONSETS = _r("apps", "v1", "daemonsets", "DaemonSet")
CRDS = _r("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False)
CLUSTER_ROLES = _r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False)
CLUSTER_ROLE_BINDINGS = _r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False)
VALIDATING_WEBHOOKS = _r(
    "admissionregistration.k8s.io",
    "v1",
    "validatingwebhookconfigurations",
    "ValidatingWebhookConfiguration",
    False,
)
MUTATING_WEBHOOKS = _r(
    "admissionregistration.k8s.io",
    "v1",
    "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration",
    False,
)
API_SERVICES = _r("apiregistration.k8s.io", "v1", "apiservices", "APIService", False)
NODE_METRICS = _r("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, stored=False)
PRIORITY_CLASSES = _r("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False)
STORAGE_CLASSES = _r("storage.k8s.io", "v1", "storageclasses", "StorageClass", False)
CSI_DRIVERS = _r("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False)
SUBJECT_ACCESS_REVIEWS = _r("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False)
SELF_SUBJECT_ACCESS_REVIEWS = _r(
    "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False
)

# Harvester
HARVESTER_SETTINGS = _r("harvesterhci.io", "v1beta1", "settings", "Setting", False)
UPGRADES = _r("harvesterhci.io", "v1beta1", "upgrades", "Upgrade")
VERSIONS = _r("harvesterhci.io", "v1beta1", "versions", "Version")
# KubeVirt
KUBEVIRTS = _r("kubevirt.io", "v1", "kubevirts", "KubeVirt")
VMS = _r("kubevirt.io", "v1", "virtualmachines", "VirtualMachine")
VMIS = _r("kubevirt.io", "v1", "virtualmachineinstances", "VirtualMachineInstance")
VMIMS = _r("kubevirt.io", "v1", "virtualmachineinstancemigrations", "VirtualMachineInstanceMigration")
MIGRATION_POLICIES = _r("migrations.kubevirt.io", "v1alpha1", "migrationpolicies", "MigrationPolicy", False)
# Longhorn
LONGHORN_NODES = _r("longhorn.io", "v1beta2", "nodes", "Node")
LONGHORN_SETTINGS = _r("longhorn.io", "v1beta2", "settings", "Setting")
LONGHORN_VOLUMES = _r("longhorn.io", "v1beta2", "volumes", "Volume")
LONGHORN_REPLICAS = _r("longhorn.io", "v1beta2", "replicas", "Replica")
LONGHORN_ENGINE_IMAGES = _r("longhorn.io", "v1beta2", "engineimages", "EngineImage")
# Load balancer and networks
IPPOOLS = _r("loadbalancer.harvesterhci.io", "v1beta1", "ippools", "IPPool", False)
LOADBALANCERS = _r("loadbalancer.harvesterhci.io", "v1beta1", "loadbalancers", "LoadBalancer")
CLUSTER_NETWORKS = _r("network.harvesterhci.io", "v1beta1", "clusternetworks", "ClusterNetwork", False)
VLAN_CONFIGS = _r("network.harvesterhci.io", "v1beta1", "vlanconfigs", "VlanConfig", False)
PERSISTENT_VOLUMES = _r("", "v1", "persistentvolumes", "PersistentVolume", False)
ENDPOINTS = _r("", "v1", "endpoints", "Endpoints")
EVENTS = _r("", "v1", "events", "Event")
REPLICASETS = _r("apps", "v1", "replicasets", "ReplicaSet")
VOLUME_SNAPSHOT_CLASSES = _r("snapshot.storage.k8s.io", "v1", "volumesnapshotclasses", "VolumeSnapshotClass", False)
VOLUME_SNAPSHOT_CONTENTS = _r("snapshot.storage.k8s.io", "v1", "volumesnapshotcontents", "VolumeSnapshotContent", False)
VOLUME_SNAPSHOTS = _r("snapshot.storage.k8s.io", "v1", "volumesnapshots", "VolumeSnapshot")
DATA_VOLUMES = _r("cdi.kubevirt.io", "v1beta1", "datavolumes", "DataVolume")
NADS = _r("k8s.cni.cncf.io", "v1", "network-attachment-definitions", "NetworkAttachmentDefinition")
VM_IMAGES = _r("harvesterhci.io", "v1beta1", "virtualmachineimages", "VirtualMachineImage")
VM_BACKUPS = _r("harvesterhci.io", "v1beta1", "virtualmachinebackups", "VirtualMachineBackup")
SCHEDULE_VM_BACKUPS = _r("harvesterhci.io", "v1beta1", "schedulevmbackups", "ScheduleVMBackup")
LONGHORN_ENGINES = _r("longhorn.io", "v1beta2", "engines", "Engine")
LONGHORN_INSTANCE_MANAGERS = _r("longhorn.io", "v1beta2", "instancemanagers", "InstanceManager")
LONGHORN_RECURRING_JOBS = _r("longhorn.io", "v1beta2", "recurringjobs", "RecurringJob")
LONGHORN_SNAPSHOTS = _r("longhorn.io", "v1beta2", "snapshots", "Snapshot")
LONGHORN_BACKING_IMAGES = _r("longhorn.io", "v1beta2", "backingimages", "BackingImage")
VLAN_STATUSES = _r("network.harvesterhci.io", "v1beta1", "vlanstatuses", "VlanStatus", False)
# The v1.0.x NodeNetwork (NC <= v0.3.2). Harvester v1.2+ answers 404 for it: an empty list.
NODE_NETWORKS = _r("network.harvesterhci.io", "v1beta1", "nodenetworks", "NodeNetwork", False)
LINK_MONITORS = _r("network.harvesterhci.io", "v1beta1", "linkmonitors", "LinkMonitor", False)
RANCHER_SETTINGS = _r("management.cattle.io", "v3", "settings", "Setting", False)
RANCHER_TOKENS = _r("management.cattle.io", "v3", "tokens", "Token", False)
RANCHER_PROJECTS = _r("management.cattle.io", "v3", "projects", "Project")
MANAGED_CHARTS = _r("management.cattle.io", "v3", "managedcharts", "ManagedChart")
PROVISIONING_CLUSTERS = _r("provisioning.cattle.io", "v1", "clusters", "Cluster")
CAPI_CLUSTERS = _r("cluster.x-k8s.io", "v1beta1", "clusters", "Cluster")
CAPI_MACHINES = _r("cluster.x-k8s.io", "v1beta1", "machines", "Machine")
FLEET_BUNDLES = _r("fleet.cattle.io", "v1alpha1", "bundles", "Bundle")
INGRESSES = _r("networking.k8s.io", "v1", "ingresses", "Ingress")
HELM_CHART_CONFIGS = _r("helm.cattle.io", "v1", "helmchartconfigs", "HelmChartConfig")
HELM_CHARTS = _r("helm.cattle.io", "v1", "helmcharts", "HelmChart")
VALIDATING_ADMISSION_POLICIES = _r(
    "admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy", False
)
VALIDATING_ADMISSION_POLICY_BINDINGS = _r(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicybindings",
    "ValidatingAdmissionPolicyBinding",
    False,
)
CLOUD_INITS = _r("node.harvesterhci.io", "v1beta1", "cloudinits", "CloudInit", False)
VOLUME_ATTACHMENTS = _r("storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment", False)
LONGHORN_VOLUME_ATTACHMENTS = _r("longhorn.io", "v1beta2", "volumeattachments", "VolumeAttachment")
ADDONS = _r("harvesterhci.io", "v1beta1", "addons", "Addon")
BLOCK_DEVICES = _r("harvesterhci.io", "v1beta1", "blockdevices", "BlockDevice")
ROLES = _r("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = _r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
