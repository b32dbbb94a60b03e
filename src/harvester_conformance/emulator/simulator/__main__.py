"""The simulator process: controllers on a resync period, webhooks and health over TLS.

Runs with its own client identity (`harvester-simulator`, bound by RBAC), so that what it
may change is what the ClusterRole grants, as for the real controllers.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.areas import AREAS
from harvester_conformance.emulator.simulator import webhooks

log = logging.getLogger("simulator")


API_GROUPS = [route for area in AREAS for route in area.API_GROUPS]


class Handler(BaseHTTPRequestHandler):
    cluster: Cluster

    def log_message(self, fmt: str, *args: object) -> None:  # quiet access log
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self._reply(200, b"ok", "text/plain")
            return
        for prefix, serve_get in API_GROUPS:
            if url.path == prefix or url.path.startswith(prefix + "/"):
                query = dict(urllib.parse.parse_qsl(url.query))
                code, body = serve_get(self.cluster, url.path, query, self._peer_cn(), self.headers)
                self._reply(code, json.dumps(body).encode(), "application/json")
                return
        self._reply(404, b"not found", "text/plain")

    def _peer_cn(self) -> str | None:
        """CN of a verified client certificate (only the aggregator's front-proxy client has one)."""
        cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        for rdn in (cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return None

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length", "0"))
        review = json.loads(self.rfile.read(length) or b"{}")
        handler = webhooks.ROUTES.get(self.path.split("?", 1)[0])  # the apiserver appends ?timeout=
        if handler is None:
            self._reply(404, b"not found", "text/plain")
            return
        response = webhooks.respond(review, handler, self.cluster)
        self._reply(200, json.dumps(response).encode(), "application/json")

    def _reply(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(state_dir: Path, port: int, cluster: Cluster) -> ThreadingHTTPServer:
    Handler.cluster = cluster
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pki_dir = state_dir / "pki"
    ctx.load_cert_chain(str(pki_dir / "simulator-serving.crt"), str(pki_dir / "simulator-serving.key"))
    # Webhook calls come without a client certificate; the aggregator presents its front-proxy one.
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(str(pki_dir / "front-proxy-ca.crt"))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="https", daemon=True).start()
    return server


def run_controller(name: str, reconcile, period: float, stop: threading.Event) -> None:
    """Resync ticker of one controller (the stop event doubles as its clock; not a wait-for)."""
    while not stop.is_set():
        try:
            reconcile()
        except Exception as exc:  # noqa: BLE001 - a controller logs and retries on the next tick
            log.warning("%s reconcile failed: %s: %s", name, type(exc).__name__, exc)
        stop.wait(period)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="harvester-conformance-simulator")
    ap.add_argument("--state-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    state = json.loads((args.state_dir / "state.json").read_text())
    cluster = Cluster.from_kubeconfig(str(args.state_dir / "kubeconfigs" / "simulator.kubeconfig"))
    server = serve(args.state_dir, state["ports"]["simulator"], cluster)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controllers = [(n, factory(cluster, args.state_dir), p) for a in AREAS for n, factory, p in a.CONTROLLERS]
    threads = [
        threading.Thread(target=run_controller, args=(n, f, p, stop), name=n, daemon=True) for n, f, p in controllers
    ]
    for t in threads:
        t.start()
    log.info("simulator running: %s", ", ".join(n for n, _, _ in controllers))
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
