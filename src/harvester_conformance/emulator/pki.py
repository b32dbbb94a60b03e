"""X.509 material for the emulated cluster, made with `cryptography`.

Used for the control plane's own PKI and by the simulated virt-operator, which issues
KubeVirt's certificates exactly as upstream does (self-signed CA, leaves signed by it).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harvester_conformance.emulator.clock import now

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class KeyPair:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )


def _key(rsa_key: bool = False) -> PrivateKey:
    """ECDSA P-256, as KubeVirt's certificate bootstrap uses from 1.0; RSA-2048 when asked (KubeVirt
    up to 0.59, `pkg/certificates/triple/triple.go`)."""
    if rsa_key:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def make_ca(
    cn: str,
    validity: dt.timedelta,
    not_before: dt.datetime | None = None,
    *,
    serial: int | None = None,
    rsa_key: bool = False,
) -> KeyPair:
    """A self-signed CA; `serial` fixes its serial number (0 included, see `_with_serial`)."""
    key = _key(rsa_key)
    start = not_before or now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_cert_sign=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    if serial is not None:
        cert = _with_serial(cert, key, serial)
    return KeyPair(cert, key)


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    size = (n.bit_length() + 7) // 8
    return bytes([tag]) + (bytes([n]) if n < 0x80 else bytes([0x80 | size]) + n.to_bytes(size, "big")) + body


def _der_first(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(whole first DER element, its content, what follows it) of `data`."""
    first = data[1]
    head, n = (2, first) if first < 0x80 else (2 + (first & 0x7F), int.from_bytes(data[2 : 2 + (first & 0x7F)], "big"))
    return data[: head + n], data[head : head + n], data[head + n :]


def _with_serial(cert: x509.Certificate, key: PrivateKey, serial: int) -> x509.Certificate:
    """`cert` re-signed with another serial number. `cryptography`'s builder refuses a serial of 0,
    which KubeVirt 0.54 gives its CA (`triple/cert/cert.go` NewSelfSignedCACert, fixed in 0.55), so
    the TBSCertificate is rebuilt at the DER level; `cryptography` loads the result with a warning."""
    _, tbs_content, _ = _der_first(cert.tbs_certificate_bytes)
    version, _, rest = _der_first(tbs_content)  # [0] EXPLICIT version, then the serial INTEGER
    _, _, after_serial = _der_first(rest)
    value = serial.to_bytes(serial.bit_length() // 8 + 1, "big")  # DER: minimal, non-negative
    tbs = _der(0x30, version + _der(0x02, value) + after_serial)
    _, outer, _ = _der_first(cert.public_bytes(serialization.Encoding.DER))
    _, _, after_tbs = _der_first(outer)
    algorithm, _, _ = _der_first(after_tbs)
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return x509.load_der_x509_certificate(_der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature)))


def issue(
    ca: KeyPair,
    cn: str,
    validity: dt.timedelta,
    *,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    org: str | None = None,
    client: bool = False,
    server: bool = True,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    rsa_key: bool = False,
) -> KeyPair:
    key = _key(rsa_key)
    start = not_before or now()
    end = not_after or start + validity
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, org))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.cert.public_key()), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return KeyPair(builder.sign(ca.key, hashes.SHA256()), key)


def load(cert_pem: bytes, key_pem: bytes) -> KeyPair:
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return KeyPair(x509.load_pem_x509_certificate(cert_pem), key)


def rsa_public_private_pem() -> tuple[bytes, bytes]:
    """Service-account signing key pair (RSA, as the apiserver expects by default)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pub, priv
