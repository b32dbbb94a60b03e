"""The HTTPS endpoint of a KubeVirt component (virt-api, virt-operator's webhook server) serving the
certificate virt-operator issued into its Secret.

As upstream (`pkg/certificates/bootstrap/cert-manager.go` @v0.54.0 and v1.1.1, `pkg/util/webhooks`
SetupTLSWithCertManager): the kubelet projects the Secret into files, the component reloads them
when they change and keeps the previous certificate when they do not load; with no certificate it
refuses handshakes ("No server certificate, server is not yet ready to receive traffic"). A deleted
Secret leaves the last files in place, as the kubelet does. Client certificates are verified if
given, against the aggregator's front-proxy CA (VerifyClientCertIfGiven). While the component has
no running pod (`sync(serving=False)`) every handshake is refused too.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.controlplane import write_file
from harvester_conformance.emulator.simulator import webhooks
from harvester_conformance.emulator.simulator.webhooks import Result

NS = "harvester-system"
Routes = dict[str, Callable[[dict, Cluster], Result]]
GetHandler = Callable[[str], tuple[int, dict]]


def status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class TlsComponent:
    """One component's server on a loopback port; `sync` is its kubelet and certificate manager,
    run on the simulator's resync."""

    def __init__(
        self, cl: Cluster, state_dir: Path, name: str, secret: str, routes: Routes, get: GetHandler | None = None
    ) -> None:
        self.cl, self.name, self.secret, self.routes, self.get = cl, name, secret, routes, get
        self.log = logging.getLogger(name)
        self.mount = state_dir / name / "certificates"  # e.g. upstream /etc/virt-api/certificates
        self.mount.mkdir(parents=True, exist_ok=True)
        for leftover in ("tls.crt", "tls.key"):  # a new pod's volume: nothing from an earlier cluster
            (self.mount / leftover).unlink(missing_ok=True)
        self.client_ca = state_dir / "pki" / "front-proxy-ca.crt"
        self.serving = False
        self._context: ssl.SSLContext | None = None
        self._loaded = b""
        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        base.sni_callback = self._select  # called for every handshake, with or without SNI
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.component = self  # type: ignore[attr-defined]
        # The handshake on the connection's own thread: done in the accepting thread, every
        # admission call waited for every other connection's handshake.
        self.server.socket = base.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=self.server.serve_forever, name=f"{name}-https", daemon=True).start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def _select(self, sock: ssl.SSLObject, server_name: str | None, base: ssl.SSLContext) -> int | None:
        context = self._context
        if context is None or not self.serving:
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        sock.context = context
        return None

    def sync(self, serving: bool = True) -> None:
        """Project the Secret into the mounted files (kept when it is gone), reload on change."""
        self.serving = serving
        data = (self.cl.get(R.SECRETS, self.secret, NS) or {}).get("data") or {}
        for key in ("tls.crt", "tls.key"):
            if key in data:
                content = base64.b64decode(data[key])
                path = self.mount / key
                if not path.exists() or path.read_bytes() != content:
                    write_file(path, content, private=key == "tls.key")
        crt, key = self.mount / "tls.crt", self.mount / "tls.key"
        if not (crt.exists() and key.exists()):
            return
        files = crt.read_bytes() + key.read_bytes()
        if files == self._loaded:
            return
        self._loaded = files
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(crt), str(key))
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(str(self.client_ca))
        except (ssl.SSLError, OSError) as exc:
            self.log.warning("failed to load the certificate %s and %s: %s", crt, key, exc)
            return
        self._context = context
        self.log.info("certificate of %s retrieved", self.secret)


class _Handler(BaseHTTPRequestHandler):
    """Keep-alive, as a Go server's connections are: the apiserver's webhook client reuses its
    connection instead of a TLS handshake per admission call (at 2,000 VMs each VM and VMI write
    waited on two of them, a tenth of a second each). A component that stops serving drops its
    kept connections at their next request, as a dead pod's are reset."""

    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:  # quiet access log
        return

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError):  # a refused handshake, a client that went away
            self.close_connection = True

    def handle_one_request(self) -> None:
        # A new connection's handshake decides (refused while not serving); a kept one is dropped.
        if getattr(self, "_kept", False) and not self._component.serving:
            self.close_connection = True  # no answer: the connection drops
            return
        super().handle_one_request()
        self._kept = True

    @property
    def _component(self) -> TlsComponent:
        return self.server.component  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        get = self._component.get
        path = urllib.parse.urlsplit(self.path).path
        code, body = get(path) if get else (404, status(404, "NotFound", f"nothing served at {path}"))
        self._reply(code, body)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length", "0"))
        review = json.loads(self.rfile.read(length) or b"{}")
        handler = self._component.routes.get(urllib.parse.urlsplit(self.path).path)  # the apiserver adds ?timeout=
        if handler is None:
            self._reply(404, status(404, "NotFound", f"no webhook at {self.path}"))
            return
        self._reply(200, webhooks.respond(review, handler, self._component.cl))

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
