"""Area module (see areas/__init__.py): Velero backups and filesystem freeze (articles 2025-05-26 and
2025-10-07; checks/velero_backups.py, checks/velero_filesystem_freeze.py).

Seed: Velero as the article installs it (`velero install --provider aws --features=EnableCSI
--plugins velero/velero-plugin-for-aws:v1.12.0,quay.io/kubevirt/kubevirt-velero-plugin:v0.7.1
--use-node-agent`, Velero v1.16.0; vmware-tanzu/velero pkg/install/deployment.go): namespace
`velero`, ServiceAccount and Deployment `velero` labelled `component: velero`, the plugins as init
containers, the CLI's default requests and limits. The node-agent DaemonSet, the CRDs and the
backup storage location are left out: the checks detect Velero by its server Deployment and read
nothing else of it. Then the article's step "Select Longhorn Volume Snapshot Class": the label
`velero.io/csi-volumesnapshot-class` on Longhorn's `longhorn` class. The healthy seed has no VM with
backup hooks and no NFS class (VEL-02 and VEL-03 find nothing to judge).

Faults:
- VEL-01: the labelling step skipped: the `longhorn` class without the label;
- VEL-02: a VM whose template carries the article's hooks copied as published, with the stray quote
  that leaves the pre-hook's command no JSON array (the VM is stopped: the hooks are judged on the
  template; a launcher would copy them as they are);
- VEL-03: the article's NFS CSI class `nfs-csi` and a stopped VM with a data volume on it in Block
  mode (Harvester's default volume mode), which NFS CSI cannot snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator.faults import Fault
from harvester_conformance.emulator.profiles import ProfileSpec
from harvester_conformance.waits import wait_for

MANAGER = "velero-install"
NS = "velero"
VELERO_IMAGE = "velero/velero:v1.16.0"
PLUGINS = ("velero/velero-plugin-for-aws:v1.12.0", "quay.io/kubevirt/kubevirt-velero-plugin:v0.7.1")
VSC = "longhorn"
VSC_LABEL = "velero.io/csi-volumesnapshot-class"
VM_NS = "default"
VEL02_VM = "hc-vel02-freeze"
VEL03_VM = "hc-vel03-nfs"
VEL03_PVC = f"{VEL03_VM}-data"
NFS_CLASS = "nfs-csi"


def velero_deployment() -> dict:
    labels = {"component": "velero"}
    init = [
        {
            "name": image.rsplit("/", 1)[1].split(":")[0],
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "volumeMounts": [{"name": "plugins", "mountPath": "/target"}],
        }
        for image in PLUGINS
    ]
    return {
        "metadata": {"name": "velero", "namespace": NS, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"deploy": "velero"}},
            "template": {
                "metadata": {
                    "labels": {**labels, "deploy": "velero"},
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8085"},
                },
                "spec": {
                    "serviceAccountName": "velero",
                    "restartPolicy": "Always",
                    "initContainers": init,
                    "containers": [
                        {
                            "name": "velero",
                            "image": VELERO_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["/velero"],
                            "args": ["server", "--features=EnableCSI", "--uploader-type=kopia"],
                            "ports": [{"name": "metrics", "containerPort": 8085}],
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "env": [
                                {"name": "VELERO_NAMESPACE", "value": NS},
                                {"name": "VELERO_SCRATCH_DIR", "value": "/scratch"},
                                {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/credentials/cloud"},
                            ],
                            "volumeMounts": [
                                {"name": "plugins", "mountPath": "/plugins"},
                                {"name": "scratch", "mountPath": "/scratch"},
                                {"name": "cloud-credentials", "mountPath": "/credentials"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "plugins", "emptyDir": {}},
                        {"name": "scratch", "emptyDir": {}},
                        {"name": "cloud-credentials", "secret": {"secretName": "cloud-credentials"}},
                    ],
                },
            },
        },
    }


def _label_class(cl: Cluster, present: bool) -> None:
    cl.patch(R.VOLUME_SNAPSHOT_CLASSES, VSC, {"metadata": {"labels": {VSC_LABEL: "true" if present else None}}})


def seed(cl: Cluster, spec: ProfileSpec, state_dir: Path, progress: Callable[[str], None]) -> None:
    cl.apply(R.NAMESPACES, {"metadata": {"name": NS, "labels": {"component": "velero"}}}, manager=MANAGER)
    cl.apply(
        R.SERVICE_ACCOUNTS,
        {"metadata": {"name": "velero", "namespace": NS, "labels": {"component": "velero"}}},
        manager=MANAGER,
    )
    cl.apply(R.DEPLOYMENTS, velero_deployment(), manager=MANAGER)
    _label_class(cl, True)
    progress("Velero (velero/velero) installed, the longhorn VolumeSnapshotClass labelled for it")


def ready(cl: Cluster, spec: ProfileSpec) -> bool:
    """Velero's server is available."""
    dep = cl.get(R.DEPLOYMENTS, "velero", NS) or {}
    return bool((dep.get("status") or {}).get("availableReplicas"))


CONTROLLERS: list = []
WEBHOOKS: list = []
API_GROUPS: list = []


# -- faults -----------------------------------------------------------------------------------------
BOOT_IMAGE = "quay.io/containerdisks/ubuntu:24.04"


def _stopped_vm(name: str, annotations: dict, volumes: list[tuple[str, str]]) -> dict:
    """A stopped VM with the given template annotations, booting from a container disk (no boot
    volume on the NFS class: a third-party root volume is a matter of its own before v1.5, CSI-03)
    with the given (disk, claim) data volumes."""
    disks = [{"name": "boot", "bootOrder": 1, "disk": {"bus": "virtio"}}]
    disks += [{"name": disk, "disk": {"bus": "virtio"}} for disk, _ in volumes]
    vols = [{"name": "boot", "containerDisk": {"image": BOOT_IMAGE}}]
    vols += [{"name": disk, "persistentVolumeClaim": {"claimName": claim}} for disk, claim in volumes]
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": VM_NS},
        "spec": {
            "running": False,
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "domain": {"resources": {"limits": {"cpu": "1", "memory": "2Gi"}}, "devices": {"disks": disks}},
                    "volumes": vols,
                },
            },
        },
    }


def article_hooks(ns: str, name: str) -> dict:
    """The article's annotations with the VM filled in, the pre-hook's stray quote included."""
    args = ", ".join(f'"{a}"' for a in ("/usr/bin/virt-freezer", "--freeze", "--namespace", ns, "--name", name))
    post = ", ".join(f'"{a}"' for a in ("/usr/bin/virt-freezer", "--unfreeze", "--namespace", ns, "--name", name))
    return {
        "pre.hook.backup.velero.io/command": f"[{args}']",
        "pre.hook.backup.velero.io/container": "compute",
        "pre.hook.backup.velero.io/on-error": "Fail",
        "pre.hook.backup.velero.io/timeout": "30s",
        "post.hook.backup.velero.io/command": f"[{post}]",
        "post.hook.backup.velero.io/container": "compute",
        "post.hook.backup.velero.io/timeout": "30s",
    }


def _delete(cl: Cluster, res: R.Resource, name: str, ns: str | None) -> None:
    try:
        cl.delete(res, name, ns)
    except ApiError as exc:
        if not exc.not_found:
            raise
    wait_for("object-deleted", lambda: cl.get(res, name, ns) is None)


def _vel02(cl: Cluster) -> None:
    cl.create(R.VMS, _stopped_vm(VEL02_VM, article_hooks(VM_NS, VEL02_VM), []), VM_NS)


def _vel02_revert(cl: Cluster) -> None:
    _delete(cl, R.VMS, VEL02_VM, VM_NS)


def nfs_class() -> dict:
    """The NFS CSI example's class (kubernetes-csi/csi-driver-nfs deploy/example/storageclass-nfs.yaml)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": NFS_CLASS},
        "provisioner": "nfs.csi.k8s.io",
        "parameters": {"server": "nfs-server.default.svc.cluster.local", "share": "/"},
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
        "mountOptions": ["nfsvers=4.1"],
    }


def _vel03(cl: Cluster) -> None:
    if cl.get(R.STORAGE_CLASSES, NFS_CLASS) is None:
        cl.create(R.STORAGE_CLASSES, nfs_class())
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": VEL03_PVC, "namespace": VM_NS},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "volumeMode": "Block",
            "storageClassName": NFS_CLASS,
            "resources": {"requests": {"storage": "10Gi"}},
        },
    }
    cl.create(R.PVCS, pvc, VM_NS)
    cl.create(R.VMS, _stopped_vm(VEL03_VM, {}, [("disk-1", VEL03_PVC)]), VM_NS)


def _vel03_revert(cl: Cluster) -> None:
    _delete(cl, R.VMS, VEL03_VM, VM_NS)
    _delete(cl, R.PVCS, VEL03_PVC, VM_NS)
    _delete(cl, R.STORAGE_CLASSES, NFS_CLASS, None)


FAULTS: list[Fault] = [
    Fault(
        "VEL-01",
        f"Velero installed without the article's labelling step: VolumeSnapshotClass {VSC} has no {VSC_LABEL}",
        lambda cl: _label_class(cl, False),
        lambda cl: _label_class(cl, True),
        objects=(f"VolumeSnapshotClass {VSC}",),
    ),
    Fault(
        "VEL-02",
        f"VM {VM_NS}/{VEL02_VM} with the article's freeze hooks copied as published: the pre-hook's stray quote "
        "leaves its command no JSON array",
        _vel02,
        _vel02_revert,
        objects=(f"VirtualMachine {VM_NS}/{VEL02_VM}",),
        creates=(f"VirtualMachine {VM_NS}/{VEL02_VM}",),
    ),
    Fault(
        "VEL-03",
        f"VM {VM_NS}/{VEL03_VM} with a Block-mode data volume {VEL03_PVC} on the NFS CSI class {NFS_CLASS}",
        _vel03,
        _vel03_revert,
        objects=(f"PersistentVolumeClaim {VM_NS}/{VEL03_PVC}",),
        creates=(f"PersistentVolumeClaim {VM_NS}/{VEL03_PVC}",),
    ),
]

__all__ = ["API_GROUPS", "CONTROLLERS", "FAULTS", "WEBHOOKS", "ready", "seed"]
