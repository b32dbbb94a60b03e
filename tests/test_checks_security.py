"""SEC-01/03/05 without a cluster: the settings of "Best Practices for Harvester Security" parsed as
Harvester parses them (HV pkg/util/proxy.go AddBuiltInNoProxy, pkg/settings/settings_helper.go,
pkg/webhook/resources/setting/validator.go, pkg/containerd/registry.go; v1.2.1 … v1.8.2)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harvester_conformance.checks import security as sec

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _node(name: str, ip: str) -> dict:
    return {"metadata": {"name": name}, "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


NODES = [_node("n0", "192.0.2.11"), _node("n1", "192.0.2.12")]


def _proxy(no_proxy: str, proxy: str = "http://192.0.2.5:3128") -> dict:
    return {"value": json.dumps({"httpProxy": proxy, "noProxy": no_proxy}), "default": "{}"}


def test_no_proxy_set_needs_no_coverage() -> None:
    assert sec.check_http_proxy({"default": "{}"}, NODES) == []
    assert sec.check_http_proxy({"value": '{"noProxy":"x"}'}, NODES) == []


def test_uncovered_node_ip_is_named() -> None:
    """The SEC-01 fault's value: node n1 (192.0.2.12) is missing."""
    found = sec.check_http_proxy(_proxy("localhost,192.0.2.11"), NODES)
    assert [f.object for f in found] == ["Setting http-proxy"] and "n1 (192.0.2.12)" in found[0].message
    assert "n0" not in found[0].message


def test_cidr_entries_and_built_ins_cover() -> None:
    assert sec.check_http_proxy(_proxy(" 192.0.2.0/24 "), NODES) == []
    in_ten = [_node("n0", "10.1.2.3")]
    assert sec.check_http_proxy(_proxy(""), in_ten) == []  # Harvester appends 10.0.0.0/8


def test_malformed_http_proxy_fails() -> None:
    assert "not JSON" in sec.check_http_proxy({"value": "{"}, NODES)[0].message
    assert "not strings" in sec.check_http_proxy({"value": '{"httpProxy": 1}'}, NODES)[0].message
    assert sec.check_http_proxy(None, NODES)[0].message == "the setting does not exist"


def test_auto_rotate_parse_and_range() -> None:
    ok, bad = sec.parse_auto_rotate({"default": '{"enable":false,"expiringInHours":240}'})
    assert bad is None and ok == sec.AutoRotate(False, 240)
    assert sec.parse_auto_rotate({"value": '{"enable": true, "expiringInHours": '})[1] is not None
    assert sec.parse_auto_rotate({"value": '{"enable":true,"expiringInHours":8760}'})[1] is not None
    assert sec.parse_auto_rotate({"value": '{"enable":"yes","expiringInHours":24}'})[1] is not None
    assert sec.parse_auto_rotate(None)[1] is not None


# -- ssl-certificates -------------------------------------------------------------------------------


def _cert(subject: str, key, issuer_key, issuer: str, ca: bool, days: int = 365) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CA_KEY, LEAF_KEY, OTHER_KEY = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
CA = _cert("ca", CA_KEY, CA_KEY, "ca", True)
LEAF = _cert("harvester.example", LEAF_KEY, CA_KEY, "ca", False)


def _ssl(leaf: x509.Certificate = LEAF, digest: str | None = None, ca: x509.Certificate = CA) -> dict:
    """As the snapshot holds it: the key masked, its public part's digest kept."""
    doc = {
        "ca": _pem(ca),
        "publicCertificate": _pem(leaf),
        "privateKey": "***",
        "privateKeySpkiSha256": sec.spki_sha256(leaf) if digest is None else digest,
    }
    return {"value": json.dumps(doc)}


def test_matching_pair_passes_and_unset_is_fine() -> None:
    assert sec.check_ssl_certificates(_ssl(), NOW) == []
    assert sec.check_ssl_certificates({"default": "{}"}, NOW) == []


def test_key_of_another_certificate_is_found() -> None:
    """The SEC-05 fault: a key from another issuance pasted with the certificate."""
    other = _cert("harvester.example", OTHER_KEY, CA_KEY, "ca", False)
    found = sec.check_ssl_certificates(_ssl(digest=sec.spki_sha256(other)), NOW)
    assert [f.object for f in found] == ["Setting ssl-certificates"] and "does not belong" in found[0].message
    assert "BEGIN" not in found[0].message
    assert "does not parse" in sec.check_ssl_certificates(_ssl(digest=""), NOW)[0].message


def test_expired_and_unchained_certificates() -> None:
    expired = _cert("harvester.example", LEAF_KEY, CA_KEY, "ca", False, days=-1)
    assert "expired" in sec.check_ssl_certificates(_ssl(expired), NOW)[0].message
    stranger = _cert("other-ca", OTHER_KEY, OTHER_KEY, "other-ca", True)
    assert "does not chain" in sec.check_ssl_certificates(_ssl(ca=stranger), NOW)[0].message


def test_other_settings_parse() -> None:
    assert sec.check_additional_ca({"value": _pem(CA)}) == [] and sec.check_additional_ca({"default": ""}) == []
    assert sec.check_additional_ca({"value": "not a pem"}) != []
    assert sec.check_ssl_parameters({"value": '{"protocols":"TLSv1.2 TLSv1.3","ciphers":"x"}'}) == []
    assert "TLSv9" in sec.check_ssl_parameters({"value": '{"protocols":"TLSv9"}'})[0].message
    assert sec.check_containerd_registry({"value": '{"Mirrors":{"docker.io":{"endpoint":["m"]}}}'}) == []
    assert sec.check_containerd_registry({"value": '{"mirrors":[]}'}) != []
    assert sec.check_containerd_registry({"value": "{"}) != []


def test_settings_whose_fields_do_not_decode_are_named() -> None:
    """A field of the wrong type fails Harvester's json.Unmarshal of the whole value: no silent pass."""
    found = sec.check_ssl_parameters({"value": '{"protocols":"TLSv1.2","ciphers":["ECDHE-RSA-AES128-GCM-SHA256"]}'})
    assert [f.object for f in found] == ["Setting ssl-parameters"] and "ciphers is list" in found[0].message
    found = sec.check_containerd_registry({"value": '{"Mirrors":{"docker.io":5},"Configs":{"r.example":null}}'})
    assert [f.message for f in found] == ["Mirrors['docker.io'] is int, expected an object"]


# -- SEC-06 ---------------------------------------------------------------------------------------------


def _rke2_node(name: str, version: str) -> dict:
    return {"metadata": {"name": name}, "status": {"nodeInfo": {"kubeletVersion": version}}}


def test_rke2_token_rotation_names_nodes_on_the_failing_release() -> None:
    """The SEC-06 fault: one node left on v1.27.10+rke2r1 (Harvester v1.3.0's RKE2)."""
    nodes = [_rke2_node("n0", "v1.27.13+rke2r1"), _rke2_node("n2", "v1.27.10+rke2r1")]
    found = sec.check_rke2_token_rotation(nodes)
    assert [f.object for f in found] == ["Node n2"]
    assert "v1.27.10+rke2r1" in found[0].message and "6250" in found[0].message


def test_rke2_token_rotation_passes_elsewhere() -> None:
    assert sec.check_rke2_token_rotation([_rke2_node("n0", "v1.28.12+rke2r1"), {"metadata": {"name": "n1"}}]) == []


# -- SEC-04 -----------------------------------------------------------------------------------------

MARGIN = dt.timedelta(days=30)
SERVING = f"{sec.RKE2_SERVER_TLS}/serving-kube-apiserver.crt"
ADMIN = f"{sec.RKE2_SERVER_TLS}/client-admin.crt"
KUBELET = f"{sec.RKE2_AGENT}/serving-kubelet.crt"
API = "127.0.0.1:6443"


def _leaf(cn: str, days: float) -> x509.Certificate:
    return _cert(cn, LEAF_KEY, CA_KEY, "ca", False, days=days)


def _files(**certs: x509.Certificate | str) -> dict[str, bytes | None]:
    """A node's RKE2 files: SERVING, ADMIN, KUBELET given by keyword (serving, admin, kubelet)."""
    paths = {"serving": SERVING, "admin": ADMIN, "kubelet": KUBELET}
    out: dict[str, bytes | None] = dict.fromkeys(sec.RKE2_CERT_PATHS)
    for key, cert in certs.items():
        out[paths[key]] = (cert if isinstance(cert, str) else _pem(cert)).encode()
    out[f"{sec.RKE2_SERVER_TLS}/server-ca.crt"] = _pem(CA).encode()
    return out


SERVED = _leaf("kube-apiserver", 365)
HEALTHY = {"n0": _files(serving=SERVED, admin=_leaf("system:admin", 364), kubelet=_leaf("n0", 364))}


def test_rke2_cert_paths_cover_server_and_agent_files() -> None:
    assert SERVING in sec.RKE2_CERT_PATHS and KUBELET in sec.RKE2_CERT_PATHS
    assert f"{sec.RKE2_SERVER_TLS}/etcd/peer-server-client.crt" in sec.RKE2_CERT_PATHS
    assert all(p.startswith("/var/lib/rancher/rke2/") and p.endswith(".crt") for p in sec.RKE2_CERT_PATHS)


def test_certificates_with_their_margin_pass() -> None:
    report = sec.check_certificate_margins({API: SERVED}, HEALTHY, NOW, MARGIN)
    assert (report.findings, report.deferred, report.unjudged) == ([], [], [])


def test_host_certificate_near_expiry_names_the_node_and_file() -> None:
    """The SEC-04 fault: one server's serving-kube-apiserver.crt two days from expiry (not the
    one the API serves: that server has not restarted for a year)."""
    hosts = {**HEALTHY, "n1": _files(serving=_leaf("kube-apiserver", 2), kubelet=_leaf("n1", 300))}
    report = sec.check_certificate_margins({API: SERVED}, hosts, NOW, MARGIN)
    [found] = report.findings
    assert found.object == "Node n1" and SERVING in found.message
    assert "2.0 days left" in found.message and "margin 30 days" in found.message
    assert report.deferred == []


def test_expired_chain_member_and_unparsable_file() -> None:
    old = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old-ca")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old-ca")]))
        .public_key(CA_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=368))
        .not_valid_after(NOW - dt.timedelta(days=3))
        .sign(CA_KEY, hashes.SHA256())
    )
    chain = _pem(_leaf("system:admin", 300)) + _pem(old)
    hosts = {"n0": _files(serving=SERVED, admin=chain, kubelet="-----BEGIN CERTIFICATE-----\nxx\n")}
    [found] = sec.check_certificate_margins({}, hosts, NOW, MARGIN).findings
    assert "CN old-ca expired on" in found.message and "3.0 days ago" in found.message
    assert f"{KUBELET} does not parse" in found.message


def test_served_certificate_inside_the_margin_is_a_finding_of_the_api() -> None:
    report = sec.check_certificate_margins({API: _leaf("kube-apiserver", 20)}, HEALTHY, NOW, MARGIN)
    [found] = report.findings
    assert found.object == sec.API_ENDPOINT and f"served at {API}" in found.message and "20.0 days" in found.message


def test_served_certificate_within_the_upgrade_gate_is_upg04s() -> None:
    """UPG-04's fault: the served certificate (and every server's copy of it) five days from
    expiry; the upgrade gate's rule reports it, so SEC-04 defers, while another file still counts."""
    served = _leaf("kube-apiserver", 5)
    hosts = {"n0": _files(serving=served, kubelet=_leaf("n0", 300)), "n1": _files(serving=served)}
    report = sec.check_certificate_margins({API: served}, hosts, NOW, MARGIN)
    assert report.findings == [] and len(report.deferred) == 3
    assert any(d.startswith("n1:") and SERVING in d for d in report.deferred)
    assert report.deferred_reason(shown=2).startswith("UPG-04 reports") and "and 1 more" in report.deferred_reason(2)
    hosts["n1"] = _files(serving=served, admin=_leaf("system:admin", 5))
    [found] = sec.check_certificate_margins({API: served}, hosts, NOW, MARGIN).findings
    assert found.object == "Node n1" and ADMIN in found.message and SERVING not in found.message


def test_what_cannot_be_read_is_unjudged() -> None:
    hosts = {**HEALTHY, "agentless": dict.fromkeys(sec.RKE2_CERT_PATHS)}
    report = sec.check_certificate_margins({API: "TLS handshake with 127.0.0.1:6443 failed"}, hosts, NOW, MARGIN)
    assert report.findings == []
    assert [u.split(":")[0] for u in report.unjudged] == ["the API server at 127.0.0.1", "agentless"]


def test_margin_option() -> None:
    assert sec.cert_margin_from(None) == dt.timedelta(days=30) == sec.cert_margin_from(" ")
    assert sec.cert_margin_from("7.5") == dt.timedelta(days=7.5)
    assert sec.cert_margin_from("0") == dt.timedelta(0)
    for bad in ("-1", "nan", "inf", "a week"):
        with pytest.raises(ValueError, match="rke2-cert-margin-days"):
            sec.cert_margin_from(bad)
    assert sec.check_certificate_margins({API: _leaf("kube-apiserver", 20)}, HEALTHY, NOW, dt.timedelta(days=7)) == (
        sec.CertificateReport([], [], [])
    )


# -- SEC-02 ------------------------------------------------------------------------------------


def test_proxy_probe_leaves_exactly_one_node_out_of_the_refused_value() -> None:
    nodes = [_node("n1", "192.168.0.31"), _node("n0", "192.168.0.30")]
    probe = sec.proxy_probe({"value": "", "default": "{}"}, nodes)
    assert probe is not None and probe.missed == "192.168.0.30"
    refused, admitted = json.loads(probe.refused), json.loads(probe.admitted)
    assert refused["httpProxy"] == admitted["httpProxy"] == sec.PROBE_PROXY
    assert not sec.covered("192.168.0.30", refused["noProxy"].split(","))
    assert sec.covered("192.168.0.31", refused["noProxy"].split(","))
    assert all(sec.covered(ip, admitted["noProxy"].split(",")) for ip in ("192.168.0.30", "192.168.0.31"))


def test_proxy_probe_keeps_the_configured_proxy_and_needs_node_ips() -> None:
    current = {"value": json.dumps({"httpsProxy": "http://proxy.lab:3128", "noProxy": "10.0.0.0/8"})}
    probe = sec.proxy_probe(current, [_node("n0", "172.16.0.5")])
    assert probe is not None and json.loads(probe.admitted) == {
        "httpsProxy": "http://proxy.lab:3128",
        "noProxy": "localhost,127.0.0.1,172.16.0.5",
    }
    assert sec.proxy_probe(current, [{"metadata": {"name": "n0"}, "status": {}}]) is None


def test_proxy_admission_fails_when_the_bad_value_is_stored_or_the_good_one_refused() -> None:
    probe = sec.ProxyProbe("{}", "{}", "192.168.0.30")
    assert sec.check_proxy_admission(probe, "noProxy should contain the node's IP addresses", None) == []
    accepted = sec.check_proxy_admission(probe, None, None)
    assert [f.object for f in accepted] == ["Setting http-proxy"] and "192.168.0.30" in accepted[0].message
    refused_both = sec.check_proxy_admission(probe, "refused", "refused too")
    assert [f.object for f in refused_both] == ["Setting http-proxy"] and "refused too" in refused_both[0].message
