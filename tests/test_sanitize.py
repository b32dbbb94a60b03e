"""Per-type cleaning of the snapshot: on realistic objects, each cleaner removes the secret values
(gone from the JSON, plain and base64), keeps what checks read, registers what it removed with the
redactor, and never touches its input."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.resources import Resource
from harvester_conformance.cluster.sanitize import MASK, cleaned_types, sanitize
from harvester_conformance.emulator import pki
from harvester_conformance.reporting.redact import REDACT


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def clean(res: Resource, item: dict) -> tuple[dict, str]:
    """The cleaned object and its JSON; the input must be untouched."""
    before = copy.deepcopy(item)
    out = sanitize(res, item)
    assert item == before
    return out, json.dumps(out)


def assert_gone(text: str, *values: str) -> None:
    for v in values:
        assert v not in text and b64(v) not in text, v[:16]
        assert v not in REDACT(f"an error quoting {v} and {b64(v)}"), v[:16]  # registered


def secret(name: str, data: dict[str, str], type_: str = "Opaque", namespace: str = "default", **meta: Any) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "uid": "0b0e", **meta},
        "type": type_,
        "data": {k: b64(v) for k, v in data.items()},
    }


def setting(name: str, value: str, default: str = "") -> dict:
    return {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "Setting",
        "metadata": {"name": name},
        "value": value,
        "default": default,
    }


@pytest.fixture(scope="module")
def serving() -> tuple[pki.KeyPair, pki.KeyPair]:
    ca = pki.make_ca("ingress-ca", dt.timedelta(days=30))
    return ca, pki.issue(ca, "harvester.example.internal", dt.timedelta(days=30), dns=("harvester.example.internal",))


# -- Secrets ----------------------------------------------------------------------------------------


def test_tls_secret_keeps_certificate_and_lists_the_removed_key(serving) -> None:
    _, leaf = serving
    item = secret(
        "kubevirt-virt-api-certs",
        {"tls.crt": leaf.cert_pem.decode(), "tls.key": leaf.key_pem.decode()},
        "kubernetes.io/tls",
        "harvester-system",
        annotations={"kubevirt.io/duration": "24h"},
    )
    out, text = clean(R.SECRETS, item)
    assert out["data"] == {"tls.crt": item["data"]["tls.crt"]}
    assert out["redactedKeys"] == ["tls.key"]
    assert out["metadata"]["annotations"] == {"kubevirt.io/duration": "24h"}
    assert_gone(text, leaf.key_pem.decode())


def test_service_account_token_keeps_namespace_and_ca() -> None:
    item = secret(
        "harvester-token",
        {
            "ca.crt": "CA",
            "namespace": "harvester-system",
            "token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
        },
        "kubernetes.io/service-account-token",
    )
    out, text = clean(R.SECRETS, item)
    assert set(out["data"]) == {"ca.crt", "namespace"} and out["redactedKeys"] == ["token"]
    assert "harvester-system" in REDACT("namespace harvester-system")  # a kept value is never registered
    assert_gone(text, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ")


def test_unknown_secret_loses_every_non_public_key() -> None:
    docker = json.dumps({"auths": {"registry.example.com": {"auth": b64("robot:Reg1stryPassw0rd")}}})
    out, text = clean(R.SECRETS, secret("pull", {".dockerconfigjson": docker}, "kubernetes.io/dockerconfigjson"))
    assert out["data"] == {} and out["redactedKeys"] == [".dockerconfigjson"]
    assert_gone(text, docker)


def test_last_applied_copy_of_a_secret_is_masked() -> None:
    item = secret("applied", {"password": "Appl1ed-Passw0rd"})
    applied = json.dumps({"apiVersion": "v1", "kind": "Secret", "data": item["data"]})
    item["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": applied, "keep": "me"}
    out, text = clean(R.SECRETS, item)
    assert out["metadata"]["annotations"] == {"kubectl.kubernetes.io/last-applied-configuration": MASK, "keep": "me"}
    assert_gone(text, "Appl1ed-Passw0rd", applied)


def rancher_kubeconfig(token: str, server: str = "https://192.168.1.10/k8s/clusters/local", **user: str) -> str:
    """The shape Rancher downloads (and the emulator seeds): one cluster, one token user."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority-data": b64("CA")}}],
            "users": [{"name": "local", "user": {"token": token, **user}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
            "current-context": "local",
        }
    )


def cloud_credential(kubeconfig: str, type_: str = "provisioning.cattle.io/cloud-credential") -> dict:
    return secret(
        "cc-x7k2p",
        {
            "harvestercredentialConfig-kubeconfigContent": kubeconfig,
            "harvestercredentialConfig-clusterType": "imported",
            "harvestercredentialConfig-clusterId": "c-m-4xq8z2hv",
        },
        type_,
        "cattle-global-data",
        annotations={"provisioning.cattle.io/driver": "harvester", "field.cattle.io/name": "harvester-local"},
    )


RANCHER_SECRET = "x8k2m9q4w7zt5r1vb6n3c0p8lj4hd2sg7fa5ke9ou1yi3tq6wm8xr"


@pytest.mark.parametrize("type_", ["provisioning.cattle.io/cloud-credential", "Opaque"])
def test_cloud_credential_keeps_server_cluster_and_token_name(type_: str) -> None:
    bearer = f"kubeconfig-u-7hq2xbc4kd:{RANCHER_SECRET}"
    kubeconfig = rancher_kubeconfig(bearer)
    out, text = clean(R.SECRETS, cloud_credential(kubeconfig, type_))
    assert set(out["data"]) == {"harvestercredentialConfig-clusterType", "harvestercredentialConfig-clusterId"}
    assert out["redactedKeys"] == ["harvestercredentialConfig-kubeconfigContent"]
    summary = out["decoded"]["kubeconfig"]
    assert summary["clusters"] == [{"name": "local", "server": "https://192.168.1.10/k8s/clusters/local"}]
    assert summary["currentContext"] == "local"
    assert summary["contexts"] == [{"name": "local", "cluster": "local", "user": "local"}]
    assert summary["users"] == [
        {"name": "local", "auth": ["token"], "tokenName": "kubeconfig-u-7hq2xbc4kd", "tokenExpiresAt": None}
    ]
    assert_gone(text, bearer, RANCHER_SECRET, kubeconfig)


def jwt(claims: dict) -> str:
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


def test_cloud_credential_with_a_jwt_keeps_its_expiry_and_never_a_client_key(serving) -> None:
    exp = int(dt.datetime(2031, 5, 17, 8, 30, tzinfo=dt.UTC).timestamp())
    token = jwt({"sub": "system:serviceaccount:default:harvester-cc", "exp": exp})
    _, leaf = serving
    key_data = b64(leaf.key_pem.decode())
    kubeconfig = rancher_kubeconfig(
        token,
        "https://harvester:pw-in-url-1234@10.0.0.5:6443",
        **{"client-key-data": key_data, "client-certificate-data": b64(leaf.cert_pem.decode())},
    )
    out, text = clean(R.SECRETS, cloud_credential(kubeconfig))
    user = out["decoded"]["kubeconfig"]["users"][0]
    assert user["tokenName"] is None and user["tokenExpiresAt"] == "2031-05-17T08:30:00Z"
    assert user["auth"] == ["client-certificate-data", "client-key-data", "token"]
    assert out["decoded"]["kubeconfig"]["clusters"][0]["server"] == f"https://harvester:{MASK}@10.0.0.5:6443"
    assert_gone(text, token, key_data, leaf.key_pem.decode(), "pw-in-url-1234")


def test_cloud_credential_that_does_not_parse_is_removed_whole() -> None:
    item = cloud_credential("{unbalanced: [kubeconfig-u-aaaa:" + RANCHER_SECRET)
    out, text = clean(R.SECRETS, item)
    assert out["decoded"] == {"kubeconfig": {"error": "the kubeconfig is not valid base64 YAML"}}
    assert_gone(text, RANCHER_SECRET)


USER_DATA = "#cloud-config\npassword: Ubuntu-Cl0ud-Passw0rd\nchpasswd: { expire: False }\nssh_pwauth: True\n"
NETWORK_DATA = (
    "network:\n  version: 1\n  config:\n    - type: physical\n      name: enp1s0\n      subnets:\n"
    "        - type: dhcp\n"
)


@pytest.mark.parametrize("keys", [("userdata", "networkdata"), ("userData", "networkData")])
def test_vm_cloud_init_secret_keeps_network_data_only(keys: tuple[str, str]) -> None:
    user_key, net_key = keys
    out, text = clean(R.SECRETS, secret("vm-1-h8d2c", {user_key: USER_DATA, net_key: NETWORK_DATA}))
    assert out["data"] == {net_key: b64(NETWORK_DATA)} and out["redactedKeys"] == [user_key]
    assert out["decoded"] == {net_key: NETWORK_DATA}
    assert_gone(text, USER_DATA, "Ubuntu-Cl0ud-Passw0rd")


# -- Harvester settings -----------------------------------------------------------------------------


def test_ssl_certificates_keep_certificate_and_ca_and_the_key_fingerprint(serving) -> None:
    ca, leaf = serving
    doc = {"ca": ca.cert_pem.decode(), "publicCertificate": leaf.cert_pem.decode(), "privateKey": leaf.key_pem.decode()}
    out, text = clean(R.HARVESTER_SETTINGS, setting("ssl-certificates", json.dumps(doc), json.dumps(doc)))
    for field in ("value", "default"):
        kept = json.loads(out[field])
        assert kept["ca"] == doc["ca"] and kept["publicCertificate"] == doc["publicCertificate"]
        assert kept["privateKey"] == MASK
        spki = leaf.cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert kept["privateKeySpkiSha256"] == hashlib.sha256(spki).hexdigest()  # the key fits the certificate
    assert_gone(text, doc["privateKey"])


def test_ssl_certificates_that_do_not_parse_still_lose_the_key(serving) -> None:
    _, leaf = serving
    broken = '{"publicCertificate": "x", "privateKey": ' + json.dumps(leaf.key_pem.decode())  # truncated JSON
    out, text = clean(R.HARVESTER_SETTINGS, setting("ssl-certificates", broken))
    assert out["value"].startswith('{"publicCertificate": "x", "privateKey": "') and MASK in out["value"]
    assert_gone(text, leaf.key_pem.decode())


def test_ssl_certificates_with_an_unparsable_key_say_so(serving) -> None:
    doc = {"publicCertificate": serving[1].cert_pem.decode(), "privateKey": "not-a-key-but-secret-anyway"}
    out, text = clean(R.HARVESTER_SETTINGS, setting("ssl-certificates", json.dumps(doc)))
    assert json.loads(out["value"])["privateKeySpkiSha256"] == ""
    assert_gone(text, "not-a-key-but-secret-anyway")


def test_containerd_registry_loses_credentials_and_keeps_mirrors_and_usernames() -> None:
    doc = {
        "Mirrors": {"docker.io": {"Endpoints": ["https://mirror.example.com:5000"]}},
        "Configs": {
            "mirror.example.com:5000": {
                "Auth": {
                    "Username": "robot",
                    "Password": "Mirr0r-Passw0rd",
                    "Auth": b64("robot:Mirr0r-Passw0rd"),
                    "IdentityToken": "id-t0ken-value",
                },
                "TLS": {"InsecureSkipVerify": True},
            }
        },
        "auths": {"legacy.example.com": {"password": "Leg4cy-Passw0rd"}},  # case-insensitive, deprecated map
    }
    out, text = clean(R.HARVESTER_SETTINGS, setting("containerd-registry", json.dumps(doc)))
    kept = json.loads(out["value"])
    assert kept["Mirrors"] == doc["Mirrors"]
    assert kept["Configs"]["mirror.example.com:5000"]["Auth"] == {
        "Username": "robot",
        "Password": MASK,
        "Auth": MASK,
        "IdentityToken": MASK,
    }
    assert kept["Configs"]["mirror.example.com:5000"]["TLS"] == {"InsecureSkipVerify": True}
    assert_gone(text, "Mirr0r-Passw0rd", b64("robot:Mirr0r-Passw0rd"), "id-t0ken-value", "Leg4cy-Passw0rd")


def test_containerd_registry_that_does_not_parse_still_loses_credentials() -> None:
    out, text = clean(
        R.HARVESTER_SETTINGS,
        setting("containerd-registry", '{"Configs": {"r": {"Auth": {"Password": "Half-Wr1tten-Pass"'),
    )
    assert '"Password": "' + MASK in out["value"]
    assert_gone(text, "Half-Wr1tten-Pass")


@pytest.mark.parametrize(
    "proxy", ["http://proxyuser:Pr0xy-Passw0rd@192.0.2.5:3128", "proxyuser:Pr0xy-Passw0rd@192.0.2.5:3128"]
)
def test_http_proxy_masks_the_password_and_keeps_no_proxy(proxy: str) -> None:
    doc = {"httpProxy": proxy, "httpsProxy": "http://192.0.2.5:3128", "noProxy": "localhost,127.0.0.1,10.0.0.0/8"}
    out, text = clean(R.HARVESTER_SETTINGS, setting("http-proxy", json.dumps(doc)))
    kept = json.loads(out["value"])
    assert kept["httpProxy"] == proxy.replace("Pr0xy-Passw0rd", MASK)
    assert kept["httpsProxy"] == doc["httpsProxy"] and kept["noProxy"] == doc["noProxy"]
    assert_gone(text, "Pr0xy-Passw0rd")


def test_http_proxy_password_url_encoded_is_registered_in_both_forms() -> None:
    doc = {"httpProxy": "http://u:p%40ss-w0rd-enc@proxy:3128"}
    out, text = clean(R.HARVESTER_SETTINGS, setting("http-proxy", json.dumps(doc)))
    assert json.loads(out["value"])["httpProxy"] == f"http://u:{MASK}@proxy:3128"
    assert_gone(text, "p%40ss-w0rd-enc", "p@ss-w0rd-enc")


def test_backup_target_loses_s3_keys_and_keeps_where_backups_go() -> None:
    doc = {
        "type": "s3",
        "endpoint": "https://s3.example.com",
        "accessKeyId": "AKIAEXAMPLEKEY123",
        "secretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "bucketName": "backups",
        "bucketRegion": "us-east-1",
        "cert": "",
        "virtualHostedStyle": False,
    }
    out, text = clean(R.HARVESTER_SETTINGS, setting("backup-target", json.dumps(doc)))
    kept = json.loads(out["value"])
    assert kept == {**doc, "accessKeyId": MASK, "secretAccessKey": MASK}
    assert_gone(text, "AKIAEXAMPLEKEY123", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


IMPORT_URL = "https://rancher.example.com/v3/import/w9vx7p2qk5jz8mtd4hcbrl6fns_c-m-4xq8z2hv.yaml"


@pytest.mark.parametrize(
    "value",
    [
        IMPORT_URL,
        IMPORT_URL.replace("_c-m-4xq8z2hv", ""),
        json.dumps({"url": IMPORT_URL, "insecureSkipTLSVerify": True}),
    ],
    ids=["plain", "without-cluster-id", "json"],
)
def test_cluster_registration_url_loses_the_registration_token(value: str) -> None:
    """Plain URL up to v1.5 (HV pkg/controller/master/setting/cluster_registration_url.go); a JSON
    form with `url` is handled by the same text rule."""
    out, text = clean(R.HARVESTER_SETTINGS, setting("cluster-registration-url", value))
    assert out["value"] == value.replace("w9vx7p2qk5jz8mtd4hcbrl6fns", MASK)
    assert_gone(text, "w9vx7p2qk5jz8mtd4hcbrl6fns")


def test_other_settings_are_kept_as_they_are() -> None:
    item = setting("overcommit-config", '{"cpu":1600,"memory":150,"storage":200}', '{"cpu":1600}')
    out, _ = clean(R.HARVESTER_SETTINGS, item)
    assert out == item


def test_longhorn_and_rancher_settings_lose_url_passwords_only() -> None:
    lh = {
        "metadata": {"name": "backup-target", "namespace": "longhorn-system"},
        "value": "nfs://backup:Nfs-Passw0rd-1@10.0.0.9:/exports",
    }
    out, text = clean(R.LONGHORN_SETTINGS, lh)
    assert out["value"] == f"nfs://backup:{MASK}@10.0.0.9:/exports"
    assert_gone(text, "Nfs-Passw0rd-1")
    plain = {"metadata": {"name": "kubeconfig-default-token-ttl-minutes"}, "value": "0", "default": "43200"}
    assert clean(R.RANCHER_SETTINGS, plain)[0] == plain


# -- VMs, backups, images ---------------------------------------------------------------------------


def vm(volumes: list[dict]) -> dict:
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": "vm-1", "namespace": "default"},
        "spec": {
            "running": True,
            "template": {
                "spec": {"domain": {"devices": {"disks": [{"name": "cloudinitdisk", "disk": {}}]}}, "volumes": volumes}
            },
            "dataVolumeTemplates": [
                {
                    "metadata": {"name": "dv"},
                    "spec": {
                        "source": {
                            "http": {"url": "https://images.example.com/u.qcow2?X-Amz-Signature=abcdef0123456789sig"}
                        }
                    },
                }
            ],
        },
    }


CLOUD_INIT = [
    {"name": "disk-0", "persistentVolumeClaim": {"claimName": "vm-1-disk-0"}},
    {"name": "cloudinitdisk", "cloudInitNoCloud": {"userData": USER_DATA, "networkData": NETWORK_DATA}},
]


def test_vm_inline_cloud_init_keeps_network_data() -> None:
    out, text = clean(R.VMS, vm(CLOUD_INIT))
    volumes = out["spec"]["template"]["spec"]["volumes"]
    assert volumes[0] == CLOUD_INIT[0]
    assert volumes[1]["cloudInitNoCloud"] == {"userData": MASK, "networkData": NETWORK_DATA}
    assert out["spec"]["dataVolumeTemplates"][0]["spec"]["source"]["http"]["url"] == (
        f"https://images.example.com/u.qcow2?X-Amz-Signature={MASK}"
    )
    assert_gone(text, USER_DATA, "abcdef0123456789sig")


def test_vm_base64_and_config_drive_user_data_and_secret_refs() -> None:
    volumes = [
        {
            "name": "a",
            "cloudInitConfigDrive": {"userDataBase64": b64(USER_DATA), "networkDataBase64": b64(NETWORK_DATA)},
        },
        {
            "name": "b",
            "cloudInitNoCloud": {"secretRef": {"name": "vm-1-h8d2c"}, "networkDataSecretRef": {"name": "vm-1-h8d2c"}},
        },
    ]
    out, text = clean(R.VMS, vm(volumes))
    kept = out["spec"]["template"]["spec"]["volumes"]
    assert kept[0]["cloudInitConfigDrive"] == {"userDataBase64": MASK, "networkDataBase64": b64(NETWORK_DATA)}
    assert kept[1] == volumes[1]
    assert_gone(text, USER_DATA, "Ubuntu-Cl0ud-Passw0rd")


def test_vmi_volumes_lose_user_data() -> None:
    vmi = {
        "kind": "VirtualMachineInstance",
        "metadata": {"name": "vm-1"},
        "spec": {"volumes": copy.deepcopy(CLOUD_INIT)},
        "status": {"phase": "Running"},
    }
    out, text = clean(R.VMIS, vmi)
    assert out["spec"]["volumes"][1]["cloudInitNoCloud"]["networkData"] == NETWORK_DATA
    assert out["status"] == {"phase": "Running"}
    assert_gone(text, USER_DATA)


def test_vm_backup_loses_the_copied_spec_user_data_and_secret_data() -> None:
    backup = {
        "kind": "VirtualMachineBackup",
        "metadata": {"name": "b1", "namespace": "default"},
        "spec": {"source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "vm-1"}, "type": "backup"},
        "status": {
            "source": {"metadata": {"name": "vm-1"}, "spec": vm(CLOUD_INIT)["spec"]},
            "secretBackups": [
                {"name": "vm-1-h8d2c", "data": {"userdata": b64(USER_DATA), "networkdata": b64(NETWORK_DATA)}}
            ],
            "readyToUse": True,
        },
    }
    out, text = clean(R.VM_BACKUPS, backup)
    assert out["status"]["secretBackups"][0]["data"] == {"networkdata": b64(NETWORK_DATA)}
    assert out["status"]["secretBackups"][0]["redactedKeys"] == ["userdata"]
    assert out["status"]["source"]["spec"]["template"]["spec"]["volumes"][1]["cloudInitNoCloud"]["userData"] == MASK
    assert out["status"]["readyToUse"] is True
    assert_gone(text, USER_DATA)


def test_image_urls_lose_passwords_and_signatures() -> None:
    image = {
        "metadata": {"name": "image-ubuntu", "namespace": "default"},
        "spec": {
            "displayName": "ubuntu",
            "sourceType": "download",
            "url": "https://mirror:Img-Passw0rd-9@images.example.com/jammy.img?X-Amz-Credential=AKIAEXAMPLE%2F2024&x=1",
        },
    }
    out, text = clean(R.VM_IMAGES, image)
    assert out["spec"]["url"] == f"https://mirror:{MASK}@images.example.com/jammy.img?X-Amz-Credential={MASK}&x=1"
    assert out["spec"]["displayName"] == "ubuntu"
    assert_gone(text, "Img-Passw0rd-9", "AKIAEXAMPLE%2F2024", "AKIAEXAMPLE/2024")


# -- Rancher ----------------------------------------------------------------------------------------


def test_rancher_token_keeps_name_and_lifetime() -> None:
    token = {
        "apiVersion": "management.cattle.io/v3",
        "kind": "Token",
        "metadata": {"name": "kubeconfig-u-7hq2xbc4kd", "labels": {"authn.management.cattle.io/kind": "kubeconfig"}},
        "token": RANCHER_SECRET,
        "userId": "u-7hq2x",
        "ttl": 2592000000,
        "expiresAt": "2026-12-31T00:00:00Z",
        "expired": False,
        "isDerived": True,
    }
    out, text = clean(R.RANCHER_TOKENS, token)
    assert out == {**token, "token": MASK}
    assert_gone(text, RANCHER_SECRET)


def test_provisioning_cluster_agent_env_and_machine_config() -> None:
    cluster = {
        "metadata": {"name": "guest", "namespace": "fleet-default"},
        "spec": {
            "cloudCredentialSecretName": "cattle-global-data:cc-x7k2p",
            "agentEnvVars": [
                {"name": "HTTPS_PROXY", "value": "http://u:Ag3nt-Proxy-Pass@proxy:3128"},
                {"name": "NO_PROXY", "value": "127.0.0.1,.svc"},
            ],
            "rkeConfig": {
                "machineGlobalConfig": {"cni": "calico", "etcd-s3-secret-key": "S3-Secr3t-Key-Value"},
                "machineSelectorConfig": [{"config": {"protect-kernel-defaults": False, "token": "Cl4ster-T0ken"}}],
            },
        },
    }
    out, text = clean(R.PROVISIONING_CLUSTERS, cluster)
    spec = out["spec"]
    assert spec["cloudCredentialSecretName"] == "cattle-global-data:cc-x7k2p"
    assert spec["agentEnvVars"] == [
        {"name": "HTTPS_PROXY", "value": f"http://u:{MASK}@proxy:3128"},
        {"name": "NO_PROXY", "value": "127.0.0.1,.svc"},
    ]
    assert spec["rkeConfig"]["machineGlobalConfig"] == {"cni": "calico", "etcd-s3-secret-key": MASK}
    assert spec["rkeConfig"]["machineSelectorConfig"][0]["config"]["protect-kernel-defaults"] is False
    assert_gone(text, "Ag3nt-Proxy-Pass", "S3-Secr3t-Key-Value", "Cl4ster-T0ken")


def test_chart_values_lose_credentials_and_keep_references() -> None:
    chart = {
        "metadata": {"name": "harvester", "namespace": "fleet-local"},
        "spec": {
            "chart": "harvester",
            "values": {
                "rancherEmbedded": True,
                "s3": {
                    "secretName": "s3-creds",
                    "accessKey": "AKIAEXAMPLE9876",
                    "auth": {"password": "Chart-Passw0rd", "enabled": True},
                },
            },
        },
    }
    out, text = clean(R.MANAGED_CHARTS, chart)
    assert out["spec"]["values"] == {
        "rancherEmbedded": True,
        "s3": {"secretName": "s3-creds", "accessKey": MASK, "auth": {"password": MASK, "enabled": True}},
    }
    assert_gone(text, "AKIAEXAMPLE9876", "Chart-Passw0rd")


def test_fleet_bundle_drops_resource_contents() -> None:
    manifest = secret("embedded", {"password": "Bundl3-Passw0rd"})
    bundle = {
        "metadata": {"name": "mcc-harvester", "namespace": "fleet-local"},
        "spec": {
            "resources": [{"name": "secret.yaml", "content": json.dumps(manifest)}],
            "helm": {"values": {"apiToken": "Bundl3-Api-T0ken"}},
            "targets": [{"clusterName": "local"}],
        },
        "status": {"summary": {"ready": 1}},
    }
    out, text = clean(R.FLEET_BUNDLES, bundle)
    assert out["spec"]["resources"] == [{"name": "secret.yaml", "content": MASK}]
    assert out["spec"]["targets"] == [{"clusterName": "local"}] and out["status"] == bundle["status"]
    assert "Bundl3-Passw0rd" not in text and b64("Bundl3-Passw0rd") not in text  # dropped, not registered
    assert_gone(text, "Bundl3-Api-T0ken")


# -- Pods and workloads -----------------------------------------------------------------------------


def pod_spec() -> dict:
    return {
        "containers": [
            {
                "name": "apiserver",
                "image": "rancher/harvester:v1.3.1",
                "args": [
                    "--anonymous-auth=false",
                    "--tls-private-key-file=/certs/tls.key",
                    "--etcd-s3-secret-key=Fl4g-Secr3t",
                    "--token",
                    "Fl4g-T0ken-Split",
                    "--kubeconfig",
                    "/etc/kubeconfig",
                ],
                "env": [
                    {"name": "HTTP_PROXY", "value": "http://proxyuser:Env-Pr0xy-Pass@192.0.2.5:3128"},
                    {"name": "DB_PASSWORD", "value": "Env-Db-Passw0rd"},
                    {"name": "TOKEN_TTL", "value": "3600"},
                    {"name": "ENABLE_TOKEN_AUTH", "value": "true"},
                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
                ],
            }
        ]
    }


@pytest.mark.parametrize("res", [R.PODS, R.DEPLOYMENTS, R.DAEMONSETS, R.REPLICASETS])
def test_pod_specs_lose_literal_credentials(res: Resource) -> None:
    item = {"metadata": {"name": "harvester", "namespace": "harvester-system"}}
    item["spec"] = pod_spec() if res is R.PODS else {"replicas": 1, "template": {"spec": pod_spec()}}
    out, text = clean(res, item)
    container = (out["spec"] if res is R.PODS else out["spec"]["template"]["spec"])["containers"][0]
    assert container["args"] == [
        "--anonymous-auth=false",
        "--tls-private-key-file=/certs/tls.key",
        f"--etcd-s3-secret-key={MASK}",
        "--token",
        MASK,
        "--kubeconfig",
        "/etc/kubeconfig",
    ]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["HTTP_PROXY"] == f"http://proxyuser:{MASK}@192.0.2.5:3128"
    assert env["DB_PASSWORD"] == MASK and env["TOKEN_TTL"] == "3600" and env["ENABLE_TOKEN_AUTH"] == "true"
    assert env["API_TOKEN"] == {"secretKeyRef": {"name": "api", "key": "token"}}
    assert_gone(text, "Env-Pr0xy-Pass", "Env-Db-Passw0rd", "Fl4g-Secr3t", "Fl4g-T0ken-Split")


# -- the registry -----------------------------------------------------------------------------------


def test_every_type_with_a_cleaner_is_a_known_resource_and_covered_here() -> None:
    keys = {r.key for r in cleaned_types()}
    assert keys <= {v.key for v in vars(R).values() if isinstance(v, Resource)}
    covered = {
        R.SECRETS,
        R.HARVESTER_SETTINGS,
        R.LONGHORN_SETTINGS,
        R.RANCHER_SETTINGS,
        R.VMS,
        R.VMIS,
        R.VM_BACKUPS,
        R.VM_IMAGES,
        R.RANCHER_TOKENS,
        R.PROVISIONING_CLUSTERS,
        R.MANAGED_CHARTS,
        R.FLEET_BUNDLES,
        R.PODS,
        R.DEPLOYMENTS,
        R.DAEMONSETS,
        R.REPLICASETS,
        R.DATA_VOLUMES,
        R.LONGHORN_BACKING_IMAGES,
        R.CLOUD_INITS,
        R.HELM_CHART_CONFIGS,
        R.HELM_CHARTS,
    }
    assert keys == {r.key for r in covered}


@pytest.mark.parametrize("res", [R.DATA_VOLUMES, R.LONGHORN_BACKING_IMAGES])
def test_other_download_sources_lose_url_passwords(res: Resource) -> None:
    item = {
        "metadata": {"name": "x", "namespace": "default"},
        "spec": {
            "source": {"http": {"url": "https://u:Dl-Passw0rd-7@h/x.img"}},
            "sourceParameters": {"url": "https://u:Dl-Passw0rd-7@h/x.img"},
        },
    }
    out, text = clean(res, item)
    assert f"https://u:{MASK}@h/x.img" in text
    assert_gone(text, "Dl-Passw0rd-7")


def test_types_without_a_cleaner_only_lose_the_last_applied_copy() -> None:
    cm = {
        "metadata": {
            "name": "kubevirt-ca",
            "namespace": "harvester-system",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"data":{}}'},
        },
        "data": {"ca-bundle": "-----BEGIN CERTIFICATE-----\n..."},
    }
    out, _ = clean(R.CONFIGMAPS, cm)
    assert out["data"] == cm["data"]
    assert out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == MASK


def test_cloud_init_contents_keep_users_and_lose_password_hashes() -> None:
    """CIN-02 reads the users and groups of a CloudInit's cloud-config; the hash is no one's business."""
    contents = (
        "#cloud-config\nusers:\n  - name: ops\n    groups: [users, admin]\n"
        "    passwd: $6$rounds=4096$saltsalt$hashhashhash\n    lock_passwd: false\n"
    )
    item = {"metadata": {"name": "add-user"}, "spec": {"contents": contents, "filename": "99_user.yaml"}}
    out = sanitize(R.CLOUD_INITS, item)["spec"]["contents"]
    hashed = "$6$rounds=4096$saltsalt$hashhashhash"
    assert hashed not in out and hashed not in REDACT(f"an error quoting {hashed}")  # registered
    doc = yaml.safe_load(out)
    assert doc["users"][0]["groups"] == ["users", "admin"] and doc["users"][0]["lock_passwd"] is False
    assert out.startswith("#cloud-config\n") and item["spec"]["contents"] == contents  # input untouched


def test_helm_values_lose_credentials_and_keep_the_rest() -> None:
    values = 'controller:\n  config:\n    proxy-body-size: "0"\n  adminPassword: "s3cr3t-value"\n'
    item = {"metadata": {"name": "rke2-ingress-nginx"}, "spec": {"valuesContent": values}}
    out = yaml.safe_load(sanitize(R.HELM_CHART_CONFIGS, item)["spec"]["valuesContent"])
    assert out["controller"]["config"]["proxy-body-size"] == "0"
    assert out["controller"]["adminPassword"] != "s3cr3t-value"
