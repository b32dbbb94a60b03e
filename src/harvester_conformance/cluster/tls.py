"""The certificate a TLS server presents, read from the handshake (not from any object the API
returns): what Harvester's upgrade gate and auto-rotate-rke2-certs controller look at
(HV `pkg/util` GetAddrsEarliestExpiringCert)."""

from __future__ import annotations

import socket
import ssl
import urllib.parse

from cryptography import x509


class HandshakeError(Exception):
    """The server could not be reached or presented no certificate."""


def served_certificate(url: str, timeout: float = 10.0) -> x509.Certificate:
    """The leaf certificate presented at `url` (https://host:port). Verification is off: the
    certificate is read, not trusted, and one close to expiry must still be read."""
    parsed = urllib.parse.urlparse(url)
    host, port = parsed.hostname, parsed.port or 443
    if not host:
        raise HandshakeError(f"no host in {url!r}")
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise HandshakeError(f"TLS handshake with {host}:{port} failed: {exc}") from None
    if not der:
        raise HandshakeError(f"{host}:{port} presented no certificate")
    return x509.load_der_x509_certificate(der)
