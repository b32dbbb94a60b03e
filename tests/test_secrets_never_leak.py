"""End to end, on an emulated cluster: known secret values seeded in every place a cleaner knows
(Setting private key, proxy and registry passwords, S3 keys, a registration token, a Rancher cloud
credential and its Token, a VM cloud-init Secret, inline user data on a running VM and its VMI, a
Deployment's env and its Pods, kubectl's last-applied copy) never reach the snapshot file, nor any
file of a run's report folder, nor the run's output. Everything seeded is undone: the cluster is
shared with the other tests of the session."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.cluster.reads import Read
from harvester_conformance.cluster.sanitize import MASK, cleaned_types
from harvester_conformance.cluster.snapshot import Snapshot
from harvester_conformance.emulator import pki
from harvester_conformance.emulator.areas import harvester_hosts_rancher as rancher
from harvester_conformance.waits import wait_for

from .conftest import Emulated, run_suite

NS = f"leak-{os.getpid()}"
CC_NAME = "cc-leakt"
CLUSTER_ID = "c-m-leakt3st"
UD_SECRET = "vm-leak-cloudinit"
NETWORK_DATA = "network:\n  version: 1\n  config:\n    - type: physical\n      name: enp1s0\n"
PROXY = "192.0.2.5:3128"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Seeded:
    cluster: Emulated
    cl: Cluster
    needles: dict[str, str] = field(default_factory=dict)  # what -> a value that must never be written
    token_name: str = ""
    undo: list[Callable[[], object]] = field(default_factory=list)

    def secret(self, what: str, value: str) -> str:
        """A value to look for, and its base64. A multi-line value is looked for as its base64 only
        (written in JSON its newlines are escaped): the secrets inside it are seeded as needles of
        their own, or given by `pem_body`."""
        if "\n" not in value:
            self.needles[what] = value
        self.needles[f"{what} (base64)"] = b64(value)
        return value

    def pem_body(self, what: str, pem: str) -> str:
        """Each base64 line of a PEM block: found whatever escaping the block went through."""
        for i, line in enumerate(ln for ln in pem.splitlines() if "-----" not in ln):
            self.needles[f"{what} line {i}"] = line
        return self.secret(what, pem)


def leaks(texts: dict[str, str], needles: dict[str, str]) -> list[tuple[str, str]]:
    return [(where, what) for where, text in texts.items() for what, n in needles.items() if n in text]


# -- seeding ----------------------------------------------------------------------------------------


def set_setting(s: Seeded, name: str, value: str) -> None:
    """Set a Harvester setting's value, undone to what it was (or deleted, when it did not exist)."""
    before = s.cl.get(R.HARVESTER_SETTINGS, name)
    if before is None:
        s.cl.create(
            R.HARVESTER_SETTINGS,
            {
                "apiVersion": R.HARVESTER_SETTINGS.api_version,
                "kind": "Setting",
                "metadata": {"name": name},
                "value": value,
            },
        )
        s.undo.append(lambda: s.cl.delete(R.HARVESTER_SETTINGS, name))
        return
    s.undo.append(lambda: s.cl.patch(R.HARVESTER_SETTINGS, name, {"value": before.get("value")}))
    s.cl.patch(R.HARVESTER_SETTINGS, name, {"value": value})


def seed_settings(s: Seeded) -> None:
    """Values the Setting webhook accepts: a real matching certificate and key, a noProxy covering
    every node's InternalIP (v1.3.1 checks it), JSON objects."""
    ca = pki.make_ca("leak-test-ingress-ca", dt.timedelta(days=30))
    leaf = pki.issue(ca, "harvester.leak.test", dt.timedelta(days=30), dns=("harvester.leak.test",))
    key = s.pem_body("ssl-certificates privateKey", leaf.key_pem.decode())
    ssl = {"ca": ca.cert_pem.decode(), "publicCertificate": leaf.cert_pem.decode(), "privateKey": key}
    set_setting(s, "ssl-certificates", json.dumps(ssl))

    password = s.secret("containerd-registry password", "Reg1stry-Leak-Passw0rd")
    auth = s.secret("containerd-registry auth", b64(f"robot:{password}"))
    registry = {
        "Mirrors": {"docker.io": {"Endpoints": ["https://mirror.leak.test:5000"]}},
        "Configs": {"mirror.leak.test:5000": {"Auth": {"Username": "robot", "Password": password, "Auth": auth}}},
    }
    set_setting(s, "containerd-registry", json.dumps(registry))

    proxy_password = s.secret("http-proxy password", "Pr0xy-Leak-Passw0rd")
    node_ips = [a["address"] for n in s.cl.list(R.NODES) for a in n["status"]["addresses"] if a["type"] == "InternalIP"]
    proxy = {
        "httpProxy": f"http://proxyuser:{proxy_password}@{PROXY}",
        "httpsProxy": f"http://{PROXY}",
        "noProxy": ",".join(["localhost", "127.0.0.1", *node_ips]),
    }
    set_setting(s, "http-proxy", json.dumps(proxy))

    target = {
        "type": "s3",
        "endpoint": "https://s3.leak.test",
        "bucketName": "backups",
        "bucketRegion": "us-east-1",
        "accessKeyId": s.secret("backup-target accessKeyId", "AKIALEAKTESTKEY0001"),
        "secretAccessKey": s.secret("backup-target secretAccessKey", "wJalrLeakTest/K7MDENG/bPxRfiCY0001"),
    }
    set_setting(s, "backup-target", json.dumps(target))
    token = s.secret("cluster-registration-url token", "w9vx7p2qk5jz8mtd4hcbrl6fnsleak")
    set_setting(s, "cluster-registration-url", f"https://rancher.leak.test/v3/import/{token}_{CLUSTER_ID}.yaml")


def seeded_bearer(cl: Cluster) -> tuple[str, bytes]:
    """The emulator's own cloud credential: its bearer token and the CA its kubeconfig names."""
    cc = cl.get(R.SECRETS, rancher.CC_NAME, rancher.CC_NS)
    assert cc is not None, "the emulator seeds a cloud credential"
    kubeconfig = yaml.safe_load(base64.b64decode(cc["data"][rancher.CC_KEY]))
    ca = base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"])
    return kubeconfig["users"][0]["user"]["token"], ca


def seed_cloud_credential(s: Seeded) -> None:
    """A second credential of the emulator's shape, whose token is a real Token object."""
    own_bearer, ca = seeded_bearer(s.cl)
    s.secret("the emulator's cloud-credential token", own_bearer.partition(":")[2])
    bearer = rancher.new_token(s.cl, "u-leakt", 0)
    s.token_name, _, token_secret = bearer.partition(":")
    s.undo.append(lambda: s.cl.delete(R.RANCHER_TOKENS, s.token_name))
    s.secret("cloud-credential bearer", bearer)
    s.secret("cloud-credential token secret", token_secret)
    s.secret("Token object's token", (s.cl.get(R.RANCHER_TOKENS, s.token_name) or {})["token"])
    kubeconfig = s.secret("cloud-credential kubeconfig", rancher.kubeconfig_for(s.cl.host, ca, bearer))
    s.undo.append(lambda: s.cl.delete(R.SECRETS, CC_NAME, rancher.CC_NS))
    s.cl.create(
        R.SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": CC_NAME,
                "namespace": rancher.CC_NS,
                "annotations": {"provisioning.cattle.io/driver": "harvester", "field.cattle.io/name": "leak"},
            },
            "type": "provisioning.cattle.io/cloud-credential",
            "data": rancher.credential_data(kubeconfig, CLUSTER_ID),
        },
    )


def vm(name: str, running: bool, cloud_init: dict) -> dict:
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "running": running,
            "template": {
                "metadata": {"labels": {"harvesterhci.io/vmName": name}},
                "spec": {
                    "domain": {
                        "cpu": {"cores": 1},
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                        "devices": {"disks": [{"name": "cloudinitdisk", "disk": {"bus": "virtio"}}]},
                    },
                    "volumes": [{"name": "cloudinitdisk", "cloudInitNoCloud": cloud_init}],
                },
            },
        },
    }


def seed_namespace(s: Seeded) -> None:
    """Namespaced seeds live in a namespace of their own, deleted (with them) at the end."""
    s.undo.append(lambda: wait_for("namespace-deleted", lambda: s.cl.get(R.NAMESPACES, NS) is None))
    s.undo.append(lambda: s.cl.delete(R.NAMESPACES, NS))
    s.cl.create(R.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})

    password = s.secret("cloud-init Secret password", "Cl0udInit-Secret-Passw0rd")
    secret_ud = s.secret(
        "cloud-init Secret userdata", f"#cloud-config\nchpasswd: {{ expire: False }}\npassword: {password}\n"
    )
    s.cl.create(
        R.SECRETS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": UD_SECRET, "namespace": NS},
            "data": {"userdata": b64(secret_ud), "networkdata": b64(NETWORK_DATA)},
        },
    )
    s.cl.create(
        R.VMS,
        vm("vm-leak-secretref", False, {"secretRef": {"name": UD_SECRET}, "networkDataSecretRef": {"name": UD_SECRET}}),
    )
    password = s.secret("inline userData password", "Inl1ne-UserData-Passw0rd")
    inline = s.secret("inline userData", f"#cloud-config\npassword: {password}\nssh_pwauth: True\n")
    s.cl.create(R.VMS, vm("vm-leak-inline", True, {"userData": inline, "networkData": NETWORK_DATA}))

    applied = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "leak-applied", "namespace": NS},
        "data": {"password": b64(s.secret("last-applied password", "Appl1ed-Leak-Passw0rd"))},
    }
    s.needles["last-applied copy"] = json.dumps(applied)
    applied["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)}
    s.cl.create(R.SECRETS, applied)

    env = [
        {"name": "DB_PASSWORD", "value": s.secret("env DB_PASSWORD", "Env-Db-Leak-Passw0rd")},
        {"name": "HTTPS_PROXY", "value": f"http://u:{s.secret('env proxy password', 'Env-Pr0xy-Leak-Pass')}@{PROXY}"},
    ]
    s.cl.create(
        R.DEPLOYMENTS,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "leak-app", "namespace": NS},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "leak-app"}},
                "template": {
                    "metadata": {"labels": {"app": "leak-app"}},
                    "spec": {"containers": [{"name": "app", "image": "registry.leak.test/app:1", "env": env}]},
                },
            },
        },
    )
    wait_for("vm-running", lambda: s.cl.get(R.VMIS, "vm-leak-inline", NS))
    wait_for("cluster-seeded", lambda: s.cl.list(R.PODS, NS, label_selector="app=leak-app"))


@pytest.fixture(scope="module")
def seeded(emulated) -> Iterator[Seeded]:
    c = emulated("v1.3.1")
    s = Seeded(c, Cluster.from_kubeconfig(str(c.kubeconfig)))
    try:
        seed_settings(s)
        seed_cloud_credential(s)
        seed_namespace(s)
        yield s
    finally:
        for fn in reversed(s.undo):
            fn()
        s.cl.close()


# -- the tests --------------------------------------------------------------------------------------


def test_snapshot_of_every_cleaned_type_holds_no_seeded_secret(seeded: Seeded, tmp_path: Path) -> None:
    snap = Snapshot.take(seeded.cl, [Read(res) for res in cleaned_types()])
    path = tmp_path / "snapshot.json"
    snap.dump(path)
    found = leaks({"snapshot.json": path.read_text()}, seeded.needles)
    assert found == [], f"{len(found)} of {len(seeded.needles)} needles: {found}"
    # a run without workers checks the snapshot as taken, with workers as read back: the same data
    assert Snapshot.load(path)._lists == snap._lists

    # ...while what checks read is intact
    cc = snap.get(R.SECRETS, CC_NAME, rancher.CC_NS)
    assert cc["decoded"]["kubeconfig"]["users"][0]["tokenName"] == seeded.token_name
    assert cc["decoded"]["kubeconfig"]["clusters"][0]["server"] == seeded.cl.host
    assert cc["data"]["harvestercredentialConfig-clusterId"] == b64(CLUSTER_ID)
    assert snap.get(R.RANCHER_TOKENS, seeded.token_name)["token"] == MASK
    assert snap.get(R.SECRETS, UD_SECRET, NS)["decoded"] == {"networkdata": NETWORK_DATA}
    for kind, name in ((R.VMS, "vm-leak-inline"), (R.VMIS, "vm-leak-inline")):
        obj = snap.get(kind, name, NS)
        volumes = obj["spec"]["template"]["spec"]["volumes"] if kind is R.VMS else obj["spec"]["volumes"]
        assert volumes[0]["cloudInitNoCloud"] == {"userData": MASK, "networkData": NETWORK_DATA}
    proxy = json.loads(snap.get(R.HARVESTER_SETTINGS, "http-proxy")["value"])
    assert proxy["httpProxy"] == f"http://proxyuser:{MASK}@{PROXY}" and proxy["noProxy"].startswith("localhost,")
    ssl = json.loads(snap.get(R.HARVESTER_SETTINGS, "ssl-certificates")["value"])
    assert ssl["publicCertificate"].startswith("-----BEGIN CERTIFICATE-----") and ssl["privateKeySpkiSha256"]
    pod = snap.by_label(R.PODS, "app", "leak-app", NS)[0]
    assert {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]} == {
        "DB_PASSWORD": MASK,
        "HTTPS_PROXY": f"http://u:{MASK}@{PROXY}",
    }


def test_a_run_writes_no_seeded_secret_anywhere(seeded: Seeded, tmp_path: Path) -> None:
    r = run_suite(tmp_path, seeded.cluster.kubeconfig)
    assert r.summary is not None, r.stderr[-2000:]
    assert (r.run_dir / "snapshot.json").is_file()  # the run's own snapshot is among the files searched
    texts = {"stdout": r.stdout, "stderr": r.stderr}
    texts.update({str(p): p.read_text(errors="replace") for p in r.run_dir.rglob("*") if p.is_file()})
    found = leaks(texts, seeded.needles)
    assert found == [], f"{len(found)} of {len(seeded.needles)} needles: {found}"
